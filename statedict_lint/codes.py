"""The one registry of every code statedict-lint reports (import-free data).

SDL0xx–SDL2xx, SDL800 and SDL9xx are lint rules (one module per rule in ``rules/``, which stays the source of
its message template, docs and examples; its code, name and default come from here), SDL3xx are ``check``
findings (``compare.py``, ``causes.py``, ``explain.py``), SDL8xx (but SDL800) are ``diff`` / ``lock --check``
findings (``structdiff.py``), SDL998/SDL999 are the lint engine's own. From this table come the SARIF rule
descriptors of lint, check and diff, docs/rules.md and the code tables of docs/checkpoints.md and
docs/review.md (``python -m statedict_lint.rules.gendocs``; a test fails when they are stale).

To add a code: one ``Code(...)`` line below (with ``kind`` for a check or review finding: the kind the
producing module passes), then regenerate the docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple, TypedDict


@dataclass(frozen=True)
class Code:
    code: str  # "SDL001"
    name: str  # kebab-case; a lint rule's is its class name (CamelCase -> kebab-case)
    summary: str  # one line: SARIF shortDescription, the docs tables
    severity: str  # the default level: "error" | "warning" | "note"
    help: str = ""  # longer text (SARIF fullDescription); a lint rule's is its module's "What it does"
    breaking: bool = False  # SDL8xx: old checkpoints fail load_state_dict(strict=True) (when both sides are sure)
    kind: str = ""  # the kind the producing module uses (compare.py / structdiff.Change.kind)
    default_enabled: bool = True  # False: off unless selected (SDL9xx)

    @property
    def family(self) -> str:
        return family(self.code)


SYNTAX_ERROR = "SDL998"
INTERNAL_ERROR = "SDL999"
LOCK_DRIFT = "SDL800"  # a lint rule whose findings lockfile.py also builds

_LINT: Tuple[Code, ...] = (
    Code("SDL001", "load-state-dict-result-ignored",
         "load_state_dict(..., strict=False) result thrown away: missing and unexpected keys are ignored", "error"),
    Code("SDL002", "torch-load-without-map-location",
         "torch.load() of a checkpoint without map_location", "error"),
    Code("SDL003", "torch-load-without-weights-only",
         "torch.load() without weights_only=True can execute code from the file", "error"),
    Code("SDL004", "torch-save-whole-module",
         "torch.save() of a whole nn.Module pickles its class by import path", "error"),
    Code("SDL005", "checkpoint-without-optimizer-state",
         "a training checkpoint saves the model but not the optimizer in scope", "error"),
    Code("SDL006", "resume-without-optimizer-state",
         "a resume restores the model but not the optimizer in scope", "error"),
    Code("SDL007", "load-assign-after-optimizer",
         "load_state_dict(..., assign=True) after an optimizer was built from the parameters", "error"),
    Code("SDL008", "save-wrapped-module-state-dict",
         "state_dict() of a possibly wrapped model saved: every key carries the wrapper's prefix", "error"),
    Code("SDL009", "substring-filtered-partial-load",
         "state_dict keys selected by a substring and loaded with strict=False", "error"),
    Code("SDL010", "resume-skips-saved-state",
         "a resume skips optimizer/scheduler/scaler state the same file saves", "error"),
    Code("SDL011", "checkpoint-dict-loaded-as-state-dict",
         "a checkpoint dict loaded as if it were a state_dict", "error"),
    Code("SDL012", "wrapped-model-unprefixed-key",
         "a key looked up without the prefix of the wrapper around the model", "error"),
    Code("SDL101", "module-in-plain-container",
         "submodules or parameters held in a plain list/dict/tuple are not registered", "error"),
    Code("SDL102", "tensor-attribute-not-registered",
         "a plain tensor attribute is neither a parameter nor a buffer", "error"),
    Code("SDL201", "state-dict-key-not-in-model",
         "a literal key that is not in the model's predicted state_dict", "error"),
    Code(LOCK_DRIFT, "lock-drift",
         "the predicted state_dict differs from statedict.lock", "error"),
    Code("SDL901", "load-state-dict-strict-false",
         "load_state_dict(..., strict=False)", "warning", default_enabled=False),
    Code("SDL902", "state-dict-key-substring-filter",
         "state_dict keys matched by a substring that also matches other keys", "warning", default_enabled=False),
)

_CHECK: Tuple[Code, ...] = (
    Code("SDL301", "missing-key", "a key of the model is not in the checkpoint (strict load fails)", "error",
         "a key of the model that the file lacks", kind="missing"),
    Code("SDL302", "unexpected-key", "a key of the checkpoint is not in the model (strict load fails)", "error",
         "a key of the file that the model lacks", kind="unexpected"),
    Code("SDL303", "size-mismatch", "a tensor's shape in the checkpoint differs from the model's", "error",
         "both shapes, the constructor call that makes the layer, and the argument or config value behind the "
         "differing dimension", kind="size"),
    Code("SDL304", "wrapper-prefix", "checkpoint keys carry a wrapper prefix (DataParallel, torch.compile, ...)",
         "error", "keys saved through a wrapper (`module.`, `_orig_mod.`, `model.`, `_forward_module.`, "
         "`_fsdp_wrapped_module.`, nested or inside keys), with the one-line fix", kind="prefix"),
    Code("SDL305", "probable-rename", "missing and unexpected keys that look like a rename", "warning",
         "missing and unexpected keys paired by shape, structure and name similarity, with a confidence and the "
         "reason; a whole renamed submodule as one prefix mapping (`{i}` when every block moved alike) with the "
         "fix; `--map-out` writes them for `migrate`", kind="rename"),
    Code("SDL306", "non-persistent-buffer-in-file", "the file holds a buffer the model registers persistent=False",
         "error", "a buffer the model registers `persistent=False` is in the file: strict load fails; drop it",
         kind="nonpersistent"),
    Code("SDL307", "missing-num-batches-tracked", "BatchNorm num_batches_tracked missing (old checkpoint)", "error",
         "BatchNorm's counters are missing (old checkpoint or filtered): safe to add; one finding with one fix for "
         "all of them", kind="nbt"),
    Code("SDL308", "tied-alias-not-in-file", "a tied weight stored once by safetensors", "error",
         "one name of a tied weight is missing; the file holds the tensor under the other", kind="tied"),
    Code("SDL309", "dtype-cast", "load_state_dict casts the file's dtype to the model's silently", "note",
         "the file's dtype differs from the model's: `load_state_dict` casts silently (a note; the load succeeds)",
         kind="dtype"),
    Code("SDL310", "inferred-binding", "constructor/config values read off the checkpoint's shapes", "note",
         "values read off the checkpoint's shapes (a note); or, as an error, the constructor value the file was "
         "saved with, verified, with every missing / unexpected / mismatched key it explains", kind="inferred"),
    Code("SDL311", "shape-contradiction", "checkpoint shapes that no single value of a size can explain", "error",
         "shapes that no single value of a size explains", kind="contradiction"),
    Code("SDL312", "unsure", "a conclusion the prediction cannot support", "note",
         "a conclusion the prediction cannot support (in SARIF / GitHub output; `unsure:` lines in text)",
         kind="unsure"),
    Code("SDL313", "not-a-tensor", "the checkpoint holds a non-tensor where the model has a tensor", "error",
         "the state_dict holds a non-tensor where the model has a tensor", kind="notensor"),
    Code("SDL314", "newly-initialized", "from_pretrained leaves weights of the model newly initialized", "error",
         "a transformers class: model keys no checkpoint key reaches through from_pretrained's renamings, "
         "conversions, base-model prefix and ties (\"Some weights of X were not initialized\")", kind="fp-missing"),
    Code("SDL315", "unused-weights", "from_pretrained does not use weights of the checkpoint", "error",
         "a transformers class: checkpoint keys from_pretrained does not use (its `unexpected_keys`) after its "
         "renamings, conversions and ignore lists", kind="fp-unexpected"),
    Code("SDL316", "conversion-error", "a transformers WeightConverter fails on the checkpoint's tensors", "error",
         "a transformers class: the tensors a WeightConverter merges or splits while loading do not fit "
         "together (e.g. an expert's weight missing); from_pretrained raises", kind="fp-conversion"),
)

_REVIEW: Tuple[Code, ...] = (
    Code("SDL801", "key-renamed", "keys moved (an attribute rename is one prefix rename), with confidence and reason",
         "error", "State_dict keys moved under another name; old checkpoints report missing and unexpected keys.",
         breaking=True, kind="renamed"),
    Code("SDL802", "sequential-renumbered",
         "`net.2.* -> net.3.*`: a layer without state was inserted/removed in an `nn.Sequential`/`ModuleList`",
         "error", "An nn.Sequential/ModuleList index moved because a layer without state was inserted or removed; "
         "every key after it changed its number.", breaking=True, kind="renumbered"),
    Code("SDL803", "key-removed", "keys gone (grouped under the shortest prefix that went entirely)", "error",
         "Keys no longer in the state_dict; old checkpoints fail strict loading with unexpected keys.",
         breaking=True, kind="removed"),
    Code("SDL804", "key-added", "new keys (old checkpoints miss them)", "error",
         "New keys; old checkpoints fail strict loading with missing keys.", breaking=True, kind="added"),
    Code("SDL805", "key-reshaped",
         "old -> new shape, and the constructor expression on both sides "
         "(`nn.Linear(n, 4 * n) -> nn.Linear(n, 2 * n)`)",
         "error", "A tensor changed shape; loading an old checkpoint raises a size-mismatch error.",
         breaking=True, kind="reshaped"),
    Code("SDL806", "buffer-made-non-persistent", "`persistent=False`: old checkpoints carry an unexpected key", "error",
         "A buffer registered with persistent=False is no longer saved; old checkpoints carry it as an unexpected "
         "key.", breaking=True, kind="made-non-persistent"),
    Code("SDL807", "buffer-made-persistent", "old checkpoints miss the buffer", "error",
         "A buffer is now saved; old checkpoints lack it (missing key).", breaking=True, kind="made-persistent"),
    Code("SDL808", "repetition-changed", "`h.{i}`: `i < n_layer` -> `i < n_layer + 1`", "error",
         "A repetition count (number of blocks/layers) changed.", breaking=True, kind="repeat"),
    Code("SDL809", "dtype-changed", "torch casts on load; said anyway", "warning",
         "A tensor's dtype changed; load_state_dict casts silently.", kind="dtype"),
    Code("SDL810", "class-removed", "an `nn.Module` class disappeared", "error",
         "An nn.Module class disappeared.", breaking=True, kind="class-removed"),
    Code("SDL811", "cannot-compare", "one side could not be predicted (the reason is given)", "warning",
         "The two versions could not both be predicted.", kind="unknown"),
    Code("SDL812", "class-added", "a new class", "note", "A new nn.Module class.", kind="class-added"),
    Code("SDL813", "class-moved", "a class moved to another file (keys are relative to the class)", "note",
         "A class moved to another file; its keys are unchanged.", kind="moved"),
    Code("SDL814", "default-changed",
         "a constructor default changed while key shapes depend on it: checkpoints of instances built with the "
         "default break (callers passing the argument do not); when the affected shapes cannot be computed "
         "(`int(dim * mlp_ratio)` with a float ratio) the keys are named as *may* depend, not claimed breaking",
         "error",
         "A constructor parameter's default changed and shapes, repetitions or conditional keys depend on it; "
         "checkpoints of instances built with the default no longer load.", breaking=True, kind="default-changed"),
)

_ENGINE: Tuple[Code, ...] = (
    Code(SYNTAX_ERROR, "syntax-error", "the file cannot be parsed (or read) as Python; it was not checked", "error",
         "A syntax error, an undecodable or oversized file, or a path that is not a regular file: one finding, "
         "the file is not checked. Reported even when not selected, unless ignored explicitly."),
    Code(INTERNAL_ERROR, "internal-error", "statedict-lint failed on this file; it was not fully checked", "warning",
         "An internal error of statedict-lint: one finding instead of a traceback; please report it. Reported "
         "even when not selected, unless ignored explicitly."),
)

CODES: Dict[str, Code] = {c.code: c for c in (*_LINT, *_CHECK, *_REVIEW, *_ENGINE)}
LINT: Dict[str, Code] = {c.code: c for c in _LINT}  # the lint rules' codes (one rules/sdlNNN_*.py each)
CHECK: Dict[str, Code] = {c.kind: c for c in _CHECK}  # compare.py's kind -> code
REVIEW: Dict[str, Code] = {c.kind: c for c in _REVIEW}  # structdiff.Change.kind -> code
BREAKING_KINDS = frozenset(c.kind for c in _REVIEW if c.breaking)


def family(code: str) -> str:
    return code[:4]


def get(code: str) -> Code:
    return CODES[code]


def check_code(kind: str) -> Code:
    return CHECK[kind]


def review_code(kind: str) -> Code:
    """The code of a ``structdiff.Change`` kind (an unknown kind is "cannot compare", never a guess)."""
    return REVIEW.get(kind, REVIEW["unknown"])


class _Described(TypedDict):
    id: str
    name: str
    short: str


class RuleDescriptor(_Described, total=False):
    """What SARIF says about a code (``report.render``'s ``rules``): id, name and summary, and when the registry
    knows the code, its help and whether it is on by default."""
    help: str
    default_enabled: bool


def descriptors(codes: Iterable[Code], helps: Optional[Dict[str, str]] = None) -> List[RuleDescriptor]:
    """SARIF rule descriptors (id, name, short, help, default_enabled) of ``codes``, sorted by code; ``helps``
    overrides the help of some codes (a lint rule's is its docs' "What it does")."""
    helps = helps or {}
    return [{"id": c.code, "name": c.name, "short": c.summary, "help": helps.get(c.code, c.help),
             "default_enabled": c.default_enabled} for c in sorted(codes, key=lambda c: c.code)]


def kebab(class_name: str) -> str:
    """A rule's name from its class name: ``LoadStateDictResultIgnored`` -> ``load-state-dict-result-ignored``."""
    out = []
    for i, ch in enumerate(class_name):
        if ch.isupper() and i and (not class_name[i - 1].isupper()
                                   or (i + 1 < len(class_name) and class_name[i + 1].islower())):
            out.append("-")
        out.append(ch.lower())
    return "".join(out)


def table(codes: Iterable[Code], breaking_column: bool = False) -> str:
    """The markdown table of ``codes`` (a generated block of docs/*.md): the help of a check finding (CHECK), the
    summary of a review finding (REVIEW, with whether it breaks old checkpoints)."""
    rows = sorted(codes, key=lambda c: c.code)
    if breaking_column:
        return "\n".join(["| code | name | breaking | what |", "|---|---|---|---|"]
                         + [f"| {c.code} | {c.name} | {'yes' if c.breaking else 'no'} | {c.summary} |" for c in rows])
    return "\n".join(["| code | name | what it says |", "|---|---|---|"]
                     + [f"| {c.code} | {c.name} | {c.help or c.summary} |" for c in rows])
