"""Toy model: per-sample draws independent of batch split, EMA, sampling, accounting."""

from __future__ import annotations

import torch

from cosmos_train.model.toy import ToyVideoDataset, ToyVideoModel, toy_param_count


def _batch(ids):
    ds = ToyVideoDataset(length=8)
    return torch.utils.data.default_collate([ds[i] for i in ids])


def test_loss_of_split_batch_equals_whole_batch():
    model = ToyVideoModel()
    _, whole = model.training_step(_batch([0, 1, 2, 3]), iteration=5)
    _, a = model.training_step(_batch([0, 1]), iteration=5)
    _, b = model.training_step(_batch([2, 3]), iteration=5)
    torch.testing.assert_close(whole, (a + b) / 2)
    _, other_it = model.training_step(_batch([0, 1, 2, 3]), iteration=6)
    assert other_it != whole


def test_validation_is_fixed_and_ema_scope_swaps():
    model = ToyVideoModel()
    batch = _batch([0, 1])
    assert torch.equal(model.validation_step(batch, 0)[1], model.validation_step(batch, 99)[1])
    with torch.no_grad():
        model.net.final_layer[1].bias.add_(0.5)
    reg = model.validation_step(batch, 0)[1]
    with model.ema_scope():
        ema = model.validation_step(batch, 0)[1]
    assert ema != reg and torch.equal(model.validation_step(batch, 0)[1], reg)


def test_accounting_and_samples():
    model = ToyVideoModel(dim=16, num_blocks=3)
    assert sum(p.numel() for p in model.net.parameters()) == toy_param_count(16, 3)
    batch = _batch([0, 1, 2])
    assert model.tokens_per_sample(batch) == 2 * 4 * 4
    video = model.generate_samples(batch, num_steps=2)
    assert video.dtype == torch.uint8 and video.shape == (3, 3, 2, 4, 4)
    assert ToyVideoModel(ema_s=None).net_ema is None
