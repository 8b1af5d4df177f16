"""Hugging Face folders for ``keys`` and ``check``: the target resolved from config.json, config.json bound as
from_pretrained binds it, and from_pretrained's own verdict beside torch's strict one.

* ``keys DIR`` / ``check DIR``: DIR holds config.json (and, for check, the weights); its ``architectures`` /
  ``model_type`` name the class in the transformers source of this environment (never imported);
* ``check FILE.py:CLASS DIR``: DIR/config.json builds the config when no binding names it;
* ``--config config=cfg.json`` on a transformers class: ``XConfig(**cfg)`` (defaults, aliases, sub-configs),
  ``--set config.x=v`` entries override keys of that object.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, TextIO

from statedict_lint.predict import bindings as _bindings
from statedict_lint.errors import UserError
from statedict_lint.findings import display_path

if TYPE_CHECKING:  # (imported when a transformers class is checked)
    from statedict_lint.checkpoint.container import Found
    from statedict_lint.checkpoint.records import Checkpoint
    from statedict_lint.hf.loading import LoadReport
    from statedict_lint.predict.template import Prediction


@dataclass
class Target:
    path: str
    cls: str
    bindings: Dict[str, Any]
    notes: List[str] = field(default_factory=list)  # what was resolved and how, for the report
    hf: bool = False  # a transformers PreTrainedModel (from_pretrained semantics apply)
    # the folder whose own code (auto_map) is the target: imports must not follow a link out of it
    confine: Optional[str] = None

    def confinement(self) -> Any:
        """The context to predict in: imports confined to the folder of custom code, else nothing."""
        return _confinement(self.confine)


def _confinement(folder: Optional[str]) -> Any:
    import contextlib

    if folder is None:
        return contextlib.nullcontext()
    from statedict_lint.source.locate import confined_to

    return confined_to(folder)


def short_path(path: str) -> str:
    """An installed package's file as ``transformers/models/bert/modeling_bert.py``; others as display_path."""
    shown = display_path(path)
    if not os.path.isabs(shown):
        return shown
    for entry in sys.path:
        base = os.path.abspath(entry or ".")
        if entry and path.startswith(base + os.sep):
            return os.path.relpath(path, base).replace(os.sep, "/")
    return shown


def _is_transformers_class(path: str, cls: str) -> bool:
    from statedict_lint.hf.bind import _read_regular, mentions, quick_config_class

    if quick_config_class(path, cls) is not None:
        return True
    text = _read_regular(path)  # cheap filter: a file that never mentions transformers defines no transformers model
    if text is None or not mentions(text, "transformers", "PreTrainedModel"):
        return False
    from statedict_lint.hf.facts import is_pretrained
    from statedict_lint.predict.api import _load
    from statedict_lint.predict.values import ClassValue

    try:
        _ev, scope = _load(path)
    except UserError:
        return False
    found, c = scope.lookup(cls)
    return found and isinstance(c, ClassValue) and is_pretrained(c)


def resolve(target: str, sets: List[str], configs: List[str], folder: Optional[str]) -> Target:
    """The class to predict and its bindings. ``target`` is FILE.py:CLASS or a Hugging Face folder;
    ``folder`` is the checkpoint folder of ``check`` (its config.json binds the config when nothing else does)."""
    from statedict_lint.hf import source

    notes: List[str] = []
    config: Optional[Dict[str, Any]] = None
    where = ""
    confine: Optional[str] = None
    if os.path.isdir(target):
        config = source.read_config(target)
        where = os.path.join(target, "config.json")
        custom = source.resolve_auto_map(target, config, where)
        if custom is not None:
            path, cls, confine = custom.path, custom.cls, target
            notes.append(f"{display_path(where)}: {cls} ({custom.how}), {display_path(path)}")
        else:
            src = source.require_transformers()
            r = source.resolve(src, config, where)
            path, cls = r.path, r.cls
            notes.append(f"{display_path(where)}: {cls} ({r.how}) from transformers {src.version}, "
                         f"{short_path(path)}" + ("" if src.modelled else
                                                    f" (not a modelled version: {', '.join(source.MODELLED_VERSIONS)})"))
    else:
        path, cls = _bindings.split_target(target)
    with _confinement(confine):  # the folder's own code: its imports stay inside it
        return _bind(path, cls, sets, configs, folder, config, where, notes, confine)


def _bind(path: str, cls: str, sets: List[str], configs: List[str], folder: Optional[str],
          config: Optional[Dict[str, Any]], where: str, notes: List[str], confine: Optional[str]) -> Target:
    from statedict_lint.hf import source
    from statedict_lint.hf.bind import config_bindings, config_class, quick_config_class

    b = _bindings.collect(sets, [])
    if not _is_transformers_class(path, cls):
        b = _bindings.collect(sets, configs)
        return Target(path, cls, b, notes, False, confine)
    quick = quick_config_class(path, cls)
    param = quick[1] if quick is not None else config_class(path, cls)[2]
    cfg_files = [c for c in configs if c.partition("=")[0].strip() == param]
    other = [c for c in configs if c not in cfg_files]
    if other:
        b = _bindings.collect(sets, other)
    if cfg_files:
        item = cfg_files[-1]
        where = item.partition("=")[2]
        config = _read_json(where)
    elif config is None and folder is not None and source.is_hub_folder(folder) and \
            not any(k == param or k.startswith(param + ".") for k in b):
        where = os.path.join(folder, "config.json")
        config = source.read_config(folder)
    if config is not None:
        over = {k.partition(".")[2]: v for k, v in b.items() if k.startswith(param + ".")}
        b = {k: v for k, v in b.items() if not k.startswith(param + ".")}
        if param in b:
            notes.append(f"{display_path(where)} not used: {param} is bound with --set")
        else:
            merged = dict(config)
            merged.update(over)
            cb, how = config_bindings(path, cls, merged, where)
            b.update(cb)
            notes.append(how + (f" with {', '.join(sorted(over))} from --set" if over else ""))
    return Target(path, cls, b, notes, True, confine)


def _read_json(path: str) -> Dict[str, Any]:
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise UserError(f"--config: no such file: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UserError(f"--config: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"--config: {path} must hold a JSON object")
    return data


def print_notes(t: Target, stream: Optional[TextIO] = None) -> None:
    for n in t.notes:
        (stream or sys.stderr).write(f"note: {n}\n")


# -- from_pretrained's verdict -----------------------------------------------------------------------------

def from_pretrained_report(t: Target, pred: Prediction, ck: Checkpoint, found: Found) -> Optional[LoadReport]:
    """LoadReport of from_pretrained(checkpoint) into the predicted model (None when not a transformers class)."""
    from statedict_lint.checkpoint.records import TensorRecord
    from statedict_lint.hf import source
    from statedict_lint.hf.conversion import read_mapping
    from statedict_lint.hf.facts import load_facts
    from statedict_lint.hf.loading import from_pretrained

    facts = load_facts(t.path, t.cls, pred.modules)
    if facts is None:
        return None
    src = source.find_transformers()
    mapping = read_mapping(src.root) if src is not None else None
    if mapping is None:
        from statedict_lint.hf.conversion import Mapping

        mapping = Mapping({}, "transformers is not installed: its conversion mapping cannot be read")
    model: Dict[str, Any] = {}
    ties: Dict[str, str] = {}
    for k in pred.keys:
        shape = tuple(k.shape) if k.shape is not None and all(isinstance(d, int) for d in k.shape) else None
        model[k.key] = shape
        if k.tied_to:
            ties[k.key] = k.tied_to
    buffers = [k.key for k in pred.keys if k.kind == "buffer"] + [k.key for k in pred.non_persistent]
    sd = {k: (tuple(v.shape) if isinstance(v, TensorRecord) else None) for k, v in found.state_dict.items()}
    rep = from_pretrained(model, buffers, ties, sd, facts, mapping)
    if not pred.complete:
        rep.unsure.append("the prediction is incomplete (see the strict report): the sets above may be inexact and "
                          "from_pretrained's verdict cannot be decided")
        rep.undecided = True
    if src is not None and not src.modelled:
        rep.unsure.append(f"transformers {src.version} is not a modelled version "
                          f"({', '.join(source.MODELLED_VERSIONS)}): its loading rules may differ")
    return rep


def _list(keys: List[str], n: int = 8) -> str:
    return ", ".join(keys[:n]) + (f" ... (+{len(keys) - n})" if len(keys) > n else "")


def format_text(rep: LoadReport, decides: bool, target: str, checkpoint: str) -> str:
    out = [verdict_headline(rep, target, checkpoint)
           + (" (this verdict decides the exit status)" if decides else " (for information: --semantics strict)")]
    if rep.missing:
        out.append(f"  newly initialized ({len(rep.missing)}): {_list(rep.missing)}")
    if rep.unexpected:
        out.append(f"  not used ({len(rep.unexpected)}): {_list(rep.unexpected)}")
    for k, a, b in rep.mismatched:
        out.append(f"  size mismatch for {k}: checkpoint {list(a)}, model {list(b)} (from_pretrained raises unless "
                   f"ignore_mismatched_sizes=True, which re-initializes it)")
    if rep.renamed:
        out.append(f"  renamed while loading ({len(rep.renamed)}, transformers' conversion mapping): "
                   + _list([f"{a} -> {b}" for a, b in rep.renamed], 4))
    if rep.converted:
        n = sum(len(a) for a, _b, _c in rep.converted)
        out.append(f"  converted while loading ({n} file keys by transformers' WeightConverters): "
                   + _list([f"{', '.join(f'{k} {list(v)}' for k, v in b.items())} <- {len(a)} key(s) "
                            f"({_list(a, 1)}) by {c}" for a, b, c in rep.converted], 2))
    for k, e in rep.conversion_errors:
        out.append(f"  conversion error for {k} (from_pretrained raises): {e}")
    if rep.shadowed:
        out.append(f"  not used, silently: an earlier file key fills the same model key ({len(rep.shadowed)}): "
                   + _list([f"{a} (-> {b})" for a, b in rep.shadowed], 4))
    if rep.prefix_added:
        out.append(f"  base-model prefix added ({len(rep.prefix_added)}): " + _list([f"{a} -> {b}" for a, b in rep.prefix_added], 3))
    if rep.prefix_stripped:
        out.append(f"  base-model prefix stripped ({len(rep.prefix_stripped)}): "
                   + _list([f"{a} -> {b}" for a, b in rep.prefix_stripped], 3))
    if rep.tied_filled:
        out.append(f"  tied weights absent from the file by design ({len(rep.tied_filled)}): "
                   + _list([f"{a} = {b}" for a, b in rep.tied_filled], 4))
    if rep.ignored_unexpected:
        out.append(f"  dropped by from_pretrained's ignore rules (the class's lists, stale position_ids and rotary inv_freq buffers) ({len(rep.ignored_unexpected)}): {_list(rep.ignored_unexpected)}")
    if rep.ignored_missing:
        out.append(f"  missing but ignored by the class's _keys_to_ignore_on_load_missing ({len(rep.ignored_missing)}): {_list(rep.ignored_missing)}")
    for u in rep.unsure:
        out.append(f"  unsure: {u}")
    return "\n".join(out) + "\n"


def verdict_findings(rep: Any, pred: Any) -> List[Any]:
    """from_pretrained's verdict as findings (for JSON, SARIF and GitHub output when it decides): newly
    initialized weights (SDL314, at the first one's source line), unused checkpoint weights (SDL315), size
    mismatches (SDL303, at the layer's line), conversion errors (SDL316) and unsure items (SDL312). Paths are
    relative to the working directory."""
    from statedict_lint.codes import check_code
    from statedict_lint.findings import Finding

    specs = {k.key: k for k in pred.keys}

    def make(kind: str, message: str, at: str = "", **extra: Any) -> Finding:
        c = check_code(kind)
        spec = specs.get(at)
        path, line = ("", 0) if spec is None else (spec.origin_path or spec.path or "", spec.origin_line or spec.line)
        if spec is not None and not path:
            path = pred.target.rpartition(":")[0]
        return Finding(code=c.code, message=message, path=display_path(path) if path else "", line=line or 0,
                       severity=c.severity, name=c.name, extra=extra)

    out: List[Any] = []
    if rep.missing:
        out.append(make("fp-missing", f"from_pretrained: {len(rep.missing)} weight(s) of the model newly initialized "
                        f"(not in the checkpoint): {_list(rep.missing)}", rep.missing[0], keys=list(rep.missing)))
    if rep.unexpected:
        out.append(make("fp-unexpected", f"from_pretrained: {len(rep.unexpected)} weight(s) of the checkpoint not "
                        f"used: {_list(rep.unexpected)}", keys=list(rep.unexpected)))
    for k, a, b in rep.mismatched:
        out.append(make("size", f"from_pretrained: size mismatch for {k}: checkpoint {list(a)}, model {list(b)} "
                        f"(from_pretrained raises unless ignore_mismatched_sizes=True, which re-initializes it)", k,
                        key=k))
    for k, e in rep.conversion_errors:
        out.append(make("fp-conversion", f"from_pretrained: converting the checkpoint's tensors into {k} fails: {e}",
                        k, key=k))
    for u in rep.unsure:
        out.append(make("unsure", f"from_pretrained: {u}"))
    return out


def verdict_headline(rep: Any, target: str, checkpoint: str) -> str:
    """The first line of format_text, without the exit-status remark."""
    head = {"loads": "OK", "fails": "NOT CLEAN", "unsure": "UNSURE"}[rep.verdict]
    path, _, cls = target.rpartition(":")
    return f"{head}: from_pretrained of {display_path(checkpoint)} into {cls} ({short_path(path)})"
