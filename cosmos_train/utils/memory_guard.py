"""Refuse a run whose model state cannot fit, before building it.

The estimate is a lower bound: fp32 parameters (the nets keep fp32 master weights and compute
under autocast), the gradients, AdamW's two moments and, with EMA on, the fp32 EMA copy of the
trained parameters (all of them; only the adapters with LoRA), divided by the FSDP shard count.
Activations, the tokenizer, the text encoder and allocator slack come on top, so a run refused
here could never have trained; one that passes may still run out later.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from lazycfg import ConfigError

__all__ = ["MemoryEstimate", "available_bytes", "check_training_memory", "estimate_training_memory"]

_GIB = 2**30
#: Bytes per trained parameter: fp32 weight + fp32 gradient + AdamW exp_avg and exp_avg_sq.
_BYTES_PARAM, _BYTES_GRAD, _BYTES_ADAM = 4, 4, 8


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Per-rank bytes of the model state (see the module docstring)."""

    num_params: int
    shards: int
    ema: bool
    #: Parameters with gradients, AdamW state and EMA (fewer than ``num_params`` with LoRA).
    num_trainable: int | None = None

    @property
    def per_rank(self) -> int:
        trainable = self.num_params if self.num_trainable is None else self.num_trainable
        per_trained = _BYTES_GRAD + _BYTES_ADAM + (_BYTES_PARAM if self.ema else 0)
        return (self.num_params * _BYTES_PARAM + trainable * per_trained) // self.shards

    def describe(self) -> str:
        ema = " + fp32 EMA copy" if self.ema else ""
        shards = f", sharded {self.shards} ways" if self.shards > 1 else ""
        count = (
            f"{self.num_params / 1e9:.2f}B"
            if self.num_params >= 1e8
            else f"{self.num_params / 1e6:.2f}M"
        )
        return (
            f"{count} parameters need at least {_size(self.per_rank)} per rank "
            f"(fp32 weights, gradients and AdamW state{ema}{shards}; activations not counted)"
        )


def _size(num_bytes: int) -> str:
    return (
        f"{num_bytes / _GIB:.1f} GiB" if num_bytes >= _GIB // 10 else f"{num_bytes / 2**20:.1f} MiB"
    )


def _net_parameters(config: Any) -> tuple[int, int]:
    """(all, trainable) parameters of the net; a LoRA run trains only its adapters."""
    import torch

    from cosmos_train.utils.build import instantiate_at

    model_config = config.model.config
    with torch.device("meta"):
        net = instantiate_at(model_config.net, "model.config.net")
        if getattr(model_config, "use_lora", False):
            from cosmos_train.model.lora import LoraSpec, inject_lora

            inject_lora(net, LoraSpec.from_config(model_config))
    params = list(net.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def estimate_training_memory(config: Any, *, shards: int = 1) -> MemoryEstimate | None:
    """The model-state estimate for ``config`` (None when the model has no ``config.net``)."""
    model_config = getattr(config.model, "config", None)
    if model_config is None or getattr(model_config, "net", None) is None:
        return None
    ema = getattr(model_config, "ema", None)
    num_params, num_trainable = _net_parameters(config)
    return MemoryEstimate(
        num_params=num_params,
        num_trainable=None if num_trainable == num_params else num_trainable,
        shards=max(1, int(shards)),
        ema=bool(getattr(ema, "enabled", False)),
    )


def available_bytes(device: Any) -> int | None:
    """Free memory on ``device`` for this process (CUDA: free device memory; CPU: MemAvailable)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_training_memory(
    config: Any, *, device: Any, shards: int = 1, ranks_sharing: int = 1
) -> MemoryEstimate | None:
    """Raises a ``ConfigError`` with the estimate and the fix when the model state cannot fit.

    Args:
        config: the run config.
        device: the device the model will train on.
        shards: FSDP shard count (1 for DDP or one process).
        ranks_sharing: ranks whose state lives in the same memory (CPU ranks on one machine).
    """
    estimate = estimate_training_memory(config, shards=shards)
    if estimate is None:
        return None
    free = available_bytes(device)
    need = estimate.per_rank * max(1, ranks_sharing)
    if free is None or need <= free:
        return estimate
    sharing = f" x {ranks_sharing} ranks on this machine" if ranks_sharing > 1 else ""
    raise ConfigError(
        f"the model cannot fit: {estimate.describe()}{sharing}, but only {free / _GIB:.1f} GiB "
        "are free "
        f"on {device}. Train on devices with more memory, shard the model over more GPUs "
        "(trainer.distributed_parallelism=fsdp with more ranks), use a smaller net (net=tiny fits "
        "a CPU), turn EMA off (model.config.ema.enabled=false), or, if this estimate is wrong for "
        "your setup, skip "
        "the check with trainer.memory_check=false",
        "trainer.memory_check",
    )
