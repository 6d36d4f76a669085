"""Learning-rate multiplier schedules (Cosmos ``LambdaLinearScheduler`` and its cosine variant).

A schedule maps the number of optimizer steps taken, ``n``, to a multiplier ``f(n)``; the
optimizer's learning rate is ``base_lr * f(n)`` through :class:`torch.optim.lr_scheduler.LambdaLR`,
exactly as Cosmos wires it (``get_base_scheduler``). Cycles are lists of equal length; cycle ``k``
covers ``cum[k] < n <= cum[k+1]`` (``n == cum[k+1]`` still belongs to cycle ``k``, as in Cosmos).

Deliberate difference from Cosmos: past the end of the last cycle Cosmos raises ``TypeError``;
here the schedule holds its final value (``clamp=True``) or raises a clear ``ValueError``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

import torch
from torch.optim.lr_scheduler import LambdaLR

__all__ = [
    "LambdaLinearSchedule",
    "LambdaWarmUpCosineSchedule",
    "ScheduleLR",
    "build_lambda_lr",
    "lambda_cosine_lr",
    "lambda_linear_lr",
]


def _as_list(name: str, value: float | Sequence[float]) -> list[float]:
    """Accepts a scalar (one cycle) or a sequence; returns a list of floats."""
    if isinstance(value, (int, float)):
        return [float(value)]
    try:
        return [float(v) for v in value]
    except TypeError as exc:
        raise TypeError(
            f"scheduler.{name} must be a number or a list of numbers, got {value!r}"
        ) from exc


class LambdaLinearSchedule:
    """Piecewise-linear warm-up then linear decay per cycle (Cosmos ``LambdaLinearScheduler``).

    In cycle ``k`` at local step ``m``::

        f = f_start + (f_max - f_start) * m / warm_up_steps             if m < warm_up_steps
        f = f_min + (f_max - f_min) * (L - m) / (L - warm_up_steps)     otherwise

    Args:
        warm_up_steps: warm-up length per cycle.
        cycle_lengths: length ``L`` of each cycle in optimizer steps.
        f_start: multiplier at the start of each cycle.
        f_max: multiplier at the end of the warm-up.
        f_min: multiplier at the end of the cycle.
        clamp: past the last cycle, hold the final value (True) or raise ``ValueError`` (False).
        verbosity_interval: accepted for Cosmos config compatibility; unused.
    """

    def __init__(
        self,
        *,
        warm_up_steps: Sequence[int] | int = (1000,),
        cycle_lengths: Sequence[float] | float = (10_000_000_000_000,),
        f_start: Sequence[float] | float = (1e-6,),
        f_max: Sequence[float] | float = (1.0,),
        f_min: Sequence[float] | float = (1.0,),
        clamp: bool = True,
        verbosity_interval: int = 0,
    ) -> None:
        self.warm_up_steps = _as_list("warm_up_steps", warm_up_steps)
        self.cycle_lengths = _as_list("cycle_lengths", cycle_lengths)
        self.f_start = _as_list("f_start", f_start)
        self.f_max = _as_list("f_max", f_max)
        self.f_min = _as_list("f_min", f_min)
        self.clamp = bool(clamp)
        self.verbosity_interval = verbosity_interval
        lengths = {
            "warm_up_steps": len(self.warm_up_steps),
            "cycle_lengths": len(self.cycle_lengths),
            "f_start": len(self.f_start),
            "f_max": len(self.f_max),
            "f_min": len(self.f_min),
        }
        if len(set(lengths.values())) != 1:
            raise ValueError(
                f"scheduler lists must have one entry per cycle, got lengths {lengths}; "
                "give every list the same number of cycles"
            )
        for k, (warm, length) in enumerate(zip(self.warm_up_steps, self.cycle_lengths)):
            if length <= 0 or warm < 0:
                raise ValueError(
                    f"cycle {k}: need cycle_lengths > 0 and warm_up_steps >= 0, got L={length}, "
                    f"warm={warm}"
                )
            if warm > length:
                raise ValueError(
                    f"cycle {k}: warm_up_steps={warm} is longer than cycle_lengths={length}"
                )
        # cum[k] = first step of cycle k; cum[-1] = total length.
        self.cum_steps = list(itertools.accumulate([0.0] + self.cycle_lengths))

    @property
    def total_steps(self) -> float:
        """Sum of all cycle lengths; the schedule is clamped (or raises) past it."""
        return self.cum_steps[-1]

    def _decay(self, k: int, frac: float) -> float:
        """Decay shape from ``f_max`` (frac=0) to ``f_min`` (frac=1)."""
        return self.f_min[k] + (self.f_max[k] - self.f_min[k]) * (1.0 - frac)

    def _locate(self, n: int) -> tuple[int, float]:
        """Cycle index and local step for optimizer step ``n`` (with the ``<=`` boundary rule)."""
        if n < 0:
            raise ValueError(f"schedule step must be >= 0, got {n}")
        if n > self.total_steps:
            if not self.clamp:
                raise ValueError(
                    f"schedule step {n} is past the last cycle (total {self.total_steps:g} steps); "
                    "lengthen cycle_lengths or set clamp=True"
                )
            n = self.total_steps
        # First k with n <= cum[k+1]; n == 0 falls in cycle 0.
        k = max(bisect.bisect_left(self.cum_steps, n, lo=1) - 1, 0)
        return k, n - self.cum_steps[k]

    def schedule(self, n: int) -> float:
        """The multiplier ``f(n)`` after ``n`` optimizer steps."""
        k, m = self._locate(n)
        warm = self.warm_up_steps[k]
        if m < warm:
            return self.f_start[k] + (self.f_max[k] - self.f_start[k]) * m / warm
        decay_len = self.cycle_lengths[k] - warm
        if decay_len <= 0:
            return self.f_max[k]
        return self._decay(k, (m - warm) / decay_len)

    __call__ = schedule


class LambdaWarmUpCosineSchedule(LambdaLinearSchedule):
    """Same warm-up and cycles as :class:`LambdaLinearSchedule`, cosine decay after the warm-up:

    ``f = f_min + 0.5 (f_max - f_min)(1 + cos(pi * min(t, 1)))`` with ``t = (m - warm) / (L -
    warm)``.
    """

    def _decay(self, k: int, frac: float) -> float:
        return self.f_min[k] + 0.5 * (self.f_max[k] - self.f_min[k]) * (
            1.0 + math.cos(math.pi * min(frac, 1.0))
        )


class ScheduleLR(LambdaLR):
    """``LambdaLR`` whose checkpoint holds only its position, never the schedule's shape.

    Like Cosmos (which passes a bound method, whose attributes are not saved), a resumed run
    follows the schedule in the *current* config, e.g. after ``scheduler.f_max=...``.
    """

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["lr_lambdas"] = [None] * len(self.lr_lambdas)
        return state


def build_lambda_lr(
    *, optimizer: torch.optim.Optimizer, schedule: LambdaLinearSchedule
) -> ScheduleLR:
    """Wraps ``schedule`` in a ``LambdaLR`` (lr = base_lr * f(n)); f(0) applies immediately."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    return ScheduleLR(optimizer, lr_lambda=schedule)


def lambda_linear_lr(
    *,
    optimizer: torch.optim.Optimizer,
    warm_up_steps: Sequence[int] | int = (1000,),
    cycle_lengths: Sequence[float] | float = (10_000_000_000_000,),
    f_start: Sequence[float] | float = (1e-6,),
    f_max: Sequence[float] | float = (1.0,),
    f_min: Sequence[float] | float = (1.0,),
    clamp: bool = True,
    verbosity_interval: int = 0,
) -> ScheduleLR:
    """LambdaLinear LR scheduler for ``optimizer`` (defaults: Cosmos's ``lambdalinear`` option)."""
    schedule_kwargs = {k: v for k, v in locals().items() if k != "optimizer"}
    return build_lambda_lr(optimizer=optimizer, schedule=LambdaLinearSchedule(**schedule_kwargs))


def lambda_cosine_lr(
    *,
    optimizer: torch.optim.Optimizer,
    warm_up_steps: Sequence[int] | int = (1000,),
    cycle_lengths: Sequence[float] | float = (10_000_000_000_000,),
    f_start: Sequence[float] | float = (1e-6,),
    f_max: Sequence[float] | float = (1.0,),
    f_min: Sequence[float] | float = (1.0,),
    clamp: bool = True,
    verbosity_interval: int = 0,
) -> ScheduleLR:
    """Warm-up + cosine-decay LR scheduler for ``optimizer`` (same arguments as
    :func:`lambda_linear_lr`)."""
    schedule_kwargs = {k: v for k, v in locals().items() if k != "optimizer"}
    return build_lambda_lr(
        optimizer=optimizer, schedule=LambdaWarmUpCosineSchedule(**schedule_kwargs)
    )
