"""``statedict.lock``: the committed contract of every nn.Module class's state_dict.

The file is JSON laid out for line diffs: classes sorted by ``path:Class``, and inside each class one
state_dict key per line, sorted, with its shape (symbolic dimensions as text), dtype, kind, repetition and
condition::

    {
    "format": "statedict-lock/2",
    "classes": {
    "pkg/model.py:Block": {
      "complete": true,
      "keys": {
        "attn.c_attn.bias": {"shape": ["3*n_embd"], "dtype": "float32", "kind": "parameter"},
        ...
      },
      "non_persistent": {...},
      "unresolved": ["layer type comes from parameter `norm_layer`"]
    }
    }
    }

The lock is a function of the state_dict contract only (``contract``): no source lines, no source text of
the layer calls, whitespace in conditions collapsed. Inserting a comment, reformatting, renaming locals or
reordering methods leaves it byte-for-byte the same; only a change to what ``load_state_dict`` sees (keys,
shapes, dtypes, persistence, repetition, conditions, completeness) changes it. Format 1 locks (with source
lines) are refused with a message to rewrite them. Paths are relative to the lock file's folder.
``drift_findings`` compares a file's classes with the lock and reports each change at the line of the
attribute that was renamed, resized, removed or made non-persistent.
"""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union  # noqa: F401

from statedict_lint.codes import LOCK_DRIFT, get
from statedict_lint.errors import UserError
from statedict_lint.findings import Finding
from statedict_lint.safeio import atomic_write_text, check_target
from statedict_lint.review.snapshot import ClassRec, KeyRec

if TYPE_CHECKING:  # (structdiff is imported when a locked class is compared)
    from statedict_lint.review.structdiff import Change

FORMAT = "statedict-lock/2"
OLD_FORMATS = {"statedict-lock/1"}
_LINE_REF = re.compile(r"\s*\((?:line \d+|[^()\s]+:\d+)\)|\s*\bat [^\s:]+:\d+\b|\bline \d+\b|\b[\w./-]+\.py:\d+\b")


def contract_text(text: Optional[str]) -> Optional[str]:
    """A condition / unresolved reason without source locations or formatting: ``config.bias (line 35)`` ->
    ``config.bias``; runs of whitespace collapsed, none inside brackets."""
    if text is None:
        return None
    t = _LINE_REF.sub("", text)
    t = re.sub(r"\s+", " ", t).strip()
    return re.sub(r"([(\[{]) | ([)\]}])", lambda m: m.group(1) or m.group(2), t)


def contract(rec: ClassRec) -> ClassRec:
    """The part of a class record the lock holds and compares: what a checkpoint load depends on."""
    def key(k: KeyRec) -> KeyRec:
        return KeyRec(k.key, list(k.shape) if k.shape is not None else None, k.dtype, k.kind,
                      condition=contract_text(k.condition), repeat=dict(sorted(k.repeat.items())),
                      persistent=k.persistent, tied_to=k.tied_to)

    out = ClassRec(rec.path, rec.name, 0, [key(k) for k in rec.keys], [key(k) for k in rec.non_persistent])
    msgs = sorted({contract_text(str(u.get("message", ""))) or "" for u in rec.unresolved})
    out.unresolved = [{"path": "", "line": 0, "message": m} for m in msgs]
    out.error = contract_text(rec.error)
    return out


@dataclass
class Lock:
    classes: Dict[str, ClassRec] = field(default_factory=dict)  # "path:Class" -> record
    path: str = ""  # where it was read from
    root_rel: str = "."  # the project root relative to the lock's folder ("root" in the file; "." if absent)

    @property
    def root(self) -> str:
        """The folder the lock's paths are relative to: its own folder, or ``"root"`` from there."""
        folder = os.path.dirname(os.path.abspath(self.path)) if self.path else os.getcwd()
        return os.path.normpath(os.path.join(folder, self.root_rel))

    def for_file(self, relpath: str) -> List[ClassRec]:
        return [c for c in self.classes.values() if c.path == relpath]


# ------------------------------------------------------------------------------------------ writing
def _entry(k: KeyRec) -> str:
    d: Dict[str, Any] = {"shape": k.shape, "dtype": k.dtype, "kind": k.kind}
    if k.repeat:
        d["repeat"] = dict(sorted(k.repeat.items()))
    if k.condition is not None:
        d["condition"] = k.condition
    if k.tied_to:
        d["tied_to"] = k.tied_to
    return json.dumps(d, ensure_ascii=False)


def dumps(classes: List[ClassRec], root_rel: str = ".") -> str:
    """The lock text; ``root_rel`` (the project root seen from the lock's folder, e.g. ``".."`` for
    ``contracts/model.lock``) is written only when the lock does not sit at the root."""
    lines = ["{", f'"format": "{FORMAT}",']
    if root_rel not in ("", "."):
        lines.append(f'"root": {json.dumps(root_rel.replace(os.sep, "/"))},')
    lines.append('"classes": {')
    recs = sorted((contract(c) for c in classes), key=lambda c: (c.path, c.name))
    for ci, c in enumerate(recs):
        lines.append(f"{json.dumps(c.id)}: {{")
        body: List[str] = [f'  "complete": {json.dumps(c.complete)}']
        if c.error:
            body.append(f'  "error": {json.dumps(c.error, ensure_ascii=False)}')
        for label, keys in (("keys", c.keys), ("non_persistent", c.non_persistent)):
            if not keys and label == "non_persistent":
                continue
            if not keys:
                body.append(f'  "{label}": {{}}')
                continue
            items = sorted(keys, key=lambda k: k.key)
            inner = ",\n".join(f"    {json.dumps(k.key, ensure_ascii=False)}: {_entry(k)}" for k in items)
            body.append(f'  "{label}": {{\n{inner}\n  }}')
        if c.unresolved:
            us = [str(u.get("message", "")) for u in c.unresolved]
            inner = ",\n".join(f"    {json.dumps(u, ensure_ascii=False)}" for u in us)
            body.append(f'  "unresolved": [\n{inner}\n  ]')
        lines.append(",\n".join(body))
        lines.append("}," if ci < len(recs) - 1 else "}")
    lines.append("}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write(path: str, classes: List[ClassRec], root: Optional[str] = None) -> bool:
    """Write the lock atomically (paths relative to ``root``, default: the lock's folder); False when the
    file already holds exactly this content."""
    folder = os.path.dirname(os.path.abspath(path))
    text = dumps(classes, os.path.relpath(os.path.abspath(root), folder) if root else ".")
    try:
        check_target(path)  # a planted link or FIFO is neither read nor written through
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == text:
                return False
    except OSError:
        pass
    try:
        atomic_write_text(path, text, durable=True)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return True


# ------------------------------------------------------------------------------------------ reading
def _split_at(at: object) -> Tuple[str, int]:  # (a lock file's "at": JSON, any shape)
    if isinstance(at, int):
        return "", at
    if isinstance(at, str) and ":" in at:
        p, _, n = at.rpartition(":")
        try:
            return p, int(n)
        except ValueError:
            return at, 0
    return "", 0


def _key_from(name: str, d: Dict[str, Any], persistent: bool) -> KeyRec:
    path, line = _split_at(d.get("at"))
    shape = d.get("shape")
    return KeyRec(name, list(shape) if isinstance(shape, list) else None, d.get("dtype"), d.get("kind", "parameter"),
                  line, path, "", d.get("origin", ""), 0, "", d.get("condition"), dict(d.get("repeat") or {}),
                  persistent, d.get("tied_to"))


def loads(text: str, path: str = "") -> Lock:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path or 'lock'}: not a statedict lock ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict) and data.get("format") in OLD_FORMATS:
        raise UserError(f"{path or 'lock'}: written in the older {data['format']} format (it held source lines, "
                        f"so moving code made it drift); run `statedict-lint lock` once to rewrite it as {FORMAT}")
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("classes"), dict):
        raise UserError(f"{path or 'lock'}: not a {FORMAT} file")
    root_rel = data.get("root", ".")
    if not isinstance(root_rel, str) or os.path.isabs(root_rel):
        raise UserError(f"{path or 'lock'}: \"root\" must be a relative folder")
    lock = Lock(path=path, root_rel=root_rel or ".")
    for cid, c in data["classes"].items():
        if not isinstance(c, dict) or ":" not in cid:
            raise UserError(f"{path}: malformed entry {cid!r}")
        p, _, name = cid.rpartition(":")
        rec = ClassRec(p, name, int(c.get("line", 0)))
        rec.error = c.get("error")
        rec.keys = [_key_from(k, v, True) for k, v in (c.get("keys") or {}).items()]
        rec.non_persistent = [_key_from(k, v, False) for k, v in (c.get("non_persistent") or {}).items()]
        for u in c.get("unresolved") or []:
            rec.unresolved.append({"path": "", "line": 0, "message": str(u)})
        lock.classes[cid] = rec
    return lock


def read(path: str) -> Lock:
    from statedict_lint.limits import MAX_LOCK_BYTES, read_regular_text

    if not os.path.lexists(path):
        raise UserError(f"no such lock file: {path}")
    return loads(read_regular_text(path, MAX_LOCK_BYTES, "lock file"), path)  # no FIFO, no /dev/zero, bounded


# ------------------------------------------------------------------------------------------ drift
def attribute_lines(source: str, class_name: str) -> Dict[str, int]:
    """attribute name -> first line in the class body that assigns or registers it."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    out: Dict[str, int] = {}
    for node in tree.body:
        if not (isinstance(node, ast.ClassDef) and node.name == class_name):
            continue
        for sub in ast.walk(node):
            name, line = None, 0
            if isinstance(sub, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                for t in targets:
                    for tt in (t.elts if isinstance(t, ast.Tuple) else [t]):
                        if isinstance(tt, ast.Attribute) and isinstance(tt.value, ast.Name) and tt.value.id == "self":
                            name, line = tt.attr, sub.lineno
                            if name not in out or line < out[name]:
                                out[name] = line
                continue
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.args:
                first = sub.args[0]
                if sub.func.attr in ("register_buffer", "register_parameter", "add_module", "register_module") \
                        and isinstance(first, ast.Constant) and isinstance(first.value, str):
                    name, line = first.value, sub.lineno
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "setattr" and \
                    len(sub.args) >= 2 and isinstance(sub.args[1], ast.Constant) and isinstance(sub.args[1].value, str):
                name, line = sub.args[1].value, sub.lineno
            if name and (name not in out or line < out[name]):
                out[name] = line
    return out


def _relpath_for(path: str, lock: Lock) -> str:
    return os.path.relpath(os.path.abspath(path), lock.root).replace(os.sep, "/")


def drift_findings(path: str, source: str, lock: Union[Lock, str, None]) -> List[Finding]:
    """Findings (code SDL800 ``lock-drift``) for every class of ``path`` whose state_dict no longer
    matches the lock, each at the line of the attribute that changed. Silent without a lock or when the
    file has no locked class."""
    from statedict_lint.review.snapshot import predict_file
    from statedict_lint.review.structdiff import compare_class

    if lock is None:
        return []
    if isinstance(lock, str):
        if not os.path.isfile(lock):
            return []
        lock = read(lock)
    rel = _relpath_for(path, lock)
    locked = lock.for_file(rel)
    if not locked:
        return []
    current = {c.name: contract(c) for c in predict_file(lock.root, rel) if c.name}
    attr_lines = {c.name: attribute_lines(source, c.name) for c in locked}
    findings: List[Finding] = []
    drift = get(LOCK_DRIFT)
    explained = _Explainer(lock, rel, current, source)
    for old in locked:
        new = current.get(old.name)
        if new is None:
            findings.append(Finding(drift.code, f"`{old.name}` is in {os.path.basename(lock.path) or 'the lock'} "
                                              f"but no longer an nn.Module class of this file "
                                              f"(old checkpoints of it cannot load)",
                                    path, old.line if old.line else 1, 0, drift.severity, drift.name))
            continue
        if new.error or old.error:
            continue  # nothing reliable to compare
        for ch in compare_class(old, new):
            if not ch.breaking and ch.kind != "dtype":
                continue
            if explained(old, ch):
                continue  # reported where it happens: at the contained class
            attr = (ch.new_key or ch.old_key or "").split(".")[0]
            line = attr_lines[old.name].get(attr) or attr_lines[old.name].get((ch.old_key or "").split(".")[0]) \
                or new.line or 1
            findings.append(Finding(drift.code, f"{ch.summary()} (differs from {os.path.basename(lock.path) or 'lock'}; "
                                              f"run `statedict-lint lock` if intended)",
                                    path, line, 0, "error" if ch.breaking else "warning", drift.name,
                                    extra={"class": old.name, "change": ch.to_json()}))
    return findings


class _Explainer:
    """Is a container's change just a contained (locked) class's change seen through an attribute path?"""

    def __init__(self, lock: Lock, rel: str, current: Dict[str, ClassRec], source: str) -> None:
        self.source = source
        self.lock = lock
        self.rel = rel
        self.current_by_file: Dict[str, Dict[str, ClassRec]] = {rel: current}
        self.changes: Dict[str, List[Change]] = {}

    def _current(self, path: str) -> Dict[str, ClassRec]:
        from statedict_lint.review.snapshot import predict_file

        if path not in self.current_by_file:
            if not os.path.isfile(os.path.join(self.lock.root, path)):
                self.current_by_file[path] = {}
            else:
                self.current_by_file[path] = {c.name: contract(c) for c in predict_file(self.lock.root, path)
                                              if c.name}
        return self.current_by_file[path]

    def _changes_of(self, cid: str) -> List[Change]:
        from statedict_lint.review.structdiff import compare_class

        if cid not in self.changes:
            rec = self.lock.classes[cid]
            cur = self._current(rec.path).get(rec.name)
            self.changes[cid] = compare_class(rec, cur) if cur is not None and not cur.error else []
        return self.changes[cid]

    def __call__(self, outer: ClassRec, ch: Change) -> bool:
        from statedict_lint.review.structdiff import explain

        key = ch.old_key or ch.new_key or ""
        if "." not in key.rstrip("."):
            return False
        for cid, rec in self.lock.classes.items():
            if cid == outer.id or rec.error:
                continue
            # only classes this file can contain: its own, and those it names (imports, calls)
            if rec.path != self.rel and not re.search(rf"\b{re.escape(rec.name)}\b", self.source):
                continue
            if explain(ch, self._changes_of(cid)):
                return True
        return False
