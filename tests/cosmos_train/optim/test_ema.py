"""Power EMA: gamma/beta values (trainer_spec §1.5), update rule and weight swapping."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cosmos_train.optim.ema import PowerEMA, copy_params, power_ema_gamma, swapped_weights


@pytest.mark.parametrize(
    "s, gamma, betas",
    [
        (0.05, 16.9722, {1: 0.00000, 100: 0.83625, 1000: 0.982197, 10**4: 0.998204}),
        (0.1, 6.9372, {1: 0.00408, 100: 0.92406, 1000: 0.992098, 10**4: 0.999207}),
        (0.2, 1.8262, {1: 0.14100, 100: 0.97227, 1000: 0.997179, 10**4: 0.999717}),
    ],
    ids=["s=0.05", "s=0.1", "s=0.2"],
)
def test_gamma_beta_table(s: float, gamma: float, betas: dict[int, float]) -> None:
    ema = PowerEMA(s=s)
    assert ema.gamma == pytest.approx(gamma, abs=1e-4)
    assert ema.beta(0) == 0.0
    for it, beta in betas.items():
        assert ema.beta(it) == pytest.approx(beta, abs=6e-6), it


def test_iteration_shift() -> None:
    assert PowerEMA(s=0.1, iteration_shift=1).beta(0) == pytest.approx(PowerEMA(s=0.1).beta(1))
    assert PowerEMA(s=0.1, iteration_shift=-5).beta(3) == 0.0


def test_bad_rate() -> None:
    with pytest.raises(ValueError, match="rate s must be in"):
        power_ema_gamma(0.0)


def _pair() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    ema = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4)).requires_grad_(False)
    return net, ema


def test_first_update_copies_then_averages() -> None:
    net, ema_net = _pair()
    ema = PowerEMA(s=0.1)
    assert ema.update(net, ema_net, iteration=0) == 0.0
    for p, q in zip(net.parameters(), ema_net.parameters()):
        assert torch.equal(p, q)
    old = [p.clone() for p in ema_net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    beta = ema.update(net, ema_net, iteration=100)
    for o, p, q in zip(old, net.parameters(), ema_net.parameters()):
        torch.testing.assert_close(q, beta * o + (1 - beta) * p)


def test_update_from_bf16_net_into_fp32_ema() -> None:
    net, ema_net = _pair()
    net = net.to(torch.bfloat16)
    PowerEMA().update(net, ema_net, iteration=0)
    for p, q in zip(net.parameters(), ema_net.parameters()):
        assert q.dtype == torch.float32
        assert torch.equal(q, p.float())


def test_wrapper_prefixes_are_ignored_and_mismatch_is_clear() -> None:
    net, ema_net = _pair()
    wrapped = nn.Module()
    wrapped._orig_mod = net  # as torch.compile names it
    copy_params(wrapped, ema_net)
    assert torch.equal(ema_net[0].weight, net[0].weight)
    with pytest.raises(ValueError, match="different parameters"):
        copy_params(nn.Linear(3, 4), ema_net)


def test_swapped_weights_restores() -> None:
    net, ema_net = _pair()
    before = [p.clone() for p in net.parameters()]
    with swapped_weights(net, ema_net):
        for p, q in zip(net.parameters(), ema_net.parameters()):
            assert torch.equal(p, q)
    for b, p in zip(before, net.parameters()):
        assert torch.equal(b, p)
