"""build_adamw: parameter forms, decay groups, fused default and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cosmos_train.optim.optimizers import build_adamw


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))


def test_defaults_single_decayed_group_like_cosmos() -> None:
    net = _net()
    opt = build_adamw(params=list(net.named_parameters()))
    assert len(opt.param_groups) == 1
    g = opt.param_groups[0]
    assert g["lr"] == 2**-14.5 and g["weight_decay"] == 1e-3 and g["betas"] == (0.9, 0.999)
    assert g["fused"] is False  # CPU parameters
    assert len(g["params"]) == 6


def test_no_decay_group_for_1d_params() -> None:
    net = _net()
    opt = build_adamw(params=net.named_parameters(), weight_decay=0.1, decay_1d=False)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and all(p.ndim == 2 for p in decay["params"])
    assert no_decay["weight_decay"] == 0.0 and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == 6


def test_plain_params_lists_betas_and_frozen_skipped() -> None:
    net = _net()
    net[1].requires_grad_(False)
    opt = build_adamw(params=net.parameters(), betas=[0.9, 0.99])
    assert len(opt.param_groups[0]["params"]) == 4
    assert opt.param_groups[0]["betas"] == (0.9, 0.99)


def test_fused_step_matches_unfused() -> None:
    nets = [_net(), _net()]
    opts = [
        build_adamw(params=n.named_parameters(), lr=1e-2, fused=f)
        for n, f in zip(nets, (False, True))
    ]
    x = torch.randn(5, 4)
    for net, opt in zip(nets, opts):
        for _ in range(3):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(p, q)


@pytest.mark.parametrize(
    "params, exc, match",
    [
        (lambda: _net(), TypeError, "not a module"),
        (lambda: [], ValueError, "no trainable parameters"),
        (lambda: [("w", 3)], TypeError, "expected"),
    ],
    ids=["module", "empty", "not-a-param"],
)
def test_errors(params, exc, match) -> None:
    with pytest.raises(exc, match=match):
        build_adamw(params=params())
