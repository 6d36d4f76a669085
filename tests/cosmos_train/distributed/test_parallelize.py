"""Net builder: seeded identical init, EMA role, activation checkpointing on the real tiny DiT."""

from __future__ import annotations

import pytest
import torch

from cosmos_train.distributed.parallelize import make_net_builder
from cosmos_train.model.toy import ToyNet
from cosmos_train.nets.checkpointing import AC_MODES, normalize_ac_mode
from cosmos_train.nets.presets import tiny


def _make_toy():
    return ToyNet(dim=16, num_blocks=2, num_heads=2)


def test_init_is_seeded_and_leaves_global_rng_alone():
    build = make_net_builder(device="cpu", seed=7)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a = build(_make_toy, role="net")
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(123)  # a different global state must not change the init
    b = build(_make_toy, role="net")
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), name
    c = make_net_builder(device="cpu", seed=8)(_make_toy, role="net")
    assert not torch.equal(a.blocks[0].qkv.weight, c.blocks[0].qkv.weight)


def test_ema_role_is_frozen_fp32():
    ema = make_net_builder(device="cpu")(_make_toy, role="net_ema")
    assert all(not p.requires_grad and p.dtype == torch.float32 for p in ema.parameters())


def _dit_inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, 2, 8, 8, generator=g)
    t = torch.rand(1, 1, generator=g)
    text = torch.randn(1, 5, 32, generator=g)
    return x, t, text


@pytest.mark.parametrize(
    "ac_mode", [m for m in AC_MODES if m != "none"] + ["predict2_2b_720_aggressive"]
)
def test_activation_checkpointing_keeps_keys_and_gradients(ac_mode):
    ref = make_net_builder(device="cpu")(tiny, role="net")
    ac = make_net_builder(device="cpu", ac_mode=ac_mode)(tiny, role="net")
    assert list(ref.state_dict()) == list(ac.state_dict())
    assert {b.ac_mode for b in ac.blocks} == {normalize_ac_mode(ac_mode)} and {
        b.ac_mode for b in ref.blocks
    } == {"none"}
    x, t, text = _dit_inputs()
    ref(x, t, text).square().mean().backward()
    ac(x, t, text).square().mean().backward()
    for (name, a), b in zip(ref.named_parameters(), ac.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7, msg=name)


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="mode must be one of"):
        make_net_builder(device="cpu", mode="tp")
    with pytest.raises(
        ValueError,
        match=r"param_dtype \(config: trainer\.parallelism\.param_dtype\)='fp8' is not a known "
        r"dtype; use one of",
    ):
        make_net_builder(device="cpu", param_dtype="fp8")
    with pytest.raises(
        ValueError,
        match=r"unknown ac_mode 'selectiv'; valid modes are "
        r"\[.*'selective_mlp'.*\].*trainer\.parallelism\.activation_checkpointing",
    ):
        make_net_builder(device="cpu", ac_mode="selectiv")
    with pytest.raises(TypeError, match="has no init_weights"):
        make_net_builder(device="cpu")(lambda: torch.nn.Linear(2, 2), role="net")
    with pytest.raises(ValueError, match="role must be"):
        make_net_builder(device="cpu")(_make_toy, role="teacher")


@pytest.mark.slow
def test_per_block_compile_matches_eager():
    eager = make_net_builder(device="cpu")(_make_toy, role="net")
    compiled = make_net_builder(device="cpu", compile_blocks=True)(_make_toy, role="net")
    assert list(eager.state_dict()) == list(compiled.state_dict())
    x = torch.randn(2, 3, 2, 4, 4)
    t = torch.rand(2)
    torch.testing.assert_close(compiled(x, t), eager(x, t), rtol=1e-5, atol=1e-6)
