"""Activation checkpointing for the DiT: full per-block recompute or selective (SAC) policies.

Modes:

- ``"none"``: keep every activation.
- ``"block"``: full recompute of each wrapped block in backward (Cosmos ``block_wise``).
- ``"selective"``: keep the attention (SDPA) outputs, recompute everything else (Cosmos
  ``predict2_*_720_aggressive``). Recomputing a block then costs no attention FLOPs.
- ``"selective_mlp"``: keep the attention outputs and the MLP matmul outputs (both are
  rectangular matmuls, told apart from the square q/k/v/o projections by shape; the tiny per-frame
  AdaLN and text k/v matmuls are rectangular too and kept). Recomputes only the q/k/v/o
  projections and elementwise work: ~5 extra ``[N, D]`` tensors per block over ``"selective"``.
- ``"selective_down"``: keep the attention outputs and the MLP down-projection output (the matmul
  with the most FLOPs per saved byte: ``8 D`` per element); one extra ``[N, D]`` per block.
- ``"mm_only"``: keep matmul and attention outputs (Cosmos ``mm_only``); recompute the cheap
  elementwise work only.

Measured on one H100 (torch 2.11), Predict2.5-2B at 480p (37,440 tokens), batch 1, fp32 master
weights, bf16 autocast, fused AdamW, EMA, per-block ``torch.compile``: ``selective`` 3.09 s/step
(44.2% MFU, 50.5 GiB peak), ``selective_down`` 3.03 s (45.0%, 54.4 GiB), ``selective_mlp`` 2.97 s
(45.9%, 69.7 GiB); ``mm_only`` runs out of memory; eager ``block`` 4.31 s (31.7%, no EMA). At 720p
``selective`` + compile + EMA: 12.5 s/step (46.8%), 75.4 GiB peak.

Our blocks carry an ``ac_mode`` attribute that their ``forward`` honours, so parameter names and
state_dict keys never gain a ``_checkpoint_wrapped_module.`` segment and a block stays
``torch.compile(fullgraph=True)``-able (the non-reentrant checkpoint is traced as one HOP).
Modules without ``ac_mode`` fall back to torch's ``checkpoint_wrapper``, whose state_dict hooks
strip its prefix.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import (
    CheckpointPolicy,
    checkpoint,
    create_selective_checkpoint_contexts,
)

__all__ = [
    "AC_MODES",
    "COSMOS_SAC_MODES",
    "apply_activation_checkpointing",
    "normalize_ac_mode",
    "run_with_activation_checkpointing",
    "saved_ops",
]

AC_MODES = ("none", "block", "selective", "selective_mlp", "selective_down", "mm_only")

#: Cosmos ``SACConfig.mode`` names and the mode here that reproduces their policy.
COSMOS_SAC_MODES = {
    "block_wise": "block",
    "mm_only": "mm_only",
    "predict2_2b_720_aggressive": "selective",
    "predict2_14b_720_aggressive": "selective",
    "predict2_2b_720": "mm_only",
    "predict2_14b_720": "mm_only",
}


def _attention_ops() -> list[Any]:
    names = [
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_fused_attention_overrideable",
    ]
    # Some kernels only exist in some builds; keep the ones this torch has.
    return [getattr(torch.ops.aten, n).default for n in names if hasattr(torch.ops.aten, n)]


_ATTN = frozenset(_attention_ops())
_MM = frozenset([torch.ops.aten.mm.default, torch.ops.aten.addmm.default])

#: mode -> (ops always saved, rule for the remaining matmuls: None | "rect" | "down")
_POLICIES: dict[str, tuple[frozenset, str | None]] = {
    "selective": (_ATTN, None),
    "selective_mlp": (_ATTN, "rect"),
    "selective_down": (_ATTN, "down"),
    "mm_only": (_ATTN | _MM, None),
}


def saved_ops(mode: str) -> frozenset:
    """The aten ops whose outputs a selective ``mode`` always keeps (empty for the other modes)."""
    return _POLICIES.get(mode, (frozenset(), None))[0]


def _policy(
    saved: frozenset, mm_rule: str | None, ctx: Any, func: Any, *args: Any, **kwargs: Any
) -> CheckpointPolicy:
    if func in saved:
        return CheckpointPolicy.MUST_SAVE
    if mm_rule is not None and func is torch.ops.aten.mm.default:
        k, n = args[0].shape[-1], args[1].shape[-1]  # [M, K] @ [K, N]
        if (mm_rule == "rect" and k != n) or (mm_rule == "down" and k > n):
            return CheckpointPolicy.MUST_SAVE
    return CheckpointPolicy.PREFER_RECOMPUTE


# Built once at import: plain dict lookups stay traceable under torch.compile (no lru_cache).
_CONTEXT_FNS: dict[str, Callable[[], Any]] = {
    mode: functools.partial(
        create_selective_checkpoint_contexts, functools.partial(_policy, ops, rule)
    )
    for mode, (ops, rule) in _POLICIES.items()
}


def normalize_ac_mode(mode: str | None) -> str:
    """Map a mode (ours or a Cosmos ``SACConfig.mode``) to one of :data:`AC_MODES`."""
    if mode is None:
        return "none"
    if mode in AC_MODES:
        return mode
    if mode in COSMOS_SAC_MODES:
        return COSMOS_SAC_MODES[mode]
    raise ValueError(
        f"unknown activation-checkpointing mode {mode!r}; use one of {list(AC_MODES)} "
        f"(or a Cosmos SAC mode: {sorted(COSMOS_SAC_MODES)})"
    )


def run_with_activation_checkpointing(
    fn: Callable[..., torch.Tensor], mode: str, *args: Any
) -> torch.Tensor:
    """Call ``fn(*args)`` under the checkpointing ``mode`` (plain call when no grad is needed)."""
    if mode == "none" or not torch.is_grad_enabled():
        return fn(*args)
    if mode == "block":
        return checkpoint(fn, *args, use_reentrant=False)
    return checkpoint(fn, *args, use_reentrant=False, context_fn=_CONTEXT_FNS[mode])


def _set_mode(module: nn.Module, mode: str) -> nn.Module:
    """Set ``mode`` on a module; returns the module to put in its place."""
    target = getattr(module, "_orig_mod", module)  # a torch.compile'd block: set it on the original
    if hasattr(target, "ac_mode"):
        target.ac_mode = mode
        return module
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
        CheckpointWrapper,
        checkpoint_wrapper,
    )

    inner = module._checkpoint_wrapped_module if isinstance(module, CheckpointWrapper) else module
    if mode == "none":
        return inner
    if mode == "block":
        return checkpoint_wrapper(inner)
    return checkpoint_wrapper(inner, context_fn=_CONTEXT_FNS[mode])


def apply_activation_checkpointing(
    net: nn.Module, mode: str = "block", every_n_blocks: int = 1
) -> nn.Module:
    """Enable activation checkpointing on ``net.blocks[i]`` for ``i % every_n_blocks == 0``
    (Cosmos).

    ``net.final_layer`` (if present) follows the same mode, as in Cosmos. Other blocks are set to
    ``"none"``, so calling this again replaces the previous setting. Returns ``net`` (changed in
    place); state_dict keys are unchanged.

    Args:
        net: a net with a ``blocks`` ``nn.ModuleList``.
        mode: one of :data:`AC_MODES` (``"none"``, ``"block"``, ``"selective"``,
            ``"selective_mlp"``,
            ``"selective_down"``, ``"mm_only"``) or a Cosmos SAC mode name.
        every_n_blocks: checkpoint every n-th block (1 = all).
    """
    mode = normalize_ac_mode(mode)
    if not isinstance(every_n_blocks, int) or every_n_blocks < 1:
        raise ValueError(f"every_n_blocks must be an int >= 1, got {every_n_blocks!r}")
    blocks = getattr(net, "blocks", None)
    if not isinstance(blocks, nn.ModuleList):
        raise TypeError(
            f"{type(net).__name__} has no `blocks` nn.ModuleList; activation checkpointing needs "
            "the net's block list"
        )
    for i in range(len(blocks)):
        blocks[i] = _set_mode(blocks[i], mode if i % every_n_blocks == 0 else "none")
    final = getattr(net, "final_layer", None)
    if isinstance(final, nn.Module):
        net.final_layer = _set_mode(final, mode)
    return net
