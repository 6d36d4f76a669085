"""Power EMA of EDM2 (Karras et al. 2024), as Cosmos Predict2 applies it to ``net_ema``.

``gamma`` is the largest real root of ``x^3 + 7x^2 + (16 - s^-2)x + (12 - s^-2)``; the decay at
iteration ``it`` (after ``iteration_shift``) is ``beta = (1 - 1/(it+1))^(gamma+1)``, with
``beta = 0`` for ``it < 1`` so the first update copies the net. Only parameters are averaged
(buffers are not), and the update works on local shards (``DTensor.to_local()``), so FSDP needs
no communication.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

__all__ = [
    "PowerEMA",
    "canonical_param_name",
    "copy_params",
    "matched_params",
    "power_ema_gamma",
    "reshard_fsdp",
    "swapped_weights",
]

# Wrappers that activation checkpointing, torch.compile, DDP and FSDP1 insert into parameter names.
_WRAPPER_PREFIXES = ("_checkpoint_wrapped_module.", "_orig_mod.", "_fsdp_wrapped_module.")


def power_ema_gamma(s: float) -> float:
    """Exponent ``gamma`` of the power EMA with relative standard deviation ``s`` (EDM2 eq. 3)."""
    if not 0.0 < s < 1.0:
        raise ValueError(f"power EMA rate s must be in (0, 1), got {s}; Cosmos uses 0.1")
    return float(np.roots([1.0, 7.0, 16.0 - s**-2, 12.0 - s**-2]).real.max())


def _local(t: torch.Tensor) -> torch.Tensor:
    """The local shard of a DTensor (no communication), else ``t`` itself."""
    to_local = getattr(t, "to_local", None)
    return to_local() if callable(to_local) else t


def canonical_param_name(name: str) -> str:
    """A parameter name without the segments AC, compile, DDP and FSDP1 wrappers insert."""
    for prefix in _WRAPPER_PREFIXES:
        name = name.replace(prefix, "")
    return name


_clean_name = canonical_param_name


def matched_params(src: nn.Module, tgt: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Local tensors of ``src`` and ``tgt`` parameters paired by name (wrapper prefixes ignored).

    Frozen parameters of ``src`` that ``tgt`` lacks are not paired (an EMA of the trainable part).

    Raises:
        ValueError: the two modules do not have the same parameter names and shapes.
    """
    src_named = {_clean_name(n): p for n, p in src.named_parameters()}
    tgt_named = {_clean_name(n): p for n, p in tgt.named_parameters()}
    # An EMA may leave out frozen parameters (a LoRA run averages only its adapters).
    untracked = {n for n in src_named.keys() - tgt_named.keys() if not src_named[n].requires_grad}
    src_named = {n: p for n, p in src_named.items() if n not in untracked}
    if src_named.keys() != tgt_named.keys():
        missing = sorted(src_named.keys() - tgt_named.keys())[:5]
        extra = sorted(tgt_named.keys() - src_named.keys())[:5]
        raise ValueError(
            f"EMA net and net have different parameters (only in net: {missing}, only in EMA: "
            f"{extra}); build both from the same net config"
        )
    src_list, tgt_list = [], []
    for name, p_src in src_named.items():
        a, b = _local(p_src.detach()), _local(tgt_named[name].detach())
        if a.shape != b.shape:
            raise ValueError(
                f"EMA parameter {name!r} has local shape {tuple(b.shape)} but the net has "
                f"{tuple(a.shape)}; shard net and net_ema the same way"
            )
        src_list.append(a)
        tgt_list.append(b)
    return src_list, tgt_list


@torch.no_grad()
def copy_params(src: nn.Module, tgt: nn.Module) -> None:
    """Copies ``src``'s parameters into ``tgt`` (local shards, dtype converted)."""
    reshard_fsdp(src)
    reshard_fsdp(tgt)
    src_list, tgt_list = matched_params(src, tgt)
    for a, b in zip(src_list, tgt_list):
        b.copy_(a)


class PowerEMA:
    """Power-function EMA with rate ``s`` (Cosmos ``EMAConfig.rate``).

    Args:
        s: relative standard deviation of the averaging profile (0.1 in Cosmos).
        iteration_shift: added to the iteration before computing ``beta``.
    """

    def __init__(self, *, s: float = 0.1, iteration_shift: int = 0) -> None:
        self.s = float(s)
        self.iteration_shift = int(iteration_shift)
        self.gamma = power_ema_gamma(self.s)

    def beta(self, iteration: int) -> float:
        """Decay for the update made at (pre-increment) ``iteration``; 0 before iteration 1."""
        it = iteration + self.iteration_shift
        if it < 1:
            return 0.0
        return (1.0 - 1.0 / (it + 1)) ** (self.gamma + 1.0)

    @torch.no_grad()
    def update(self, src_net: nn.Module, ema_net: nn.Module, iteration: int) -> float:
        """``ema <- beta * ema + (1 - beta) * net`` on every parameter; returns ``beta``."""
        beta = self.beta(iteration)
        # After a forward without backward FSDP2 may still hold unsharded params; average the
        # shards.
        reshard_fsdp(src_net)
        reshard_fsdp(ema_net)
        src_list, tgt_list = matched_params(src_net, ema_net)
        if beta == 0.0:
            # Exact copy: lerp with weight 1 can differ from the source by one ulp.
            for a, b in zip(src_list, tgt_list):
                b.copy_(a)
            return beta
        # foreach kernels need matching dtypes; the EMA is fp32 while the net may be bf16.
        src_cast = [a if a.dtype == b.dtype else a.to(b.dtype) for a, b in zip(src_list, tgt_list)]
        torch._foreach_lerp_(tgt_list, src_cast, 1.0 - beta)
        return beta


def reshard_fsdp(net: nn.Module) -> None:
    """Frees FSDP2 unsharded parameters so writes to the sharded ones are seen (pytorch#144289)."""
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # pragma: no cover - torch built without distributed
        return
    for module in net.modules():
        if isinstance(module, FSDPModule):
            module.reshard()


@contextlib.contextmanager
def swapped_weights(net: nn.Module, ema_net: nn.Module) -> Iterator[None]:
    """Runs the block with ``ema_net``'s parameters inside ``net``, then restores ``net``.

    The regular weights are cached as local clones on their own device (Cosmos caches on CUDA too).
    """
    reshard_fsdp(net)
    net_list, ema_list = matched_params(net, ema_net)
    cache = [p.clone() for p in net_list]
    with torch.no_grad():
        for p, e in zip(net_list, ema_list):
            p.copy_(e)
    try:
        yield
    finally:
        reshard_fsdp(net)
        with torch.no_grad():
            for p, c in zip(net_list, cache):
                p.copy_(c)
