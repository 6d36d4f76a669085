"""Official Cosmos consolidated ``.pt`` checkpoints: load into plain nets, save in the same layout.

Layouts (``scripts/convert_distcp_to_pt.py`` in Cosmos):

- ``model.pt``: ``net.*`` and ``net_ema.*`` keys (``DiffusionModel.state_dict()``);
- ``model_ema_fp32.pt`` / ``model_ema_bf16.pt`` (the released HF files): only the EMA weights,
  renamed to ``net.*``; the bf16 file has every float tensor in bf16 (int64 counters stay int64).

Transformer Engine adds empty ``*._extra_state`` entries per RMSNorm; they are ignored. A bare
net state_dict (no prefixes) and a top-level ``{"model": ...}``/``{"state_dict": ...}`` wrapper
are accepted too. Targets are plain modules, or FSDP2-sharded ones (every rank reads the file and
keeps its shard); DCP checkpoints live in ``checkpoint.dcp``. A net with PEFT LoRA adapters
takes the file's weights on its ``base_layer`` entries (``x.weight`` -> ``x.base_layer.weight``,
mapped explicitly; adapters are never read from a base file).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["CheckpointMismatchError", "LoadReport", "load_consolidated", "save_consolidated"]

_EMA_CHOICES = ("copy_from_net", "load", "skip")
_SHOW = 20


class CheckpointMismatchError(ValueError):
    """The checkpoint's keys or shapes do not match the module (message lists the differences)."""


@dataclasses.dataclass
class LoadReport:
    """What :func:`load_consolidated` did.

    Attributes:
        path: the file read.
        layout: ``"consolidated"`` (``net.*`` [+ ``net_ema.*``]) or ``"bare"`` (no prefixes).
        has_ema_keys: the file holds ``net_ema.*`` keys.
        net_loaded: number of tensors loaded into ``net``.
        ema_source: ``"net_ema"`` (loaded from the file's EMA keys), ``"net"`` (copied from the
            loaded net weights), or ``"skipped"``.
        ema_loaded: number of tensors written into ``net_ema``.
        missing, unexpected: keys the module has but the file lacks, and the reverse (per target,
            prefixed ``net.``/``net_ema.``); only non-empty with ``strict=False``.
        shape_mismatch: ``(key, file_shape, module_shape)``; those tensors were not loaded.
        ignored: keys deliberately skipped (TE ``_extra_state``, ``net_ema.*`` when not loading EMA).
        cast: ``{"bfloat16->float32": n, ...}`` dtype conversions applied.
    """

    path: str
    layout: str
    has_ema_keys: bool
    net_loaded: int = 0
    ema_source: str = "skipped"
    ema_loaded: int = 0
    missing: list[str] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    shape_mismatch: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = dataclasses.field(default_factory=list)
    ignored: list[str] = dataclasses.field(default_factory=list)
    cast: dict[str, int] = dataclasses.field(default_factory=dict)


def _unwrap(obj: Any, path: str) -> dict[str, Any]:
    """The flat ``{key: tensor}`` dict, unwrapping ``{"model": ...}``/``{"state_dict": ...}``."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a state_dict (a dict of tensors), found {type(obj).__name__}")
    for wrapper in ("model", "state_dict"):
        inner = obj.get(wrapper)
        if isinstance(inner, Mapping) and not any(torch.is_tensor(v) for v in obj.values() if v is not inner):
            return _unwrap(inner, path)
    non_tensor = [k for k, v in obj.items() if not torch.is_tensor(v)]
    if non_tensor:
        raise ValueError(
            f"{path}: not a consolidated model checkpoint; non-tensor entries {non_tensor[:5]} "
            "(a DCP directory or trainer checkpoint needs the DCP loader instead)"
        )
    return dict(obj)


def _split(sd: dict[str, torch.Tensor]) -> tuple[str, dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(layout, net, net_ema, other)`` sub-dicts with the prefixes stripped."""
    net = {k[len("net.") :]: v for k, v in sd.items() if k.startswith("net.")}
    ema = {k[len("net_ema.") :]: v for k, v in sd.items() if k.startswith("net_ema.")}
    if not net and not ema:
        return "bare", dict(sd), {}, {}
    other = {k: v for k, v in sd.items() if not k.startswith(("net.", "net_ema."))}
    return "consolidated", net, ema, other


def _fmt(items: list, total: int) -> str:
    shown = "\n".join(f"    {x}" for x in items[:_SHOW])
    more = f"\n    ... and {total - _SHOW} more" if total > _SHOW else ""
    return shown + more


def _peft_placed(sd: dict[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """File keys in the plain layout placed on a PEFT LoRA net's ``base_layer`` entries.

    ``blocks.0.self_attn.q_proj.weight`` -> ``blocks.0.self_attn.q_proj.base_layer.weight`` for
    every wrapped module; other keys are unchanged (and checked by name like any other key).
    """
    to_module = {k.replace(".base_layer.", "."): k for k in module.state_dict() if ".base_layer." in k}
    if not to_module:
        return sd
    return {to_module.get(k, k): v for k, v in sd.items()}


def _expected_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's state_dict without LoRA adapter entries: a base checkpoint never holds them."""
    from cosmos_train.model.lora import is_adapter_key

    return {k: v for k, v in module.state_dict().items() if not is_adapter_key(k)}


def _diff(prefix: str, ckpt: dict[str, torch.Tensor], module: nn.Module):
    expected = _expected_state(module)
    missing = [prefix + k for k in expected if k not in ckpt]
    unexpected = [prefix + k for k in ckpt if k not in expected]
    shapes = [
        (prefix + k, tuple(v.shape), tuple(expected[k].shape))
        for k, v in ckpt.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    return missing, unexpected, shapes


def _mismatch_message(path: str, missing: list, unexpected: list, shapes: list) -> str:
    parts = [f"checkpoint {path} does not match the model:"]
    if missing:
        parts.append(f"  missing keys ({len(missing)}; in the model, not in the file):\n{_fmt(missing, len(missing))}")
    if unexpected:
        parts.append(f"  unexpected keys ({len(unexpected)}; in the file, not in the model):\n{_fmt(unexpected, len(unexpected))}")
    if shapes:
        rows = [f"{k}: file {list(a)} vs model {list(b)}" for k, a, b in shapes]
        parts.append(f"  shape mismatches ({len(shapes)}):\n{_fmt(rows, len(rows))}")
    parts.append(
        "  To proceed: build the net with the config the checkpoint was trained with (e.g. the matching "
        "net preset: predict2_5_2B for the released 2B, crossattn projection and extra pos-emb flags), "
        "or pass strict=False to load the matching tensors and leave the rest as initialised."
    )
    return "\n".join(parts)


def _load_into(module: nn.Module, sd: dict[str, torch.Tensor], shapes: list, prefix: str, report: LoadReport) -> int:
    """Copy the matching tensors into ``module`` (cast to its dtypes); returns how many."""
    expected = _expected_state(module)
    bad = {k[len(prefix) :] for k, _, _ in shapes}
    to_load: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key not in expected or key in bad:
            continue
        target = expected[key]
        if value.dtype != target.dtype:
            tag = f"{str(value.dtype).removeprefix('torch.')}->{str(target.dtype).removeprefix('torch.')}"
            report.cast[tag] = report.cast.get(tag, 0) + 1
            value = value.to(target.dtype)
        if hasattr(target, "device_mesh") and hasattr(target, "placements"):
            # FSDP2/DTensor target: every rank read the full tensor; keep this rank's shard.
            from torch.distributed.tensor import distribute_tensor

            value = distribute_tensor(value.to(target.device), target.device_mesh, target.placements)
        to_load[key] = value
    on_meta = any(t.is_meta for t in expected.values())
    # strict=False here: the strict check already ran on our own diff (with readable messages).
    module.load_state_dict(to_load, strict=False, assign=on_meta)
    return len(to_load)


def load_consolidated(
    path: str | os.PathLike,
    *,
    net: nn.Module,
    net_ema: nn.Module | None = None,
    strict: bool = True,
    ema: str = "copy_from_net",
) -> LoadReport:
    """Load an official consolidated checkpoint into ``net`` (and ``net_ema``).

    Args:
        path: a ``.pt`` file (``model.pt``, ``model_ema_fp32.pt``, ``*_ema_bf16.pt``, or a bare state_dict).
        net: the module receiving the ``net.*`` weights (cast to its dtypes, e.g. bf16 -> fp32).
        net_ema: the EMA module, if any.
        strict: raise :class:`CheckpointMismatchError` on missing/unexpected keys or shape
            mismatches (TE ``_extra_state`` keys never count).
        ema: ``"copy_from_net"`` (net_ema gets the weights just loaded into net; right for EMA-only
            files), ``"load"`` (net_ema from the file's ``net_ema.*`` keys), ``"skip"`` (leave it).

    Returns:
        A :class:`LoadReport`.
    """
    if ema not in _EMA_CHOICES:
        raise ValueError(f"ema={ema!r}; use one of {list(_EMA_CHOICES)}")
    path = os.fspath(path)
    if not Path(path).is_file():
        hint = " (a directory: use the DCP checkpoint loader)" if Path(path).is_dir() else ""
        raise FileNotFoundError(f"consolidated checkpoint not found: {path}{hint}")
    try:  # mmap: a 2B bf16 file is ~4 GB; only the tensors actually copied are paged in
        raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (non-zip) serialisation cannot be memory-mapped
        raw = torch.load(path, map_location="cpu", weights_only=True)
    sd = _unwrap(raw, path)
    ignored = sorted(k for k in sd if k.endswith("._extra_state") or k == "_extra_state")
    sd = {k: v for k, v in sd.items() if k not in set(ignored)}
    layout, net_sd, ema_sd, other = _split(sd)
    report = LoadReport(path=path, layout=layout, has_ema_keys=bool(ema_sd), ignored=ignored)

    if not net_sd:
        raise CheckpointMismatchError(
            f"checkpoint {path} has no `net.*` weights (only {len(ema_sd)} `net_ema.*` keys); "
            "convert it with Cosmos's convert_distcp_to_pt.py or load the EMA weights as the net"
        )
    if ema == "load" and net_ema is not None and not ema_sd:
        raise CheckpointMismatchError(
            f"ema='load' but {path} has no `net_ema.*` keys (an EMA-only or net-only file); "
            "use ema='copy_from_net' to start the EMA from the loaded weights, or ema='skip'"
        )
    load_ema = ema == "load" and net_ema is not None
    if ema_sd and not load_ema:
        report.ignored += [f"net_ema.{k}" for k in ema_sd]

    # A net with LoRA adapters takes the base weights on its ``base_layer`` entries (explicit map;
    # a key that still has no place is "unexpected" and fails a strict load).
    net_sd = _peft_placed(net_sd, net)
    if net_ema is not None:
        ema_sd = _peft_placed(ema_sd, net_ema)
    missing, unexpected, shapes = _diff("net." if layout == "consolidated" else "", net_sd, net)
    unexpected += sorted(other)
    if load_ema:
        m2, u2, s2 = _diff("net_ema.", ema_sd, net_ema)
        missing, unexpected, shapes = missing + m2, unexpected + u2, shapes + s2
    if strict and (missing or unexpected or shapes):
        raise CheckpointMismatchError(_mismatch_message(path, missing, unexpected, shapes))
    report.missing, report.unexpected, report.shape_mismatch = missing, unexpected, shapes

    net_prefix = "net." if layout == "consolidated" else ""
    with torch.no_grad():
        report.net_loaded = _load_into(net, net_sd, [s for s in shapes if s[0].startswith(net_prefix) and not s[0].startswith("net_ema.")], net_prefix, report)
        if net_ema is not None and ema != "skip":
            if load_ema:
                report.ema_loaded = _load_into(net_ema, ema_sd, [s for s in shapes if s[0].startswith("net_ema.")], "net_ema.", report)
                report.ema_source = "net_ema"
            else:
                src = net.state_dict()
                report.ema_loaded = _load_into(net_ema, {k: v.detach() for k, v in src.items()}, [], "", report)
                report.ema_source = "net"
    return report


def save_consolidated(
    path: str | os.PathLike,
    *,
    net: nn.Module,
    net_ema: nn.Module | None = None,
    dtype: torch.dtype | None = torch.bfloat16,
) -> Path:
    """Write ``net`` (and ``net_ema``) in Cosmos's consolidated layout, atomically.

    Keys are ``net.<key>`` (+ ``net_ema.<key>``); floating tensors are cast to ``dtype``
    (``None`` keeps them), integer buffers keep their dtype. Written to a temp file in the same
    directory, then renamed with ``os.replace``, so a crash never leaves a truncated file. To
    write an EMA-only file (``model_ema_bf16.pt``), pass the EMA module as ``net``.
    """
    from cosmos_train.model.lora import is_adapter_key

    for module in (net, net_ema):
        if module is not None and any(is_adapter_key(k) for k in module.state_dict()):
            raise ValueError(
                "save_consolidated: the net has LoRA adapters (base_layer/lora_A/lora_B keys are not the released "
                "layout); write lora_export.merged_state_dict(net) (merged weights) or lora_export.save_adapter (adapter only)"
            )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, torch.Tensor] = {}
    for prefix, module in (("net.", net), ("net_ema.", net_ema)):
        if module is None:
            continue
        for key, value in module.state_dict().items():
            if not torch.is_tensor(value):
                continue
            if hasattr(value, "full_tensor"):  # DTensor: consolidated files hold full tensors
                value = value.full_tensor()
            value = value.detach()
            if value.is_meta:
                raise ValueError(f"cannot save {prefix}{key}: it is on the meta device (materialise the net first)")
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
            out[prefix + key] = value.cpu().clone()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(out, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
