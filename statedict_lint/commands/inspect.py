"""`statedict-lint inspect CKPT [--key K] [--format text|json] [--loader native|torch]`."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

from statedict_lint.errors import UserError

if TYPE_CHECKING:
    from statedict_lint.checkpoint.container import Found
    from statedict_lint.checkpoint.records import Checkpoint


def add_parser(sub: Any) -> None:
    p = sub.add_parser("inspect", help="list the keys, shapes and dtypes a checkpoint holds (header only)",
                       description="Read a checkpoint's header (torch zip, legacy torch, safetensors, sharded "
                                   "index or a directory) without torch, without running pickled code and "
                                   "without reading tensor data.")
    p.add_argument("checkpoint", metavar="CKPT")
    p.add_argument("--key", default=None, help="dotted path of the state_dict inside the file (e.g. state_dict, "
                                               "model.ema)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--loader", choices=["native", "torch"], default="native",
                   help="torch: read with torch.load(weights_only=True, map_location='meta') instead (for "
                        "comparison; needs torch)")
    p.set_defaults(run=run)


def load(path: str, key: Any = None, loader: str = "native") -> Tuple[Any, Any]:
    """(Checkpoint, Found) for ``path``."""
    from statedict_lint.checkpoint.container import find_state_dict

    if loader == "torch":
        from statedict_lint.verify.torch_loader import read_with_torch

        ck = read_with_torch(path)
    else:
        from statedict_lint.checkpoint.readers import read

        ck = read(path)
    return ck, find_state_dict(ck, key)


def summary(sd: Dict[str, Any]) -> Dict[str, int]:
    from statedict_lint.checkpoint.records import TensorRecord

    seen = set()
    numel = nbytes = tensors = tied = 0
    for v in sd.values():
        if not isinstance(v, TensorRecord):
            continue
        tensors += 1
        ident = (v.file, v.storage, v.offset, v.shape, v.stride) if v.storage else None
        if ident is not None and ident in seen:
            tied += 1
            continue
        if ident is not None:
            seen.add(ident)
        numel += v.numel
        nbytes += v.nbytes
    return {"tensors": tensors, "numel": numel, "bytes": nbytes, "shared": tied}


def human(n: int) -> str:
    x = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if x < 1024 or unit == "TB":
            return f"{n} B" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return f"{n} B"


def to_json(ck: Checkpoint, found: Found) -> Dict[str, Any]:
    from statedict_lint.checkpoint.records import TensorRecord

    keys: Dict[str, Any] = {}
    for k, v in found.state_dict.items():
        keys[k] = v.to_json() if isinstance(v, TensorRecord) else {"object": type(v).__name__}
    out: Dict[str, Any] = {
        "path": ck.path,
        "format": ck.format,
        "files": ck.files,
        "file_bytes": ck.size,
        "container": {"key": found.dotted, "kind": found.kind, "alternatives": found.alternatives},
        "others": found.others,
        "keys": keys,
    }
    out.update(summary(found.state_dict))
    if ck.metadata:
        out["metadata"] = ck.metadata
    return out


def format_text(ck: Checkpoint, found: Found) -> str:
    from statedict_lint.checkpoint.records import TensorRecord

    lines: List[str] = []
    s = summary(found.state_dict)
    nfiles = len(ck.files)
    lines.append(f"{ck.path}: {ck.format}, {nfiles} file{'s' if nfiles != 1 else ''}, {human(ck.size)}")
    where = f"[{found.dotted!r}]" if found.path else "the whole file"
    kind = {"lightning": " (Lightning checkpoint)", "container": "", "state_dict": ""}[found.kind]
    lines.append(f"state_dict: {where}{kind}")
    if found.alternatives:
        lines.append(f"also state_dict-like: {', '.join(found.alternatives)} (pick one with --key)")
    if found.others:
        lines.append("also holds: " + "; ".join(f"{k}: {v}" for k, v in found.others.items()))
    if ck.metadata:
        meta = ", ".join(f"{k}={v}" for k, v in list(ck.metadata.items())[:8])
        lines.append(f"metadata: {meta}")
    from statedict_lint.report.escape import text  # keys, metadata and entry names come from the file

    rows = []
    for k, v in found.state_dict.items():
        if isinstance(v, TensorRecord):
            rows.append((text(k), "[" + ", ".join(str(d) for d in v.shape) + "]", v.dtype))
        else:
            rows.append((text(k), "-", type(v).__name__))
    w0 = max([len(r[0]) for r in rows] + [3])
    w1 = max([len(r[1]) for r in rows] + [5])
    for r in rows:
        lines.append(f"  {r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}")
    shared = f", {s['shared']} sharing storage with another key" if s["shared"] else ""
    lines.append(f"{s['tensors']} tensors{shared}, {s['numel']:,} elements, {human(s['bytes'])}")
    return "\n".join(text(line) for line in lines) + "\n"


def run(args: Any) -> int:
    from statedict_lint.hf import source as hf_source

    ck, found = load(args.checkpoint, args.key, args.loader)
    config = None
    if hf_source.is_hub_folder(args.checkpoint):  # a Hugging Face folder: its config.json too
        try:
            config = hf_source.config_summary(hf_source.read_config(args.checkpoint))
        except UserError as exc:  # the weights are what inspect reads; say why the config is not shown
            config = {"error": str(exc)}
    if args.format == "json":
        doc = to_json(ck, found)
        if config is not None:
            doc["config"] = config
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        if config is not None:
            sys.stdout.write("\n".join(["config.json:"] + hf_source.format_summary(config, "  ")) + "\n")
        sys.stdout.write(format_text(ck, found))
    return 0
