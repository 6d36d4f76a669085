"""Activation checkpointing modes: same grads, what gets recomputed, unchanged keys, compile."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from cosmos_train.nets import apply_activation_checkpointing, presets
from cosmos_train.nets.checkpointing import saved_ops

MODES = ["none", "block", "selective", "selective_mlp", "selective_down", "mm_only"]


def _net(seed: int = 0):
    torch.manual_seed(seed)
    net = presets.tiny()
    net.init_weights()
    with torch.no_grad():  # make the zero-initialised up-projections matter for the grads
        for p in net.parameters():
            if p.abs().sum() == 0:
                p.normal_(std=0.05)
    return net


def _inputs(B: int = 2, T: int = 2, H: int = 8, W: int = 8) -> dict:
    g = torch.Generator().manual_seed(1)
    return dict(
        x_B_C_T_H_W=torch.randn(B, 16, T, H, W, generator=g),
        timesteps_B_T=torch.rand(B, T, generator=g),
        crossattn_emb=torch.randn(B, 5, 32, generator=g),
        condition_video_input_mask_B_C_T_H_W=(torch.rand(B, 1, T, 1, 1, generator=g) > 0.5)
        .float()
        .expand(B, 1, T, H, W),
        fps=torch.full((B,), 16.0),
        padding_mask=torch.zeros(B, 1, H * 8, W * 8),
    )


def _grads(net) -> dict[str, torch.Tensor]:
    net.zero_grad(set_to_none=True)
    out = net(**_inputs())
    (out.square().mean() + out.mean()).backward()
    return {n: p.grad.clone() for n, p in net.named_parameters()}


class _CountOps(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: dict = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func] = self.counts.get(func, 0) + 1
        return func(*args, **(kwargs or {}))


def _backward_op_counts(net) -> dict:
    out = net(**_inputs())
    loss = out.square().mean()
    with _CountOps() as counter:
        loss.backward()
    return counter.counts


@pytest.mark.parametrize("every_n", [1, 2], ids=["every_block", "every_2nd"])
@pytest.mark.parametrize("mode", MODES)
def test_each_mode_gives_identical_grads(mode: str, every_n: int) -> None:
    ref = _grads(_net())
    net = apply_activation_checkpointing(_net(), mode=mode, every_n_blocks=every_n)
    assert [b.ac_mode for b in net.blocks] == [mode, mode if every_n == 1 else "none"]
    got = _grads(net)
    assert got.keys() == ref.keys()
    for name in ref:
        torch.testing.assert_close(got[name], ref[name], rtol=1e-6, atol=1e-7, msg=name)


def test_modes_recompute_what_they_should() -> None:
    """block recomputes attention in backward; selective and mm_only keep SDPA outputs; mm_only
    keeps matmuls."""
    attn = saved_ops("selective")
    counts = {m: _backward_op_counts(apply_activation_checkpointing(_net(), mode=m)) for m in MODES}

    def n_attn_fwd(c: dict) -> int:
        return sum(v for k, v in c.items() if k in attn)

    def n_mm(c: dict) -> int:
        return c.get(torch.ops.aten.mm.default, 0)

    assert n_attn_fwd(counts["none"]) == 0
    assert n_attn_fwd(counts["block"]) == 4  # 2 blocks x (self + cross) recomputed
    assert n_attn_fwd(counts["selective"]) == 0
    assert n_attn_fwd(counts["mm_only"]) == 0
    assert n_mm(counts["mm_only"]) == n_mm(counts["none"])  # no matmul recomputed
    assert n_mm(counts["selective"]) > n_mm(counts["none"])  # projections recomputed
    assert n_mm(counts["block"]) == n_mm(counts["selective"])
    # selective_mlp skips the MLP (and tiny AdaLN/text k/v) matmuls; selective_down only layer2
    # (+AdaLN down)
    assert n_attn_fwd(counts["selective_mlp"]) == n_attn_fwd(counts["selective_down"]) == 0
    per_block_recomputed = {
        m: (n_mm(counts[m]) - n_mm(counts["none"]))
        for m in ("selective", "selective_mlp", "selective_down")
    }
    # Recomputed matmuls (torch stops recomputing once backward has what it needs, so the final
    # layer's output projection is never recomputed). Per block: self q,k,v,o + cross q,k,v,o +
    # MLP 2 + AdaLN 3x2 = 16; final layer AdaLN 2.
    assert per_block_recomputed["selective"] == 2 * 16 + 2
    assert per_block_recomputed["selective_mlp"] == 2 * (4 + 2)  # self q,k,v,o + cross q,o
    # minus layer2 and AdaLN downs
    assert per_block_recomputed["selective_down"] == 2 * (16 - 1 - 3) + 1


def test_keys_and_names_unchanged_and_mode_can_be_reset() -> None:
    net = _net()
    keys, names = list(net.state_dict()), [n for n, _ in net.named_parameters()]
    for mode in MODES + ["predict2_2b_720_aggressive", "block_wise"]:
        apply_activation_checkpointing(net, mode=mode)
        assert list(net.state_dict()) == keys and [n for n, _ in net.named_parameters()] == names
    assert net.blocks[0].ac_mode == "block" and net.final_layer.ac_mode == "block"
    apply_activation_checkpointing(net, mode="none")
    assert all(b.ac_mode == "none" for b in net.blocks)


def test_foreign_blocks_use_checkpoint_wrapper_without_key_changes() -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = torch.nn.ModuleList(torch.nn.Linear(4, 4) for _ in range(2))

        def forward(self, x):
            for b in self.blocks:
                x = torch.tanh(b(x))
            return x

    torch.manual_seed(0)
    net = Net()
    keys = list(net.state_dict())
    x = torch.randn(3, 4)
    net(x).sum().backward()
    ref = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    apply_activation_checkpointing(net, mode="selective")
    assert list(net.state_dict()) == keys
    net(x).sum().backward()
    for p, r in zip(net.parameters(), ref):
        torch.testing.assert_close(p.grad, r)
    apply_activation_checkpointing(net, mode="none")
    assert isinstance(net.blocks[0], torch.nn.Linear)


@pytest.mark.parametrize("bad", [dict(mode="all"), dict(every_n_blocks=0)], ids=["mode", "every_n"])
def test_bad_arguments(bad: dict) -> None:
    with pytest.raises(ValueError):
        apply_activation_checkpointing(_net(), **bad)
    with pytest.raises(TypeError, match="blocks"):
        apply_activation_checkpointing(torch.nn.Linear(2, 2))


@pytest.mark.slow
@pytest.mark.parametrize("mode,backend", [("none", "aot_eager"), ("selective", "inductor")])
def test_block_compiles_fullgraph(mode: str, backend: str) -> None:
    """One tiny block under torch.compile(fullgraph=True): no graph break, same output and grads.

    The inductor case (selective AC inside the compiled block, as on the H100) takes ~40 s on 2
    cores.
    """
    torch._dynamo.reset()
    net = _net()
    apply_activation_checkpointing(net, mode=mode)
    block = net.blocks[0]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 4, 4, 64, generator=g, requires_grad=True)
    emb = torch.randn(2, 2, 64, generator=g)
    ctx = torch.randn(2, 5, 32, generator=g)
    lora = torch.randn(2, 2, 192, generator=g)
    rope = net._rope_tables(2, 4, 4, None)
    ref = block(x, emb, ctx, rope, lora, None)
    (gx_ref,) = torch.autograd.grad(ref.square().sum(), x)
    compiled = torch.compile(block, fullgraph=True, backend=backend)
    out = compiled(x, emb, ctx, rope, lora, None)
    (gx,) = torch.autograd.grad(out.square().sum(), x)
    # inductor fuses and reorders fp32 reductions: agreement to ~1e-5 of the values' scale
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-4, atol=1e-4)
