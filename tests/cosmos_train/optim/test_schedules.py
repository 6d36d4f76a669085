"""LambdaLinear / cosine schedule values against Cosmos's formula (trainer_spec §1.6)."""

from __future__ import annotations

import math

import pytest
import torch

from cosmos_train.optim.schedules import (
    LambdaLinearSchedule,
    LambdaWarmUpCosineSchedule,
    lambda_cosine_lr,
    lambda_linear_lr,
)

NEMO = dict(warm_up_steps=[2000], cycle_lengths=[100000], f_start=[1e-6], f_max=[0.5], f_min=[0.2])


@pytest.mark.parametrize(
    "n, expected",
    [(0, 1e-6), (1000, 0.2500005), (2000, 0.5), (51000, 0.35), (100000, 0.2)],
    ids=["start", "mid-warmup", "end-warmup", "mid-decay", "end-cycle"],
)
def test_nemo_values(n: int, expected: float) -> None:
    assert LambdaLinearSchedule(**NEMO)(n) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_cosmos_defaults_hold_one_after_warmup() -> None:
    s = LambdaLinearSchedule()
    assert s(0) == pytest.approx(1e-6)
    assert s(500) == pytest.approx(1e-6 + (1 - 1e-6) * 0.5)
    assert s(1000) == 1.0
    assert s(10**9) == 1.0


def test_cycle_boundary_belongs_to_previous_cycle() -> None:
    # Two cycles: the step equal to the first cycle's end uses cycle 0 ("<=" rule).
    s = LambdaLinearSchedule(
        warm_up_steps=[10, 5],
        cycle_lengths=[100, 50],
        f_start=[0.0, 0.3],
        f_max=[1.0, 0.8],
        f_min=[0.1, 0.2],
    )
    assert s(100) == pytest.approx(0.1)  # end of cycle 0, not start of cycle 1 (0.3)
    assert s(101) == pytest.approx(0.3 + (0.8 - 0.3) * 1 / 5)
    assert s(105) == pytest.approx(0.8)
    assert s(130) == pytest.approx(0.2 + (0.8 - 0.2) * (50 - 30) / 45)
    assert s(150) == pytest.approx(0.2)


@pytest.mark.parametrize("n", [100001, 150000, 10**12], ids=["just-past", "1.5x", "far"])
def test_clamped_past_last_cycle(n: int) -> None:
    assert LambdaLinearSchedule(**NEMO)(n) == pytest.approx(0.2)


def test_unclamped_past_last_cycle_raises_clear_error() -> None:
    with pytest.raises(ValueError, match="past the last cycle"):
        LambdaLinearSchedule(**NEMO, clamp=False)(100001)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(NEMO, f_min=[0.2, 0.1]), "one entry per cycle"),
        (dict(NEMO, warm_up_steps=[200000]), "longer than cycle_lengths"),
        (dict(NEMO, cycle_lengths=[0]), "cycle_lengths > 0"),
    ],
    ids=["length-mismatch", "warmup-too-long", "zero-cycle"],
)
def test_bad_config(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LambdaLinearSchedule(**kwargs)


def test_scalars_accepted_as_one_cycle() -> None:
    s = LambdaLinearSchedule(
        warm_up_steps=2000, cycle_lengths=100000, f_start=1e-6, f_max=0.5, f_min=0.2
    )
    assert s(51000) == pytest.approx(0.35)


def test_cosine_decay_values() -> None:
    s = LambdaWarmUpCosineSchedule(**NEMO)
    assert s(1000) == pytest.approx(0.2500005)
    assert s(2000) == pytest.approx(0.5)
    assert s(51000) == pytest.approx(0.2 + 0.5 * 0.3 * (1 + math.cos(math.pi * 0.5)))
    assert s(100000) == pytest.approx(0.2)
    assert s(200000) == pytest.approx(0.2)


def _opt(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def test_lambda_lr_applies_f0_at_construction_and_steps() -> None:
    opt = _opt(lr=2**-14.5)
    sched = lambda_linear_lr(optimizer=opt, **NEMO)
    assert opt.param_groups[0]["lr"] == pytest.approx(2**-14.5 * 1e-6)
    for _ in range(1000):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(2**-14.5 * 0.2500005)


def test_lambda_lr_state_dict_keeps_position_not_shape() -> None:
    opt = _opt()
    sched = lambda_linear_lr(optimizer=opt, **NEMO)
    for _ in range(3000):
        opt.step()
        sched.step()
    state = sched.state_dict()
    # A resumed run with a changed f_max follows the new config from the saved position.
    opt2 = _opt()
    sched2 = lambda_linear_lr(optimizer=opt2, **dict(NEMO, f_max=[0.6]))
    sched2.load_state_dict(state)
    assert sched2.last_epoch == 3000
    assert sched2.lr_lambdas[0].f_max == [0.6]
    opt2.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.1 * (0.2 + 0.4 * (100000 - 3001) / 98000))


def test_cosine_builder() -> None:
    opt = _opt()
    sched = lambda_cosine_lr(optimizer=opt, **NEMO)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 1e-6)
    assert isinstance(sched.lr_lambdas[0], LambdaWarmUpCosineSchedule)
