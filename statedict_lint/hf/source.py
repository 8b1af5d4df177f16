"""The transformers source of the current environment, found without importing it, and a Hub folder's
``config.json`` resolved to the modeling file and class that ``from_pretrained`` would build.

transformers is located by walking ``sys.path`` for ``transformers/__init__.py`` (no ``find_spec``, no
import); its version comes from the ``transformers-*.dist-info/METADATA`` beside it, else from the
``__version__ = "..."`` line of ``__init__.py``. The auto-mapping files (``models/auto/*.py``) are read as
text with ``ast``: ``model_type`` -> module name (``xlm-roberta`` -> ``xlm_roberta``) and -> base class.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from statedict_lint.errors import UserError
from statedict_lint.memo import LRU

MODELLED_VERSIONS = ("5.23",)  # major.minor of transformers whose runtime predict/libs/transformers.py models
MAX_CONFIG_BYTES = 16 * 1024 * 1024  # a config.json is a few KB; anything this large is not one


@dataclass
class TransformersSource:
    root: str  # .../site-packages/transformers
    version: str  # "5.23.0", or "unknown"

    @property
    def modelled(self) -> bool:
        return ".".join(self.version.split(".")[:2]) in MODELLED_VERSIONS

    def models_dir(self) -> str:
        return os.path.join(self.root, "models")


def find_transformers(paths: Optional[Sequence[str]] = None) -> Optional[TransformersSource]:
    """The first ``transformers`` package on ``paths`` (default ``sys.path``), or None. Never imports it."""
    for entry in (sys.path if paths is None else paths):
        base = os.path.abspath(entry or os.getcwd())
        init = os.path.join(base, "transformers", "__init__.py")
        if os.path.isfile(init):
            return TransformersSource(os.path.join(base, "transformers"), _version(base, init))
    return None


_VERSION_LINE = re.compile(r'^__version__\s*=\s*["\']([^"\']+)["\']', re.M)


def _version(site: str, init: str) -> str:
    for meta in sorted(glob.glob(os.path.join(site, "transformers-*.dist-info", "METADATA"))):
        try:
            with open(meta, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
                    if not line.strip():
                        break
        except OSError:
            continue
    try:
        with open(init, encoding="utf-8", errors="replace") as fh:
            m = _VERSION_LINE.search(fh.read())
    except OSError:
        m = None
    return m.group(1) if m else "unknown"


def require_transformers() -> TransformersSource:
    src = find_transformers()
    if src is None:
        raise UserError("transformers is not installed in this environment (no transformers/__init__.py on "
                        "sys.path): install it, or name the class with FILE.py:CLASS")
    return src


# -- config.json ------------------------------------------------------------------------------------------

def read_config(folder: str) -> Dict[str, Any]:
    """``folder/config.json`` as a dict; a clear UserError when it is absent, not JSON or not an object."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        raise UserError(f"{folder}: no config.json (a Hugging Face model folder holds config.json beside its weights)")
    try:
        if os.path.getsize(path) > MAX_CONFIG_BYTES:
            raise UserError(f"{path}: {os.path.getsize(path)} bytes is too large for a config.json")
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not JSON: {exc}") from None
    except RecursionError:
        raise UserError(f"{path} nests too deeply to read") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object")
    return data


def is_hub_folder(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json"))


# -- model_type / architectures -> source file ------------------------------------------------------------

def _string_pairs(node: ast.AST) -> List[Tuple[str, str]]:
    out: List[Tuple[str, str]] = []
    for n in ast.walk(node):
        strs = [e.value for e in n.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)] \
            if isinstance(n, ast.Tuple) else []
        if isinstance(n, ast.Tuple) and len(strs) == len(n.elts) == 2:
            out.append((strs[0], strs[1]))
        elif isinstance(n, ast.Dict):
            for k, v in zip(n.keys, n.values):
                if isinstance(k, ast.Constant) and isinstance(k.value, str) and isinstance(v, ast.Constant) \
                        and isinstance(v.value, str):
                    out.append((k.value, v.value))
    return out


_PARSED: LRU[Optional[ast.Module]] = LRU(64)  # transformers' mapping files, parsed (bounded)


def _parse(path: str) -> Optional[ast.Module]:
    if path not in _PARSED:
        try:
            with open(path, encoding="utf-8") as fh:
                _PARSED[path] = ast.parse(fh.read(), path)
        except (OSError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError):
            _PARSED[path] = None
    return _PARSED[path]


def _named_pairs(path: str, name: str) -> Dict[str, str]:
    """String pairs assigned to ``name`` (``NAME = OrderedDict([...])``) or added by ``NAME.update({...})``."""
    tree = _parse(path)
    out: Dict[str, str] = {}
    if tree is None:
        return out
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
            out.update(dict(_string_pairs(stmt.value)))
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            f = stmt.value.func
            if isinstance(f, ast.Attribute) and f.attr == "update" and isinstance(f.value, ast.Name) \
                    and f.value.id == name:
                for a in stmt.value.args:
                    out.update(dict(_string_pairs(a)))
    return out


def module_name(src: TransformersSource, model_type: str) -> str:
    """transformers' ``model_type_to_module_name``: the special table, else ``-`` -> ``_``."""
    auto = os.path.join(src.models_dir(), "auto")
    special: Dict[str, str] = {}
    for fname in ("auto_mappings.py", "configuration_auto.py"):
        special.update(_named_pairs(os.path.join(auto, fname), "SPECIAL_MODEL_TYPE_TO_MODULE_NAME"))
    return special.get(model_type, model_type.replace("-", "_"))


def config_mapping_names(src: TransformersSource) -> Dict[str, str]:
    """CONFIG_MAPPING_NAMES: model_type -> configuration class name (auto_mappings.py, plus
    configuration_auto.py's additions)."""
    auto = os.path.join(src.models_dir(), "auto")
    names: Dict[str, str] = {}
    for fname in ("auto_mappings.py", "configuration_auto.py"):
        names.update(_named_pairs(os.path.join(auto, fname), "CONFIG_MAPPING_NAMES"))
    return names


def config_class_name(src: TransformersSource, model_type: str) -> Optional[str]:
    """CONFIG_MAPPING_NAMES[model_type]."""
    return config_mapping_names(src).get(model_type)


def base_class_for(src: TransformersSource, model_type: str) -> Optional[str]:
    """AutoModel's class for ``model_type`` (``MODEL_MAPPING_NAMES`` of modeling_auto.py)."""
    return _named_pairs(os.path.join(src.models_dir(), "auto", "modeling_auto.py"), "MODEL_MAPPING_NAMES").get(model_type)


def _defines(path: str, cls: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return re.search(rf"^class {re.escape(cls)}\b", fh.read(), re.M) is not None
    except OSError:
        return False


@dataclass
class Resolved:
    path: str  # modeling file
    cls: str  # class name
    how: str  # how it was found, for the report ("architectures[0]", "model_type 'bert' (AutoModel)")


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def resolve(src: TransformersSource, config: Dict[str, Any], where: str) -> Resolved:
    """config.json's ``architectures`` / ``model_type`` -> the modeling file and class, like from_pretrained."""
    archs = config.get("architectures")
    model_type = config.get("model_type")
    if archs is not None and not (isinstance(archs, list) and all(isinstance(a, str) for a in archs)):
        raise UserError(f"{where}: `architectures` must be a list of class names")
    if model_type is not None and not isinstance(model_type, str):
        raise UserError(f"{where}: `model_type` must be a string")
    arch = archs[0] if archs else None
    if arch is not None and not _IDENT.match(arch):
        raise UserError(f"{where}: architectures[0] {arch!r} is not a class name")
    if arch is None and not model_type:
        raise UserError(f"{where} names neither `architectures` nor `model_type`: name the class with FILE.py:CLASS")
    candidates: List[str] = []
    if model_type:
        mod = module_name(src, model_type)
        if not re.match(r"^[A-Za-z0-9_.]+$", mod) or ".." in mod:
            raise UserError(f"{where}: model_type {model_type!r} is not a transformers model type")
        d = os.path.join(src.models_dir(), *mod.split("."))
        if os.path.isdir(d):
            first = os.path.join(d, f"modeling_{mod.split('.')[-1]}.py")
            candidates = ([first] if os.path.isfile(first) else []) + sorted(
                p for p in glob.glob(os.path.join(d, "modeling_*.py")) if p != first)
        elif arch is None:
            raise UserError(f"{where}: model_type {model_type!r} is not in transformers {src.version} ({src.root})")
    if arch is None:
        base = base_class_for(src, model_type) if model_type else None
        if base is None:
            raise UserError(f"{where}: transformers {src.version} maps model_type {model_type!r} to no model class")
        arch, how = base, f"model_type {model_type!r} (AutoModel's class)"
    else:
        how = "architectures[0]"
    for p in candidates:
        if _defines(p, arch):
            return Resolved(p, arch, how)
    if model_type is None:  # no model_type: look through every model folder (text search, no import)
        for p in sorted(glob.glob(os.path.join(src.models_dir(), "*", "modeling_*.py"))):
            if _defines(p, arch):
                return Resolved(p, arch, how)
    raise UserError(f"{where}: class {arch} is not defined in transformers {src.version} ({src.root})"
                    + (f" under models/{module_name(src, model_type)}" if model_type else "")
                    + "; it may need a newer transformers or the model's own code (name it with FILE.py:CLASS)")


# -- auto_map: the folder's own code (trust_remote_code) ------------------------------------------------------

MAX_MODULE_BYTES = 8 * 1024 * 1024  # a modeling file is < 1 MB; larger is not one


def resolve_auto_map(folder: str, config: Dict[str, Any], where: str) -> Optional[Resolved]:
    """config.json's ``auto_map`` -> the modeling file in ``folder`` and its class, as
    ``from_pretrained(..., trust_remote_code=True)`` loads it (``"AutoModelForX": "modeling_x.XForY"``); None
    when ``auto_map`` names no model class (the class then comes from transformers). The class is
    ``architectures[0]`` when an entry names it or a module the entries name defines it, else the ``AutoModel``
    entry. The file must be a regular file inside ``folder`` (a link out of it is refused), of sane size; it is
    never imported, only read."""
    am = config.get("auto_map")
    if am is None:
        return None
    if not isinstance(am, dict):
        raise UserError(f"{where}: `auto_map` must be an object")
    models = [(k, v) for k, v in am.items() if isinstance(k, str) and k.startswith("AutoModel")]
    if not models:
        return None
    archs = config.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    how = "the folder's own code, as from_pretrained(trust_remote_code=True) loads it; read, never imported"

    def cls_of(ref: Any) -> Optional[str]:
        return ref.rpartition("--")[2].rpartition(".")[2] if isinstance(ref, str) else None

    pick = next(((k, v) for k, v in models if arch is not None and cls_of(v) == arch), None)
    if pick is None and arch is not None:
        # architectures[0] defined beside an auto_map class (a head the folder's code defines but does not map)
        for auto, ref in models:
            module, _cls = _auto_ref(auto, ref, where)
            path = _folder_module(folder, module, auto, where)
            if _defines(path, arch):
                return Resolved(path, arch, f"architectures[0], defined in {module}.py of auto_map[{auto!r}]: {how}")
        return None  # architectures[0] is not the folder's code: a transformers class, resolved from its source
    if pick is None:
        pick = next(((k, v) for k, v in models if k == "AutoModel"), models[0] if len(models) == 1 else None)
        if pick is None:
            raise UserError(f"{where}: `auto_map` names several model classes ({', '.join(k for k, _v in models)}) "
                            "and no `architectures` says which: name the class with FILE.py:CLASS")
    auto, ref = pick
    module, cls = _auto_ref(auto, ref, where)
    return Resolved(_folder_module(folder, module, auto, where), cls, f"auto_map[{auto!r}]: {how}")


def _auto_ref(auto: str, ref: Any, where: str) -> Tuple[str, str]:
    """``"modeling_x.XModel"`` -> (module, class); a clear UserError for anything else."""
    if not isinstance(ref, str):
        raise UserError(f"{where}: auto_map[{auto!r}] must be a string \"module.Class\"")
    if "--" in ref:
        repo = ref.partition("--")[0]
        raise UserError(f"{where}: auto_map[{auto!r}] = {ref!r} is code from another repository ({repo}), not in "
                        f"this folder: fetch its file and name the class with FILE.py:CLASS")
    parts = ref.split(".")
    if len(parts) != 2 or not all(_IDENT.match(p) for p in parts):
        raise UserError(f"{where}: auto_map[{auto!r}] = {ref!r} is not \"module.Class\"")
    return parts[0], parts[1]


def _folder_module(folder: str, module: str, auto: str, where: str) -> str:
    """``folder/module.py``, when it is a regular file inside ``folder`` of sane size; else a clear UserError."""
    import stat

    path = os.path.join(folder, module + ".py")
    if not os.path.lexists(path):
        raise UserError(f"{where}: auto_map[{auto!r}] names {module}.py, which is not in {folder}")
    base = os.path.realpath(folder)
    if not os.path.realpath(path).startswith(base + os.sep):
        raise UserError(f"{path} is a link out of {folder}: not read (the folder's code must be inside it)")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{path} is not a regular file")
    if st.st_size > MAX_MODULE_BYTES:
        raise UserError(f"{path}: {st.st_size} bytes is too large for a modeling file")
    return path


SUMMARY_KEYS = ("model_type", "architectures", "transformers_version", "dtype", "torch_dtype",
                "tie_word_embeddings", "vocab_size", "hidden_size", "d_model", "n_embd", "dim", "num_hidden_layers",
                "n_layer", "num_layers", "num_attention_heads", "n_head", "num_key_value_heads",
                "intermediate_size", "max_position_embeddings", "n_positions", "image_size", "patch_size",
                "num_labels", "id2label", "text_config", "vision_config", "encoder", "decoder", "auto_map")


def config_summary(config: Dict[str, Any]) -> Dict[str, Any]:
    """What ``inspect DIR`` shows of a config.json: the keys that name the class and size the model (sub-configs
    summarized the same way), the number of labels, and whether the folder needs its own code (``auto_map``)."""
    out: Dict[str, Any] = {}
    for k in SUMMARY_KEYS:
        if k not in config:
            continue
        v = config[k]
        if k == "id2label" and isinstance(v, dict):
            out["num_labels"] = len(v)
        elif isinstance(v, dict) and k in ("text_config", "vision_config", "encoder", "decoder"):
            out[k] = config_summary(v)
        else:
            out[k] = v
    return out


def format_summary(summary: Dict[str, Any], indent: str = "") -> List[str]:
    lines: List[str] = []
    flat = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in summary.items()
                     if not isinstance(v, dict))
    if flat:
        lines.append(indent + flat)
    for k, v in summary.items():
        if isinstance(v, dict):
            lines.append(f"{indent}{k}:")
            lines.extend(format_summary(v, indent + "  "))
    return lines
