"""TrainModel's shared EMA plumbing: _build_ema, on_before_zero_grad, ema_scope, on_train_start."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cosmos_train.model.base import TrainModel, default_net_builder
from cosmos_train.optim.ema import PowerEMA


class _Model(TrainModel):
    def __init__(self, ema: PowerEMA | None) -> None:
        super().__init__()
        builder = default_net_builder("cpu")
        make_net = lambda: nn.Linear(3, 2)  # noqa: E731
        self.net = builder(make_net, role="net")
        self._build_ema(builder, make_net, ema)


def _bump(model: _Model) -> None:
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(1.0)


def test_build_ema_makes_a_frozen_fp32_copy_registered_in_state_dict():
    model = _Model(PowerEMA(s=0.1))
    assert isinstance(model.net_ema, nn.Linear)
    assert not any(p.requires_grad for p in model.net_ema.parameters())
    torch.testing.assert_close(model.net_ema.weight, model.net.weight)
    assert sorted(model.state_dict()) == [
        "net.bias",
        "net.weight",
        "net_ema.bias",
        "net_ema.weight",
    ]


def test_on_before_zero_grad_moves_the_ema_toward_the_net():
    model = _Model(PowerEMA(s=0.1))
    before = model.net_ema.weight.clone()
    _bump(model)
    model.on_before_zero_grad(None, None, iteration=5)
    w, e = model.net.weight, model.net_ema.weight
    assert ((e > before) & (e < w)).all()  # strictly between the old EMA and the new net


def test_ema_scope_swaps_in_ema_weights_and_restores():
    model = _Model(PowerEMA(s=0.1))
    _bump(model)
    regular, ema = model.net.weight.clone(), model.net_ema.weight.clone()
    with model.ema_scope():
        torch.testing.assert_close(model.net.weight, ema)
    torch.testing.assert_close(model.net.weight, regular)
    with model.ema_scope(enabled=False):
        torch.testing.assert_close(model.net.weight, regular)


@pytest.mark.parametrize("hook", ["update", "scope", "train_start"])
def test_without_ema_every_hook_is_a_no_op(hook):
    model = _Model(None)
    assert (
        model.net_ema is None
        and model.ema is None
        and list(model.state_dict()) == ["net.weight", "net.bias"]
    )
    regular = model.net.weight.clone()
    if hook == "update":
        model.on_before_zero_grad(None, None, iteration=3)
    elif hook == "scope":
        with model.ema_scope():
            pass
    else:
        model.on_train_start()
    torch.testing.assert_close(model.net.weight, regular)


def test_on_train_start_keeps_net_ema_fp32():
    model = _Model(PowerEMA(s=0.1))
    model.net_ema.to(torch.bfloat16)
    model.on_train_start()
    assert model.net_ema.weight.dtype == torch.float32
