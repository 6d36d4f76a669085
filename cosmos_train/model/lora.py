"""LoRA post-training on PEFT, with Cosmos's config fields and a safe build order.

Cosmos Predict2.5 injects PEFT adapters (``add_lora``) into the net built on ``meta`` and loads the
base weights afterwards through a checkpointer that renames keys; a base that failed to load left
the adapters training on random weights without a word. Here the order is fixed and checked:

1. build the net (``meta`` -> materialised -> ``init_weights()``, by the net builder);
2. load the base weights (an official consolidated ``.pt`` or a DCP run of ours) into the *plain*
   net, so every key is checked by name and shape; record a fingerprint of the base;
3. inject the adapters (:func:`inject_lora`; every target pattern must match a module);
4. freeze the base (only adapter parameters train, in fp32);
5. shard (FSDP2), activation checkpointing and per-block compile, by the net builder.

A LoRA run without base weights is an error unless ``model.config.lora_allow_random_base=True``
(then logged as a warning). The optimizer and the EMA see only the adapters; checkpoints hold the
adapters, their optimizer and EMA state and a reference to the base (path and fingerprint, in
``<iter>/model_info.json``), never the base itself; resuming rebuilds the base from the reference
and refuses a base whose fingerprint differs.

Export, merge and inference loading of the adapters live in :mod:`cosmos_train.model.lora_export`
(its public names used by tools are importable from here too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "ADAPTER_WEIGHTS_FILE",
    "BaseReference",
    "DEFAULT_TARGET_MODULES",
    "LoraSetup",
    "LoraSpec",
    "ParamCount",
    "adapter_state_keys",
    "base_fingerprint",
    "build_adapter_ema",
    "check_lora_config",
    "check_target_modules",
    "count_parameters",
    "inject_lora",
    "is_adapter_key",
    "is_lora_net",
    "load_base_weights",
    "model_build_kwargs",
    "parse_target_modules",
    "uses_lora",
]

log = logging.getLogger(__name__)

#: Cosmos's default targets: attention q/k/v/output projections and both MLP layers.
DEFAULT_TARGET_MODULES = "q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2"
#: PEFT's file names (``PeftModel.save_pretrained``).
ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"
#: Prefix PEFT's ``PeftModel`` puts in front of module names in adapter files.
PEFT_PREFIX = "base_model.model."
ADAPTER_NAME = "default"
_ADAPTER_MARKERS = (
    ".lora_A.",
    ".lora_B.",
    ".lora_embedding_A.",
    ".lora_embedding_B.",
    ".lora_magnitude_vector.",
)
_FINGERPRINT_SAMPLES = 4096


def import_peft() -> Any:
    """The peft module, or an ImportError that says how to install it."""
    try:
        import peft
    except ImportError as exc:  # pragma: no cover - peft is in the dev extra
        raise ImportError(
            "LoRA needs the peft package: pip install 'lazycfg-cosmos-train[lora]' (or pip "
            "install peft safetensors)"
        ) from exc
    return peft


# ---------------------------------------------------------------------------------------------
# Config


def parse_target_modules(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"q_proj, mlp.layer1"`` (Cosmos's comma-separated string) or a list -> the patterns."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    targets = tuple(str(t).strip() for t in items if str(t).strip())
    if not targets:
        raise ValueError(
            f"model.config.lora_target_modules={spec!r} names no module; use module names such as "
            f"{DEFAULT_TARGET_MODULES!r} (Cosmos's default)"
        )
    return targets


@dataclasses.dataclass(frozen=True)
class LoraSpec:
    """What to inject: PEFT ``LoraConfig`` values with Cosmos's names."""

    rank: int = 32
    alpha: float = 32
    target_modules: tuple[str, ...] = parse_target_modules(DEFAULT_TARGET_MODULES)
    init_lora_weights: bool = True

    def __post_init__(self) -> None:
        if int(self.rank) <= 0:
            raise ValueError(f"model.config.lora_rank must be > 0, got {self.rank}")
        if float(self.alpha) <= 0:
            raise ValueError(f"model.config.lora_alpha must be > 0, got {self.alpha}")

    @classmethod
    def from_config(cls, config: Any) -> LoraSpec:
        """From a model config (``lora_rank``, ``lora_alpha``, ``lora_target_modules``,
        ``init_lora_weights``)."""
        return cls(
            rank=int(config.lora_rank),
            alpha=config.lora_alpha,
            target_modules=parse_target_modules(config.lora_target_modules),
            init_lora_weights=bool(config.init_lora_weights),
        )

    def peft_config(self) -> Any:
        return import_peft().LoraConfig(
            r=int(self.rank),
            lora_alpha=self.alpha,
            target_modules=list(self.target_modules),
            init_lora_weights=self.init_lora_weights,
        )


def uses_lora(config: Any) -> bool:
    """Whether a run config trains LoRA adapters (``model.config.use_lora``)."""
    model_cfg = getattr(getattr(config, "model", None), "config", None)
    return bool(getattr(model_cfg, "use_lora", False))


def model_build_kwargs(config: Any) -> dict[str, Any]:
    """Extra keyword arguments for building ``config.model``: a LoRA model's base weights
    (``checkpoint.load_path``), loaded before the adapters are injected."""
    return {"base_checkpoint": config.checkpoint.load_path} if uses_lora(config) else {}


def check_lora_config(config: Any) -> None:
    """Fails fast (``ConfigError``, before data or weights are touched) on a LoRA run without base
    weights or with target patterns that match no module of the selected net (built on ``meta``)."""
    if not uses_lora(config):
        return
    from lazycfg import ConfigError

    model_cfg = config.model.config
    if not config.checkpoint.load_path and not model_cfg.lora_allow_random_base:
        raise ConfigError(
            "model.config.use_lora=True but checkpoint.load_path is empty: LoRA trains adapters "
            "on a pretrained "
            "base. Set checkpoint.load_path to the base weights (a consolidated .pt such as the "
            "released "
            "model_ema_bf16.pt, or a DCP checkpoint directory of a run), or set "
            "model.config.lora_allow_random_base=True to train on a random base on purpose",
            "checkpoint.load_path",
        )
    from cosmos_train.model.video2world import build_component

    try:
        spec = LoraSpec.from_config(model_cfg)
        with torch.device("meta"):
            net = build_component(model_cfg.net, "model.config.net")
        check_target_modules(net, spec.target_modules)
    except ValueError as exc:
        raise ConfigError(str(exc), "model.config.lora_target_modules") from None


# ---------------------------------------------------------------------------------------------
# Target check and injection


def _matches(name: str, pattern: str) -> bool:
    """PEFT's rule for a list of target names: the full name or a ``.``-separated suffix."""
    return name == pattern or name.endswith("." + pattern)


def _collapse(name: str) -> str:
    """``blocks.3.self_attn.q_proj`` -> ``blocks.*.self_attn.q_proj`` (for short listings)."""
    return ".".join("*" if part.isdigit() else part for part in name.split("."))


def _linear_names(net: nn.Module) -> list[str]:
    """Modules an adapter can go on: Linear layers, and LoRA layers (one more adapter), but not
    the parts PEFT put inside a LoRA layer (``base_layer``, ``lora_A``...)."""
    from peft.tuners.lora import LoraLayer

    def inside_lora(name: str) -> bool:
        return any(part == "base_layer" or part.startswith("lora_") for part in name.split("."))

    return [
        n
        for n, m in net.named_modules()
        if n and isinstance(m, (nn.Linear, LoraLayer)) and not inside_lora(n)
    ]


def check_target_modules(net: nn.Module, targets: Iterable[str]) -> dict[str, list[str]]:
    """Which modules each target pattern selects; an error when a pattern selects none.

    Matching follows PEFT (a pattern matches a module whose name equals it or ends with
    ``"." + pattern``), so what passes here is exactly what :func:`inject_lora` wraps.

    Raises:
        ValueError: a pattern matches no module, or matches a module that is not ``nn.Linear``
            or whose weight the net applies without calling the module (AdaLN modulation under the
            Wan fp32 strategy); the message lists the net's Linear module names.
    """
    linears = set(_linear_names(net))
    names = [
        n
        for n, _ in net.named_modules()
        if n and (n in linears or ".base_layer" not in n and ".lora_" not in n)
    ]
    fp32_direct = bool(getattr(net, "use_wan_fp32_strategy", False))
    selected: dict[str, list[str]] = {}
    problems: list[str] = []
    for pattern in targets:
        hits = [n for n in names if _matches(n, pattern)]
        if not hits:
            problems.append(f"{pattern!r} matches no module")
            continue
        bad = [n for n in hits if n not in linears]
        if bad:
            problems.append(
                f"{pattern!r} matches non-Linear modules {sorted({_collapse(b) for b in bad})[:5]}"
            )
        direct = [n for n in hits if fp32_direct and "adaln_modulation" in n]
        if direct:
            problems.append(
                f"{pattern!r} matches AdaLN modulation layers, whose weights this net applies "
                "directly in fp32 "
                "(use_wan_fp32_strategy): an adapter there would never run"
            )
        selected[pattern] = hits
    if problems:
        listing = "\n".join(f"    {n}" for n in sorted({_collapse(n) for n in linears}))
        raise ValueError(
            "model.config.lora_target_modules: "
            + "; ".join(problems)
            + ". A pattern selects modules whose name "
            "equals it or ends with '.<pattern>'. The net's Linear modules are:\n" + listing + "\n"
            f"Cosmos's default is {DEFAULT_TARGET_MODULES!r}."
        )
    return selected


def inject_lora(net: nn.Module, spec: LoraSpec, *, adapter_name: str = ADAPTER_NAME) -> list[str]:
    """Checks the targets, injects PEFT LoRA layers, freezes everything else; returns wrapped names.

    Adapter parameters are fp32 (as Cosmos upcasts them) and the only ones with ``requires_grad``.
    """
    peft = import_peft()
    selected = check_target_modules(net, spec.target_modules)
    peft.inject_adapter_in_model(spec.peft_config(), net, adapter_name=adapter_name)
    wrapped = sorted({n for hits in selected.values() for n in hits})
    for name, param in net.named_parameters():
        adapter = is_adapter_key(name)
        param.requires_grad_(adapter)
        if adapter and param.dtype != torch.float32:
            param.data = param.data.float()
    return wrapped


def is_adapter_key(key: str) -> bool:
    """Whether a parameter or state_dict key belongs to an adapter (``x.lora_A.default.weight``)."""
    return any(marker in "." + key for marker in _ADAPTER_MARKERS)


def is_lora_net(net: nn.Module) -> bool:
    """Whether ``net`` holds PEFT LoRA layers."""
    from peft.tuners.lora import LoraLayer

    return any(isinstance(m, LoraLayer) for m in net.modules())


def adapter_state_keys(net: nn.Module) -> list[str]:
    """The adapter entries of ``net.state_dict()``."""
    return [k for k in net.state_dict() if is_adapter_key(k)]


def base_key(key: str) -> str:
    """A LoRA net's key in the plain net's layout (``x.base_layer.weight`` -> ``x.weight``)."""
    return key.replace(".base_layer.", ".")


@dataclasses.dataclass(frozen=True)
class ParamCount:
    """Parameter counts of a net (global counts: FSDP2 DTensors count in full)."""

    trainable: int
    frozen: int

    @property
    def total(self) -> int:
        return self.trainable + self.frozen

    @property
    def trainable_fraction(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return (
            f"{self.total:,} parameters: {self.trainable:,} trainable "
            f"({100 * self.trainable_fraction:.3f}%), "
            f"{self.frozen:,} frozen"
        )


def count_parameters(net: nn.Module) -> ParamCount:
    """Trainable and frozen parameter counts of ``net``."""
    trainable = frozen = 0
    for p in net.parameters():
        if p.requires_grad:
            trainable += p.numel()
        else:
            frozen += p.numel()
    return ParamCount(trainable, frozen)


# ---------------------------------------------------------------------------------------------
# Base weights


@dataclasses.dataclass(frozen=True)
class BaseReference:
    """Where a LoRA run's base weights came from, and a fingerprint of them.

    ``path`` is empty for a deliberately random base (``lora_allow_random_base``); the fingerprint
    then identifies the seeded initialisation.
    """

    path: str
    fingerprint: str
    kind: str  # "consolidated", "dcp" or "random"

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaseReference:
        return cls(
            path=str(data["path"]), fingerprint=str(data["fingerprint"]), kind=str(data["kind"])
        )


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """``t`` itself, or the whole tensor gathered from the ranks for a DTensor."""
    full = getattr(t, "full_tensor", None)
    return full() if callable(full) else t


@torch.no_grad()
def base_fingerprint(net: nn.Module) -> str:
    """A sha256 over the base weights: every key, dtype and shape, and up to 4096 evenly spaced
    values per tensor (cheap for a 2B net, and independent of the file format the weights came
    from). Adapter entries are left out and ``base_layer`` names mapped to the plain layout, so
    the fingerprint is the same before and after injection."""
    h = hashlib.sha256()
    state = {
        base_key(k): v
        for k, v in net.state_dict().items()
        if not is_adapter_key(k) and torch.is_tensor(v)
    }
    for key in sorted(state):
        t = full_tensor(state[key]).detach()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        flat = t.reshape(-1)
        if flat.numel() == 0:
            continue
        step = max(1, flat.numel() // _FINGERPRINT_SAMPLES)
        h.update(flat[::step][:_FINGERPRINT_SAMPLES].to(torch.float64).cpu().numpy().tobytes())
    return h.hexdigest()


def _resolve_dcp_dir(path: Path) -> Path:
    from cosmos_train.checkpoint.export import resolve_checkpoint_dir

    return resolve_checkpoint_dir(path)


@torch.no_grad()
def load_base_weights(
    net: nn.Module, path: str | os.PathLike, *, strict: bool = True
) -> BaseReference:
    """Loads base weights into a plain (not yet injected, not sharded) ``net``.

    Args:
        net: the materialised net.
        path: an official consolidated ``.pt`` (``model.pt``, ``model_ema_fp32.pt``, ...; a local
            path, a catalogue name such as ``nvidia/Cosmos-Predict2.5-2B/base/pre-trained`` or an
            ``hf://`` spec, resolved through the hub cache) or a DCP run of ours (a job, its
            ``checkpoints`` or an ``iter_*`` directory); from a DCP run the regular ``net.*``
            weights are loaded.
        strict: every key and shape must match (the error lists the differences).

    Returns:
        The :class:`BaseReference` (path and fingerprint) recorded in the run's checkpoints.
    """
    from cosmos_train.checkpoint.dcp import CheckpointError, _local_load_path

    p = _local_load_path(str(path))  # catalogue names and hf:// specs come from the hub cache
    if p.is_file():
        from cosmos_train.checkpoint.consolidated import CheckpointMismatchError, load_consolidated

        try:
            report = load_consolidated(p, net=net, strict=strict, ema="skip")
        except CheckpointMismatchError as exc:
            raise CheckpointError(f"LoRA base (checkpoint.load_path): {exc}") from None
        log.info("LoRA base: loaded %d tensors from %s", report.net_loaded, p)
        kind = "consolidated"
    elif p.is_dir():
        src = _resolve_dcp_dir(p)
        if not (src / "model" / ".metadata").is_file():
            raise CheckpointError(
                f"LoRA base {path}: not a consolidated .pt file nor a DCP checkpoint (no "
                f"{src / 'model' / '.metadata'}); "
                "set checkpoint.load_path to the base weights"
            )
        _load_dcp_net(net, src / "model", strict=strict)
        log.info("LoRA base: loaded the net weights of %s", src)
        p, kind = src, "dcp"
    else:
        raise CheckpointError(
            f"LoRA base weights not found: checkpoint.load_path={str(path)!r} does not exist; "
            "point it at the base "
            "net (a consolidated .pt such as the released model_ema_bf16.pt, or a DCP checkpoint "
            "directory)"
        )
    return BaseReference(path=str(p.resolve()), fingerprint=base_fingerprint(net), kind=kind)


def _load_dcp_net(net: nn.Module, model_dir: Path, *, strict: bool) -> None:
    import torch.distributed.checkpoint as dcp

    from cosmos_train.checkpoint.dcp import (
        CheckpointError,
        _compare_with_metadata,
        _format_mismatch,
        _quiet_single_process,
    )

    template = {"net." + k: v for k, v in net.state_dict().items()}
    missing, unexpected, mismatched = _compare_with_metadata(template, model_dir, "model")
    unexpected = [k for k in unexpected if k.startswith("net.")]  # net_ema.* is not the base
    if missing and any(is_adapter_key(k) for k in unexpected):
        raise CheckpointError(
            f"LoRA base {model_dir.parent} is itself a LoRA run (adapters only, no base weights); "
            "export it merged "
            "(lora_export.export_lora_checkpoint(..., merged=True)) and use that file as "
            "checkpoint.load_path"
        )
    if strict and (missing or unexpected or mismatched):
        raise CheckpointError(_format_mismatch("model", model_dir, missing, unexpected, mismatched))
    skip = set(missing) | {m.split(":", 1)[0] for m in mismatched}
    template = {k: v for k, v in template.items() if k not in skip}
    with _quiet_single_process():
        dcp.load(template, checkpoint_id=str(model_dir), no_dist=True)
    net.load_state_dict({k[len("net.") :]: v for k, v in template.items()}, strict=False)


# ---------------------------------------------------------------------------------------------
# The model's LoRA setup


class LoraSetup:
    """The LoRA part of a model: checks the config, then prepares the net in the fixed order.

    Args:
        spec: what to inject.
        base_path: the base weights (``checkpoint.load_path``); empty means none.
        allow_random_base: train adapters on the net's random initialisation (logged).
    """

    def __init__(
        self,
        spec: LoraSpec,
        *,
        base_path: str | os.PathLike | None,
        allow_random_base: bool = False,
    ) -> None:
        self.spec = spec
        self.base_path = str(base_path or "")
        self.allow_random_base = bool(allow_random_base)
        self.base: BaseReference | None = None
        self.wrapped: list[str] = []
        if not self.base_path and not self.allow_random_base:
            raise ValueError(
                "model.config.use_lora=True but no base weights are given: LoRA trains adapters "
                "on top of a "
                "pretrained net. Set checkpoint.load_path to the base (a consolidated .pt, e.g. "
                "the released "
                "model_ema_bf16.pt, or a DCP checkpoint of a run), or set "
                "model.config.lora_allow_random_base=True "
                "to train adapters on a randomly initialised net on purpose"
            )

    @classmethod
    def from_config(cls, config: Any, base_path: str | os.PathLike | None) -> LoraSetup:
        return cls(
            LoraSpec.from_config(config),
            base_path=base_path,
            allow_random_base=config.lora_allow_random_base,
        )

    def prepare(self, net: nn.Module) -> nn.Module:
        """Steps 2-4 on a materialised, initialised, unsharded net: load base, inject, freeze."""
        if self.base_path:
            self.base = load_base_weights(net, self.base_path)
        else:
            log.warning(
                "LoRA on a RANDOMLY INITIALISED base (model.config.lora_allow_random_base=True): "
                "no base weights "
                "were loaded; the adapters learn on top of random weights"
            )
            self.base = BaseReference(path="", fingerprint=base_fingerprint(net), kind="random")
        self.wrapped = inject_lora(net, self.spec)
        log.info(
            "LoRA: rank %d, alpha %s on %d modules (%s); net %s",
            self.spec.rank,
            self.spec.alpha,
            len(self.wrapped),
            ",".join(self.spec.target_modules),
            count_parameters(net),
        )
        return net

    def checkpoint_metadata(self) -> dict[str, Any]:
        """What a checkpoint records about the base (``model_info.json``)."""
        if self.base is None:
            return {}
        return {
            "lora": {
                "rank": self.spec.rank,
                "alpha": self.spec.alpha,
                "target_modules": list(self.spec.target_modules),
            },
            "base": self.base.to_dict(),
        }

    def verify_checkpoint_metadata(self, meta: Mapping[str, Any], path: str | os.PathLike) -> None:
        """Refuses to resume adapters onto a base other than the one they were trained on."""
        from cosmos_train.checkpoint.dcp import MODEL_INFO_FILE, CheckpointError

        saved = meta.get("base") if isinstance(meta, Mapping) else None
        if not saved:
            raise CheckpointError(
                f"{path} holds no LoRA base reference ({MODEL_INFO_FILE}); it was not written by "
                "a LoRA run of this "
                "model. Start a new job (job.name=...) or resume with the config that wrote it"
            )
        ref = BaseReference.from_dict(saved)
        if self.base is None or ref.fingerprint != self.base.fingerprint:
            now = self.base.path if self.base is not None else "?"
            raise CheckpointError(
                f"the LoRA checkpoint {path} was trained on base {ref.path or '(random init)'} "
                "(fingerprint "
                f"{ref.fingerprint[:12]}), but this run's base {now or '(random init)'} has "
                "fingerprint "
                f"{self.base.fingerprint[:12] if self.base else '?'}: the adapters only make "
                "sense on their base. "
                "Point checkpoint.load_path at the original base weights, or start a new job "
                "(job.name=...)"
            )

    @staticmethod
    def frozen_state_keys(model_state_keys: Iterable[str]) -> frozenset[str]:
        """The ``net.*`` entries checkpoints leave out: everything of the net but its adapters."""
        return frozenset(
            k for k in model_state_keys if k.startswith("net.") and not is_adapter_key(k)
        )


# ---------------------------------------------------------------------------------------------
# EMA of the adapters


def _set_nested(root: nn.Module, name: str, param: nn.Parameter) -> None:
    *path, leaf = name.split(".")
    module = root
    for part in path:
        child = module._modules.get(part)
        if child is None:
            child = nn.Module()
            module.add_module(part, child)
        module = child
    module.register_parameter(leaf, param)


@torch.no_grad()
def build_adapter_ema(net: nn.Module) -> nn.Module:
    """An fp32 module holding a copy of ``net``'s trainable (adapter) parameters under the same
    names, for the power EMA: the frozen base is not duplicated. Sharded (DTensor) parameters are
    copied with their placements, so the EMA stays sharded like the net."""
    from cosmos_train.optim.ema import canonical_param_name

    ema = nn.Module()
    for name, p in net.named_parameters():
        if p.requires_grad:
            _set_nested(
                ema,
                canonical_param_name(name),
                nn.Parameter(p.detach().clone().float(), requires_grad=False),
            )
    return ema


def __getattr__(name: str) -> Any:
    # The export side's public names (``lora_export.__all__``) stay reachable from here
    # (tools/generate.py, tools/export_checkpoint.py and the README use ``lora.<name>``). Lazy,
    # because lora_export imports this module.
    if not name.startswith("_"):
        from cosmos_train.model import lora_export

        if name in lora_export.__all__:
            return getattr(lora_export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
