"""Toy model: per-sample draws independent of batch split, EMA, sampling, accounting."""

from __future__ import annotations

import pytest
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


def test_bf16_precision_autocasts_with_fp32_timesteps():
    fp32, bf16 = ToyVideoModel(), ToyVideoModel(precision="bfloat16")
    with torch.no_grad():  # a non-zero output layer (it is zero-initialised), the same in both
        fp32.net.final_layer[1].weight.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(0))
    bf16.net.load_state_dict(fp32.net.state_dict())
    seen = []
    bf16.net.register_forward_pre_hook(
        lambda m, args: seen.append((args[1].dtype, torch.is_autocast_enabled("cpu")))
    )
    batch = _batch([0, 1])
    _, loss = bf16.training_step(batch, 3)
    assert seen == [(torch.float32, True)]
    assert loss.dtype == torch.float32
    ref = fp32.training_step(batch, 3)[1]
    assert loss != ref  # really computed in bf16 ...
    torch.testing.assert_close(loss, ref, rtol=0.05, atol=0.0)  # ... and close to fp32


def test_bf16_weights_without_autocast_take_fp32_inputs():
    """FSDP bf16 params do not cast the net's inputs; the net casts them to its weights' dtype."""
    net = ToyVideoModel().net.to(torch.bfloat16)
    out = net(torch.randn(2, 3, 2, 4, 4), torch.rand(2))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()


def test_unknown_precision_names_the_choices():
    with pytest.raises(
        ValueError,
        match=r"precision='fp8' is not a known dtype; use one of \['float32', 'bfloat16'",
    ):
        ToyVideoModel(precision="fp8")
