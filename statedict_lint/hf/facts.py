"""The class attributes ``from_pretrained`` reads, taken from the source by the evaluator: for the root class
and every nested ``PreTrainedModel`` (from the prediction's module tree) its ``base_model_prefix``,
``_keys_to_ignore_on_load_missing`` / ``_keys_to_ignore_on_load_unexpected`` and its config's ``model_type``.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

from statedict_lint.hf.loading import LoadFacts, SubModel

RUNTIME_PRETRAINED = "statedict_lint_transformers.runtime.PreTrainedModel"


def _class(ev: Any, qualname: str) -> Any:
    from statedict_lint.predict.values import ClassValue, NamespaceValue

    mod, _, name = qualname.rpartition(".")
    ns = ev.import_module(mod, 0, "")
    if not isinstance(ns, NamespaceValue):
        return None
    cls = ev.getattr(ns, name)
    return cls if isinstance(cls, ClassValue) else None


def is_pretrained(cls: Any) -> bool:
    return cls is not None and any(c.qualname == RUNTIME_PRETRAINED for c in cls.mro())


def _strings(v: Any) -> Optional[List[str]]:
    if v is None:
        return []
    if isinstance(v, (list, tuple, set, frozenset)) and all(isinstance(x, str) for x in v):
        return list(v)
    return None


def _model_type(ev: Any, cls: Any) -> Tuple[Optional[str], str]:
    from statedict_lint.hf.bind import config_class_value

    v = config_class_value(ev, cls)
    if v is None:
        return None, f"the configuration class of {cls.name} cannot be found"
    mt, _owner = v.find("model_type")
    if isinstance(mt, str):
        return mt, ""
    return None, f"the model_type of {v.name} cannot be read"


def _submodel(ev: Any, cls: Any, path: str, unknown: List[str]) -> SubModel:
    sm = SubModel(path, cls.name, None, custom=not cls.qualname.startswith("transformers."))
    mt, why = _model_type(ev, cls)
    sm.model_type = mt
    if why:
        unknown.append(why)
    prefix, _ = cls.find("base_model_prefix")
    if isinstance(prefix, str):
        sm.base_model_prefix = prefix
    else:
        unknown.append(f"base_model_prefix of {cls.name} cannot be read")
    for attr, dest in (("_keys_to_ignore_on_load_missing", sm.ignore_missing),
                       ("_keys_to_ignore_on_load_unexpected", sm.ignore_unexpected)):
        v, _ = cls.find(attr)
        pats = _strings(v)
        if pats is None:
            unknown.append(f"{attr} of {cls.name} cannot be read")
        else:
            dest.extend(pats)
    return sm


def load_facts(path: str, cls_name: str, modules: dict) -> Optional[LoadFacts]:
    """LoadFacts for ``cls_name`` in ``path``, or None when it is not a transformers PreTrainedModel."""
    from statedict_lint.predict.api import _load
    from statedict_lint.predict.values import ClassValue

    ev, scope = _load(path)
    found, cls = scope.lookup(cls_name)
    if not found or not isinstance(cls, ClassValue) or not is_pretrained(cls):
        return None
    unknown: List[str] = []
    root = _submodel(ev, cls, "", unknown)
    subs: List[SubModel] = []
    for mpath, qual in modules.items():
        if not mpath:
            continue
        sub = _class(ev, qual)
        if is_pretrained(sub):
            subs.append(_submodel(ev, sub, mpath, unknown))
    return LoadFacts(root, subs, unknown)
