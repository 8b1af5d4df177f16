"""Name the constructor argument or config value behind each size mismatch of ``check``.

``compare`` reports ``size mismatch for head.weight: checkpoint [1000, 8], model [10, 8]`` with the layer's
source line. What a user needs next is the *value* to change: ``num_classes`` is 10 here (its default), and the
checkpoint was saved with ``num_classes=1000``. The concrete prediction has lost that link (its shapes are
ints), so ``explain_sizes`` predicts the class once more with every integer it was given -- a ``--set`` value, a
value read off the checkpoint, or an integer default of ``__init__`` -- replaced by a symbol of the same name,
reads the mismatched dimensions as expressions (``num_classes``, ``4 * config.n_embd``), and

* checks that the expression, evaluated with the values used, gives the model's size (otherwise it says
  nothing: never a wrong claim);
* solves it for the checkpoint's size when it has a single free name and is linear in it
  (``4 * config.n_embd = 256`` -> ``config.n_embd=64``);
* adds one SDL310 note per name whose every mismatch points at the same checkpoint value, with the ``--set``
  that reproduces the checkpoint's shapes.

A literal dimension (``nn.Conv2d(3, width, 3)``'s 3) is named as a literal of the source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Tuple

from statedict_lint.codes import check_code

if TYPE_CHECKING:  # (check imports the predictor only when it has to)
    from statedict_lint.check.compare import Comparison
    from statedict_lint.predict.template import KeySpec, Prediction


def _int_params(path: str, cls_name: str) -> Tuple[Dict[str, int], Dict[str, int], str]:
    """(integer defaults of ``__init__``, their lines, the file of ``__init__``)."""
    defaults, lines, init_path = literal_params(path, cls_name)
    ints = {n: v for n, v in defaults.items() if isinstance(v, int) and not isinstance(v, bool)}
    return ints, {n: lines[n] for n in ints}, init_path


def literal_params(path: str, cls_name: str) -> Tuple[Dict[str, Any], Dict[str, int], str]:
    """(integer and boolean defaults of ``__init__``, their lines, the file of ``__init__``)."""
    import libcst as cst

    from statedict_lint.predict.api import _load
    from statedict_lint.predict.values import ClassValue, FunctionValue

    _ev, scope = _load(path)
    found, cls = scope.lookup(cls_name)
    if not found or not isinstance(cls, ClassValue):
        return {}, {}, path
    init, _owner = cls.find("__init__")
    if not isinstance(init, FunctionValue) or not isinstance(init.node, cst.FunctionDef):
        return {}, {}, path
    sf = init.sf
    p = init.node.params
    params = (list(p.posonly_params) + list(p.params))[1:] + list(p.kwonly_params)
    defaults: Dict[str, int] = {}
    lines: Dict[str, int] = {}
    for prm in params:
        name = prm.name.value
        v = init.defaults.get(name)
        if prm.default is not None and isinstance(v, int):
            defaults[name] = v
            lines[name] = sf.line(prm) or sf.line(init.node)
    return defaults, lines, getattr(sf, "path", path)


def _spec_for(pred: Prediction, key: str) -> Optional[KeySpec]:
    for spec in pred.keys:
        if spec.key == key:
            return spec
    from statedict_lint.predict.template import key_pattern

    for spec in pred.keys:
        if "{" in spec.key and key_pattern(spec.key).match(key):
            return spec
    return None


def explain_sizes(path: str, cls_name: str, user: Mapping[str, Any], assumed: Mapping[str, Any], res: Comparison,
                  file_keys: Iterable[str] = ()) -> None:
    """Extend ``res``'s SDL303 findings in place (see the module docstring). ``file_keys``: the keys of the
    checkpoint's state_dict (a value is said to be the checkpoint's only when no key that loads fine depends on
    it -- otherwise the file's shapes contradict each other, and that is what is said)."""
    from statedict_lint.findings import Finding
    from statedict_lint.predict.api import predict
    from statedict_lint.predict.symbolic import Sym
    from statedict_lint.predict.values import Opaque

    size, inferred = check_code("size"), check_code("inferred")
    sizes = [f for f in res.findings if f.code == size.code and "key" in f.extra]  # one per key (not grouped)
    if not sizes:
        return
    try:
        defaults, lines, init_path = _int_params(path, cls_name)
    except Exception:
        return
    values: Dict[str, int] = {}
    source: Dict[str, str] = {}
    for name, v in defaults.items():
        values[name], source[name] = v, f"the default of __init__, line {lines.get(name, 0)}"
    for name, v in {**assumed, **user}.items():
        if isinstance(v, int) and not isinstance(v, bool):
            values[name] = v
            source[name] = "--set" if name in user else "read off the checkpoint"
        else:
            values.pop(name, None)
    if not values:
        return
    bindings: Dict[str, Any] = {**assumed, **user}
    for name in values:
        bindings[name] = Opaque(name, "int", 0, path)
    try:
        sym_pred = predict(path, cls_name, bindings)
    except Exception:  # an optional explanation: a symbolic re-run that fails adds nothing, never a crash
        return
    # keys in the file that load fine (no mismatch) and whose shape depends on a name: they vouch for its value
    keys_in_file = set(file_keys)
    if res.prefix:
        keys_in_file |= {k[len(res.prefix):] for k in keys_in_file if k.startswith(res.prefix)}
    mismatched = {f.extra["key"] for f in sizes}
    vouching: Optional[Dict[str, List[str]]] = None
    try:
        from statedict_lint.predict.expand import expand

        rows = expand(sym_pred, values)
    except Exception:
        rows = None
    instances: Dict[str, List[str]] = {}  # spec key (h.{i}.fc.weight) -> its keys
    spec: Optional[KeySpec]
    if rows is not None:
        vouching = {}
        for key, _shape, _dtype, spec in rows:
            instances.setdefault(spec.key, []).append(key)
            if key in mismatched or key not in keys_in_file or not spec.shape:
                continue
            for d in spec.shape:
                if isinstance(d, Sym):
                    for n in d.variables():
                        lst = vouching.setdefault(n, [])
                        if not lst or lst[-1] != key:
                            lst.append(key)
    ck_of = {f.extra["key"]: f.extra.get("checkpoint") for f in sizes}

    def same_everywhere(spec: KeySpec, i: int, c: int) -> bool:
        """Every instance of the spec in the file has ``c`` at dim ``i``: the file is consistent, the expression
        of the model is what differs (one edited key among several would be the file contradicting itself)."""
        keys = instances.get(spec.key) or []
        return bool(keys) and all((ck := ck_of.get(k)) is not None and len(ck) > i and ck[i] == c
                                  for k in keys if k in keys_in_file)

    # name -> checkpoint value -> findings
    votes: Dict[str, Dict[Optional[int], List[Finding]]] = {}
    for f in sizes:
        key = f.extra["key"]
        ck, model = f.extra.get("checkpoint"), f.extra.get("model")
        spec = _spec_for(sym_pred, key)
        if spec is None or spec.shape is None or ck is None or model is None or len(spec.shape) != len(model) \
                or len(ck) != len(model):
            continue
        notes: List[str] = []
        for i, (expr, m, c) in enumerate(zip(spec.shape, model, ck)):
            if m == c:
                continue
            if isinstance(expr, int) and not isinstance(expr, bool):
                if expr == m:
                    notes.append(f"dim {i} is the literal {m} in the source")
                continue
            if not isinstance(expr, Sym):
                continue
            names = sorted(expr.variables())
            if not names or any(n not in values or n.startswith("{") for n in names):
                continue
            if expr.evaluate(values) != m:
                continue  # the symbolic reading does not reproduce the model: say nothing
            text = expr.render()
            used = ", ".join(f"{n}={values[n]} ({source[n]})" for n in names)
            if text == names[0]:
                note = f"`{text}` is {m} here ({source[names[0]]})"
            else:
                note = f"`{text}` = {m} here with {used}"
            solved: Optional[int] = None
            if len(names) == 1:
                lin = expr.linear_in(names[0])
                if lin is not None and isinstance(lin[1], int) and (c - lin[1]) % lin[0] == 0:
                    solved = (c - lin[1]) // lin[0]
                    if solved < 0:
                        solved = None
            others = None if vouching is None else vouching.get(names[0], [])
            if solved is not None and others == []:
                note += f"; the checkpoint's {c} means {names[0]}={solved}"
                votes.setdefault(names[0], {}).setdefault(solved, []).append(f)
            elif others and len(names) == 1 and same_everywhere(spec, i, c):
                v = values[names[0]]
                more = f" and {len(others) - 1} more key(s)" if len(others) > 1 else ""
                ratio = f" = {c // v}*{names[0]}" if v > 0 and c % v == 0 else ""
                note = (f"the file is consistent with {names[0]}={v} ({others[0]}{more} load fine with it) and has "
                        f"{c}{ratio} wherever the model's `{text}` gives {m}: the model computes this size "
                        f"differently from the code that saved the file")
                f.extra["blame"] = {"expression": text, "name": names[0], "value": v, "model": m, "checkpoint": c,
                                    "vouching": len(others)}
            elif solved is not None and others:
                more = f" and {len(others) - 1} more key(s)" if len(others) > 1 else ""
                note += (f"; the checkpoint's {c} would need {names[0]}={solved}, but its {others[0]}{more} "
                         f"load fine with {names[0]}={values[names[0]]}: the file's shapes contradict each other")
            elif solved is not None:
                note += f"; the checkpoint's {c} would need {names[0]}={solved}"
            else:
                note += f"; the checkpoint has {c}"
                for n in names:
                    votes.setdefault(n, {}).setdefault(None, []).append(f)
            if note not in notes:
                notes.append(note)
        if notes:
            f.message += " — " + "; ".join(notes)
            f.extra["explained_by"] = notes
    for name, by_value in votes.items():
        if len(by_value) != 1 or None in by_value:
            continue  # the mismatches disagree on the value: no single fix to state
        (value, fs), = by_value.items()
        n = len({id(f) for f in fs})
        where = "--set" if source[name] == "--set" else ("its value read off the checkpoint" if
                                                         source[name] == "read off the checkpoint" else "its default")
        line = lines.get(name, 0) if name in defaults and name not in bindings_given(user, assumed) else 0
        res.findings.insert(0, Finding(
            inferred.code,
            f"{n} size mismatch{'es' if n != 1 else ''} come{'s' if n == 1 else ''} from {name}={values[name]} "
            f"({where}); the checkpoint was saved with {name}={value}: check with --set {name}={value}, or "
            f"build the model with it",
            path=init_path if line else "", line=line, severity=inferred.severity, name=inferred.name,
            extra={"name": name, "model": values[name], "checkpoint": value, "mismatches": n}))


def bindings_given(user: Mapping[str, Any], assumed: Mapping[str, Any]) -> set:
    return set(user) | set(assumed)
