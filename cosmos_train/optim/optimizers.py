"""Optimizer builders.

``build_adamw`` is what the ``optimizer`` config group instantiates with the model's parameters
injected at build time (``instantiate(cfg.optimizer, params=model.optimizer_parameters())``).

Cosmos splits parameters into decay and no-decay groups and then merges them back into one group
with the same weight decay, so norms and biases are decayed too; ``decay_1d=True`` (the default)
reproduces that, ``decay_1d=False`` gives the usual no-decay group for 1-D parameters. Cosmos's
``fusedadamw`` (apex FusedAdam with fp32 master weights) maps to ``fused=True`` here with fp32
parameters: the params are the fp32 master copy and compute runs in bf16 under autocast.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["build_adamw", "split_decay_groups"]

NamedOrPlain = Iterable[tuple[str, nn.Parameter] | nn.Parameter]


def _normalise(params: NamedOrPlain) -> list[tuple[str, nn.Parameter]]:
    """Accepts ``(name, param)`` pairs or bare params; drops frozen ones."""
    if isinstance(params, nn.Module):
        raise TypeError(
            "build_adamw(params=...) takes parameters, not a module; pass "
            "model.optimizer_parameters() or module.named_parameters()"
        )
    out: list[tuple[str, nn.Parameter]] = []
    for i, item in enumerate(params):
        if (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], torch.Tensor)
        ):
            name, p = item
        elif isinstance(item, torch.Tensor):
            name, p = f"param_{i}", item
        else:
            raise TypeError(
                f"build_adamw: params[{i}] is {type(item).__name__}; expected (name, Parameter) or "
                "Parameter"
            )
        if p.requires_grad:
            out.append((name, p))
    if not out:
        raise ValueError(
            "build_adamw got no trainable parameters (all empty or requires_grad=False)"
        )
    return out


def split_decay_groups(
    named: Sequence[tuple[str, nn.Parameter]], weight_decay: float
) -> list[dict[str, Any]]:
    """Two param groups: >=2-D weights decayed, 1-D params (norms, biases) and scalars not
    decayed."""
    decay = [p for _, p in named if p.ndim >= 2]
    no_decay = [p for _, p in named if p.ndim < 2]
    groups: list[dict[str, Any]] = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_adamw(
    *,
    params: NamedOrPlain,
    lr: float = 2**-14.5,
    weight_decay: float = 1e-3,
    betas: Sequence[float] = (0.9, 0.999),
    eps: float = 1e-8,
    fused: bool | None = None,
    decay_1d: bool = True,
    capturable: bool = False,
) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` over ``params``.

    Args:
        params: ``(name, param)`` pairs or parameters; those with ``requires_grad=False`` are
            skipped.
        lr: base learning rate (the scheduler multiplies it).
        weight_decay: decoupled weight decay.
        betas: Adam betas (lists from configs are accepted).
        eps: Adam epsilon.
        fused: use the fused kernel; ``None`` means "yes when every parameter is on CUDA".
        decay_1d: decay 1-D parameters too (Cosmos behaviour); ``False`` puts them in a no-decay
            group.
        capturable: passed to AdamW (CUDA graphs).
    """
    named = _normalise(params)
    betas = tuple(float(b) for b in betas)
    if len(betas) != 2:
        raise ValueError(f"betas must have two values, got {betas}")
    if fused is None:
        fused = all(p.device.type == "cuda" for _, p in named)
    if fused:
        bad = sorted({str(p.dtype) for _, p in named if not p.is_floating_point()})
        if bad:
            raise TypeError(f"fused AdamW needs floating-point parameters, got {bad}")
    if decay_1d:
        groups: list[dict[str, Any]] = [{"params": [p for _, p in named]}]
    else:
        groups = split_decay_groups(named, weight_decay)
    return torch.optim.AdamW(
        groups,
        lr=lr,
        betas=betas,  # type: ignore[arg-type]
        eps=eps,
        weight_decay=weight_decay,
        fused=bool(fused),
        capturable=capturable,
    )
