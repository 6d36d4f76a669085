"""LoRA adapters out of training: merged weights, PEFT adapter files, inference loading, export.

:func:`merged_state_dict` folds adapters into the base weights (the released consolidated key
set); :func:`save_adapter` writes PEFT's adapter format (``adapter_config.json`` +
``adapter_model.safetensors``); :func:`apply_loras` loads one or several such adapters, each with
a scale, onto a net for inference (unmerged, or merged into the weights);
:func:`export_lora_checkpoint` turns a LoRA run's DCP checkpoint into either. Injection, base
loading and training live in :mod:`cosmos_train.model.lora`.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cosmos_train.model.lora import (
    ADAPTER_CONFIG_FILE,
    ADAPTER_NAME,
    ADAPTER_WEIGHTS_FILE,
    PEFT_PREFIX,
    LoraSetup,
    LoraSpec,
    adapter_state_keys,
    base_key,
    check_target_modules,
    full_tensor,
    import_peft,
    is_adapter_key,
    parse_target_modules,
)
from cosmos_train.utils.atomic import atomic_write

__all__ = [
    "apply_loras",
    "apply_loras_to_model",
    "export_lora_checkpoint",
    "load_adapter_file",
    "load_lora_checkpoint",
    "merge_and_unload",
    "merged_state_dict",
    "parse_lora_arg",
    "save_adapter",
]

log = logging.getLogger(__name__)


def _lora_layers(net: nn.Module) -> dict[str, Any]:
    from peft.tuners.lora import LoraLayer

    from cosmos_train.optim.ema import canonical_param_name

    return {canonical_param_name(n): m for n, m in net.named_modules() if isinstance(m, LoraLayer)}


@torch.no_grad()
def merged_state_dict(
    net: nn.Module, *, adapters: nn.Module | None = None, dtype: torch.dtype | None = None
) -> dict[str, torch.Tensor]:
    """``net``'s weights with every active adapter folded in, in the plain net's layout.

    ``W = W_base + sum_a scaling_a * B_a @ A_a``; the key set equals the plain net's (the released
    consolidated layout, without the ``net.`` prefix). ``adapters`` (e.g. the EMA module of
    :func:`~cosmos_train.model.lora.build_adapter_ema`) supplies the adapter values instead of
    ``net``'s own.
    """
    from cosmos_train.optim.ema import canonical_param_name

    override = (
        {canonical_param_name(n): p for n, p in adapters.named_parameters()}
        if adapters is not None
        else {}
    )
    layers = _lora_layers(net)
    out: dict[str, torch.Tensor] = {}
    for key, value in net.state_dict().items():
        key = canonical_param_name(key)
        if is_adapter_key(key) or not torch.is_tensor(value):
            continue
        value = full_tensor(value).detach().clone()
        if ".base_layer." in key:
            module_name, _, leaf = key.partition(".base_layer.")
            layer = layers[module_name]
            if leaf == "weight":
                for name in layer.active_adapters:
                    if name not in layer.lora_A:
                        continue
                    a = full_tensor(
                        override.get(
                            f"{module_name}.lora_A.{name}.weight", layer.lora_A[name].weight
                        )
                    )
                    b = full_tensor(
                        override.get(
                            f"{module_name}.lora_B.{name}.weight", layer.lora_B[name].weight
                        )
                    )
                    delta = (b.float() @ a.float()) * float(layer.scaling[name])
                    value = (value.float() + delta.to(value.device)).to(value.dtype)
            key = base_key(key)
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        out[key] = value if value.is_meta else value.cpu()
    return out


def _adapter_tensors(
    net: nn.Module, adapter_name: str, adapters: nn.Module | None
) -> dict[str, torch.Tensor]:
    """PEFT file keys (``base_model.model.<module>.lora_A.weight``) -> fp32 CPU tensors."""
    from cosmos_train.optim.ema import canonical_param_name

    source = adapters if adapters is not None else net
    out = {}
    for name, p in source.named_parameters():
        name = canonical_param_name(name)
        marker = f".{adapter_name}."
        if not is_adapter_key(name) or marker not in name:
            continue
        out[PEFT_PREFIX + name.replace(marker, ".")] = (
            full_tensor(p).detach().float().cpu().contiguous()
        )
    return out


def save_adapter(
    net: nn.Module,
    out_dir: str | os.PathLike,
    spec: LoraSpec,
    *,
    adapters: nn.Module | None = None,
    adapter_name: str = ADAPTER_NAME,
) -> Path:
    """Writes the adapter in PEFT's format (``adapter_config.json``, ``adapter_model.safetensors``).

    Args:
        net: a LoRA net.
        out_dir: the directory to write (created).
        spec: the adapter's rank, alpha and targets.
        adapters: a module with the adapter values to write instead of ``net``'s (the EMA).
        adapter_name: which adapter of ``net``.

    Returns:
        The directory. Files are written under temporary names and renamed.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = _adapter_tensors(net, adapter_name, adapters)
    if not tensors:
        raise ValueError(f"the net has no adapter named {adapter_name!r} to save")
    atomic_write(
        out / ADAPTER_WEIGHTS_FILE,
        lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}),
    )
    config = spec.peft_config().to_dict()
    config["target_modules"] = sorted(config["target_modules"])
    text = json.dumps(config, indent=2, sort_keys=True, default=str)
    atomic_write(out / ADAPTER_CONFIG_FILE, lambda tmp: tmp.write_text(text))
    return out


def parse_lora_arg(text: str) -> tuple[str, float]:
    """``PATH`` or ``PATH:SCALE`` (the ``generate.py --lora`` syntax) -> ``(path, scale)``."""
    path, sep, scale = text.rpartition(":")
    if sep and path:
        try:
            return path, float(scale)
        except ValueError:
            pass  # a ':' inside the path, no scale
    return text, 1.0


def _adapter_files(path: str | os.PathLike) -> tuple[Path, Path]:
    p = Path(path)
    weights = p / ADAPTER_WEIGHTS_FILE if p.is_dir() else p
    config = weights.parent / ADAPTER_CONFIG_FILE
    if not weights.is_file() or not config.is_file():
        raise FileNotFoundError(
            f"LoRA adapter {path}: expected PEFT's {ADAPTER_WEIGHTS_FILE} and "
            f"{ADAPTER_CONFIG_FILE} "
            f"(a directory written by save_adapter or tools/export_checkpoint.py --lora adapter)"
        )
    return weights, config


@torch.no_grad()
def load_adapter_file(
    net: nn.Module, path: str | os.PathLike, *, adapter_name: str, scale: float = 1.0
) -> list[str]:
    """Injects the PEFT adapter at ``path`` into ``net`` as ``adapter_name`` with ``scale``.

    Every tensor of the file must land in the net (a file for another net is an error).
    Returns the wrapped module names.
    """
    from safetensors.torch import load_file

    peft = import_peft()
    weights, config_file = _adapter_files(path)
    config = json.loads(config_file.read_text())
    if config.get("peft_type", "LORA") != "LORA":
        raise ValueError(
            f"{config_file}: peft_type={config.get('peft_type')!r}; only LoRA adapters are "
            "supported"
        )
    spec = LoraSpec(
        rank=int(config["r"]),
        alpha=config["lora_alpha"],
        target_modules=parse_target_modules(config["target_modules"]),
        init_lora_weights=True,
    )
    selected = check_target_modules(net, spec.target_modules)
    with warnings.catch_warnings():  # several adapters on one net are the point here
        warnings.filterwarnings("ignore", message=".*multiple adapters.*")
        peft.inject_adapter_in_model(spec.peft_config(), net, adapter_name=adapter_name)
    tensors = {k.removeprefix(PEFT_PREFIX): v for k, v in load_file(str(weights)).items()}
    own = {
        n: p for n, p in net.named_parameters() if f".{adapter_name}." in n and is_adapter_key(n)
    }
    placed = set()
    for key, value in tensors.items():
        module, _, leaf = key.rpartition(".")  # ...q_proj.lora_A . weight
        target = f"{module}.{adapter_name}.{leaf}"
        if target not in own:
            raise ValueError(
                f"LoRA adapter {weights}: tensor {key!r} has no place in this net (no module "
                f"{module!r})"
            )
        if tuple(own[target].shape) != tuple(value.shape):
            raise ValueError(
                f"LoRA adapter {weights}: {key!r} is {tuple(value.shape)} but the net's is "
                f"{tuple(own[target].shape)}"
            )
        own[target].copy_(value)
        placed.add(target)
    unset = sorted(set(own) - placed)
    if unset:
        raise ValueError(
            f"LoRA adapter {weights} lacks {len(unset)} tensors the net expects, e.g. {unset[:3]}"
        )
    for layer in _lora_layers(net).values():
        if adapter_name in layer.lora_A:
            layer.set_scale(adapter_name, float(scale))
    return sorted({n for hits in selected.values() for n in hits})


def _activate_all(net: nn.Module) -> None:
    for layer in _lora_layers(net).values():
        layer.set_adapter(sorted(layer.lora_A.keys()), inference_mode=True)


@torch.no_grad()
def merge_and_unload(net: nn.Module) -> nn.Module:
    """Folds every active adapter into its base Linear and puts the plain Linear back in place."""
    for name, layer in sorted(_lora_layers(net).items(), key=lambda kv: -kv[0].count(".")):
        layer.merge(adapter_names=list(layer.active_adapters))
        parent_name, _, child = name.rpartition(".")
        parent = net.get_submodule(parent_name) if parent_name else net
        setattr(parent, child, layer.get_base_layer())
    return net


def apply_loras(
    net: nn.Module, loras: Sequence[tuple[str | os.PathLike, float]], *, merge: bool = False
) -> nn.Module:
    """Loads several PEFT adapters onto a plain ``net`` (inference); their effects add up.

    Args:
        net: a net with its base weights loaded.
        loras: ``(path, scale)`` pairs (``generate.py --lora PATH[:SCALE]``, repeatable).
        merge: fold them into the weights (no per-step cost) instead of running them alongside.
    """
    for i, (path, scale) in enumerate(loras):
        wrapped = load_adapter_file(net, path, adapter_name=f"lora{i}", scale=scale)
        log.info("LoRA %s (scale %s) on %d modules", path, scale, len(wrapped))
    if loras:
        _activate_all(net)
        net.requires_grad_(False)
        if merge:
            merge_and_unload(net)
    return net


def apply_loras_to_model(
    model: Any, loras: Sequence[tuple[str | os.PathLike, float]], *, ema: bool = True
) -> Any:
    """``generate.py --lora``: folds adapters into a loaded model's sampling weights.

    The sampling weights are fixed first (the EMA weights when ``ema`` and the model has them,
    copied into ``net``; ``net_ema`` is then dropped), and the adapters are merged into ``net``
    (``W + sum_i scale_i * delta_i``: no per-step cost), so regular and EMA sampling cannot
    disagree about them.
    """
    if not loras:
        return model
    from cosmos_train.optim.ema import copy_params

    if getattr(model, "net_ema", None) is not None:
        if ema:
            copy_params(model.net_ema, model.net)
        del model._modules["net_ema"]
        model.ema = None
    apply_loras(model.net, loras, merge=True)
    return model


# ---------------------------------------------------------------------------------------------
# Export of a LoRA run's DCP checkpoint


def load_lora_checkpoint(
    source: str | os.PathLike,
) -> tuple[nn.Module, LoraSetup, dict[str, dict[str, torch.Tensor]], Path]:
    """Rebuilds a LoRA run's net from its checkpoint (one process, no process group).

    The net comes from the checkpoint's ``config.yaml``, its base from the recorded reference
    (fingerprint verified), the adapters from the DCP ``model`` directory.

    Returns:
        ``(net, setup, adapters, checkpoint_dir)``: the LoRA net holding the regular adapters,
        its :class:`LoraSetup`, ``{"regular": {param name: tensor}, "ema": {...}}`` (``"ema"``
        only when the run has EMA) and the resolved ``iter_*`` directory.
    """
    import torch.distributed.checkpoint as dcp

    import lazycfg
    from cosmos_train.checkpoint.dcp import (
        CONFIG_FILE,
        MODEL_INFO_FILE,
        CheckpointError,
        _quiet_single_process,
    )
    from cosmos_train.checkpoint.export import resolve_checkpoint_dir
    from cosmos_train.model.video2world import build_component

    src = resolve_checkpoint_dir(source)
    info_file, config_file = src / MODEL_INFO_FILE, src / CONFIG_FILE
    if not info_file.is_file() or "lora" not in json.loads(info_file.read_text()):
        raise CheckpointError(
            f"{src} is not a LoRA run's checkpoint (no LoRA entry in {MODEL_INFO_FILE})"
        )
    if not config_file.is_file():
        raise CheckpointError(
            f"{src} has no {CONFIG_FILE}; the LoRA net cannot be rebuilt without the run's config"
        )
    info = json.loads(info_file.read_text())
    config = lazycfg.load(str(config_file))
    model_cfg = config.model.config
    setup = LoraSetup(
        LoraSpec.from_config(model_cfg), base_path=info["base"]["path"], allow_random_base=True
    )
    with torch.random.fork_rng():
        torch.manual_seed(
            int(config.trainer.seed)
        )  # the net builder's init seed: a random base is reproduced
        net = build_component(model_cfg.net, "model.config.net")
        with torch.no_grad():
            net.init_weights()
        setup.prepare(net)
    setup.verify_checkpoint_metadata(info, src)
    state = net.state_dict()
    keys = adapter_state_keys(net)
    stored = set(_dcp_keys(src / "model"))
    adapters: dict[str, dict[str, torch.Tensor]] = {}
    for kind, prefix in (("regular", "net."), ("ema", "net_ema.")):
        if not all(prefix + k in stored for k in keys):
            continue
        template = {prefix + k: state[k].clone() for k in keys}
        with _quiet_single_process():
            dcp.load(template, checkpoint_id=str(src / "model"), no_dist=True)
        adapters[kind] = {k[len(prefix) :]: v for k, v in template.items()}
    if "regular" not in adapters:
        raise CheckpointError(
            f"{src / 'model'} lacks the adapter weights of this net (e.g. net.{keys[0]})"
        )
    _copy_adapters(net, adapters["regular"])
    return net, setup, adapters, src


@torch.no_grad()
def _copy_adapters(net: nn.Module, values: Mapping[str, torch.Tensor]) -> None:
    own = dict(net.named_parameters())
    for name, value in values.items():
        own[name].copy_(value)


def export_lora_checkpoint(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    merged: bool,
    ema: bool = True,
    force: bool = False,
) -> dict[str, Path]:
    """Exports a LoRA run: merged full weights in Cosmos's release files, or a PEFT adapter.

    Args:
        source: a job directory, its ``checkpoints`` directory or an ``iter_*`` directory.
        out_dir: the directory to create (atomically; an existing one only with ``force``).
        merged: ``True``: ``model.pt`` (``net.*`` with the regular adapters folded in, plus
            ``net_ema.*`` with the EMA adapters folded in) and ``model_ema_fp32.pt`` /
            ``model_ema_bf16.pt`` (the EMA merge as ``net.*``), the released key set.
            ``False``: ``adapter_config.json`` + ``adapter_model.safetensors`` (PEFT's format) of
            the EMA adapters (the regular ones without EMA or with ``ema=False``).
        ema: use the EMA adapters where the run has them.
        force: replace an existing ``out_dir``.

    Returns:
        ``{file name: path}`` of what was written (``config.yaml`` and ``model_info.json`` of the
        run are copied along).
    """
    import shutil

    from cosmos_train.checkpoint.consolidated import save_consolidated
    from cosmos_train.checkpoint.dcp import CONFIG_FILE, MODEL_INFO_FILE, CheckpointError
    from cosmos_train.checkpoint.export import _publish

    out = Path(out_dir)
    if out.exists() and not force:
        raise CheckpointError(
            f"{out} already exists; pass --force (force=True) to replace it, or choose another "
            "directory"
        )
    net, setup, adapters, src = load_lora_checkpoint(source)
    use_ema = ema and "ema" in adapters
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        if merged:
            regular = merged_state_dict(net)
            ema_state = None
            if use_ema:
                _copy_adapters(net, adapters["ema"])
                ema_state = merged_state_dict(net)
            save_consolidated(
                tmp / "model.pt",
                net=_StateOnly(regular),
                net_ema=_StateOnly(ema_state) if ema_state else None,
                dtype=None,
            )
            if ema_state:
                save_consolidated(
                    tmp / "model_ema_fp32.pt", net=_StateOnly(ema_state), dtype=torch.float32
                )
                save_consolidated(
                    tmp / "model_ema_bf16.pt", net=_StateOnly(ema_state), dtype=torch.bfloat16
                )
        else:
            if use_ema:
                _copy_adapters(net, adapters["ema"])
            save_adapter(net, tmp, setup.spec)
        for name in (CONFIG_FILE, MODEL_INFO_FILE):
            if (src / name).is_file():
                shutil.copyfile(src / name, tmp / name)
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info(
        "exported LoRA checkpoint %s (%s, %s adapters) to %s",
        src,
        "merged" if merged else "adapter",
        "EMA" if use_ema else "regular",
        out,
    )
    return {p.name: p for p in sorted(out.iterdir())}


def _dcp_keys(model_dir: Path) -> list[str]:
    from torch.distributed.checkpoint import FileSystemReader

    return list(FileSystemReader(str(model_dir)).read_metadata().state_dict_metadata)


class _StateOnly(nn.Module):
    """Presents a ready state_dict to :func:`save_consolidated`."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self._state = state

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return dict(self._state)
