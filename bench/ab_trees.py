"""A/B timing of two checkouts of statedict-lint with this interpreter's packages, interleaved round by round:

    python bench/ab_trees.py TREE_A TREE_B [ROUNDS]      (e.g. a `git worktree add --detach /tmp/base <rev>`)

Per round and tree: 3 cold `keys fixtures/gpt.py:GPT --no-cache` (GPT-2 bindings) processes, every nn.Module class
of timm 1.0.31 `timm/models` predicted in one process (bench/corpus.py; each class's outcome is written to
/tmp/ab-outcomes-<tree>.json so the two trees' results can be compared class by class), and `lint timm/models
--no-cache`. Prints the medians per round and all samples. Used for the before/after of a refactoring (issue 9).
"""
import os, subprocess, sys, time, statistics, json
PY = sys.executable
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import corpus  # noqa: E402

TIMM = corpus("timm")
GPT_SET = ["--set", "config.n_layer=12", "--set", "config.n_head=12", "--set", "config.n_embd=768",
           "--set", "config.block_size=1024", "--set", "config.vocab_size=50257", "--set", "config.bias=True"]
ALL = r'''
import os, sys, time, json
from statedict_lint.errors import UserError
from statedict_lint.predict.api import module_classes, predict
root = sys.argv[1]; out = {}; t = time.perf_counter(); n = 0
for f in sorted(os.listdir(root)):
    if not f.endswith(".py"): continue
    p = os.path.join(root, f)
    try: classes = module_classes(p)
    except Exception: continue
    for c, _l in classes:
        try:
            pred = predict(p, c, {})
            out[f + ":" + c] = "complete" if pred.complete else ("incomplete" if pred.unresolved or any(k.condition for k in pred.keys) else "symbolic")
        except UserError as e: out[f + ":" + c] = "error: " + str(e)[:200]
        except Exception as e: out[f + ":" + c] = "crash: " + type(e).__name__
        n += 1
el = time.perf_counter() - t
json.dump(out, open(sys.argv[2], "w"), indent=0, sort_keys=True)
print(n, el)
'''
def env(tree):
    e = dict(os.environ); e["PYTHONPATH"] = tree; e.pop("PYTHONDONTWRITEBYTECODE", None)
    e["STATEDICT_LINT_CACHE_DIR"] = "/tmp/ab-cache-" + os.path.basename(tree)
    return e
def timed(cmd, tree, cwd):
    t = time.perf_counter(); subprocess.run(cmd, env=env(tree), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); return time.perf_counter() - t
trees = sys.argv[1:3]; rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
for tr in trees:
    subprocess.run([PY, "-m", "compileall", "-q", os.path.join(tr, "statedict_lint")], env=env(tr))
res = {t: {"keys": [], "timm": [], "lint": []} for t in trees}
for r in range(rounds):
    for tr in trees:
        for _ in range(3):
            res[tr]["keys"].append(timed([PY, "-m", "statedict_lint", "keys", "fixtures/gpt.py:GPT", "--no-cache"] + GPT_SET, tr, tr))
        out = subprocess.run([PY, "-c", ALL, TIMM, "/tmp/ab-outcomes-" + os.path.basename(tr) + ".json"], env=env(tr), cwd=tr, capture_output=True, text=True).stdout.split()
        res[tr]["timm"].append(float(out[1]) if len(out) == 2 else float("nan"))
        res[tr]["lint"].append(timed([PY, "-m", "statedict_lint", "lint", TIMM, "--no-cache"], tr, tr))
    print("round", r, {t: {k: round(statistics.median(v), 3) for k, v in d.items()} for t, d in res.items()}, flush=True)
print(json.dumps({t: {k: [round(x, 3) for x in v] for k, v in d.items()} for t, d in res.items()}))
print("load", os.getloadavg())
