"""Numeric unit tests of the DiT layers (trainer_spec §5.4 tier 0)."""

from __future__ import annotations

import math

import pytest
import torch

from cosmos_train.nets import presets
from cosmos_train.nets.layers import (
    Timesteps,
    VideoRopePosition3DEmb,
    apply_rotary_pos_emb,
    patchify,
    rope_cos_sin,
    unpatchify,
)


def _rope(head_dim: int = 128, **kw) -> VideoRopePosition3DEmb:
    return VideoRopePosition3DEmb(head_dim=head_dim, len_h=120, len_w=120, len_t=128, **kw)


@pytest.mark.parametrize(
    "head_dim,split", [(128, (42, 42, 44)), (16, (4, 4, 8)), (64, (20, 20, 24))]
)
def test_rope_split(head_dim: int, split: tuple[int, int, int]) -> None:
    pe = _rope(head_dim)
    assert (pe.dim_h, pe.dim_h, pe.dim_t) == split
    assert pe.dim_spatial_range.shape == (split[0] // 2,) and pe.dim_temporal_range.shape == (
        split[2] // 2,
    )
    torch.testing.assert_close(
        pe.dim_spatial_range, torch.arange(0, split[0], 2).float() / split[0]
    )
    torch.testing.assert_close(
        pe.dim_temporal_range, torch.arange(0, split[2], 2).float() / split[2]
    )
    assert pe.seq.shape == (128,)


def test_rope_ntk_theta() -> None:
    """theta_axis = 1e4 * ratio ** (d/(d-2)): the first non-trivial frequency of each axis shows
    it."""
    pe = _rope(128, h_extrapolation_ratio=3.0, w_extrapolation_ratio=2.0, t_extrapolation_ratio=1.5)
    ang = pe.angles(2, 2, 2)  # [8, 128]; token index = t*4 + h*2 + w
    # layout per half: [t (22) | h (21) | w (21)]
    k = 1  # second frequency of each axis
    t_theta = 1e4 * 1.5 ** (44 / 42)
    h_theta = 1e4 * 3.0 ** (42 / 40)
    w_theta = 1e4 * 2.0 ** (42 / 40)
    assert ang[4, k].item() == pytest.approx(1.0 / t_theta ** (2 * k / 44), rel=1e-5)  # t=1
    assert ang[2, 22 + k].item() == pytest.approx(1.0 / h_theta ** (2 * k / 42), rel=1e-5)  # h=1
    assert ang[1, 43 + k].item() == pytest.approx(1.0 / w_theta ** (2 * k / 42), rel=1e-5)  # w=1
    assert pe.h_ntk_factor == pytest.approx(3.0 ** (42 / 40))


def test_rope_layout_is_t_h_w_repeated_twice() -> None:
    pe = _rope(16)
    T, H, W = 3, 2, 4
    ang = pe.angles(T, H, W).view(T, H, W, 16)
    torch.testing.assert_close(ang[..., :8], ang[..., 8:], rtol=0, atol=0)  # the two halves repeat
    # the t block depends on t only, h on h only, w on w only
    assert (ang[1, :, :, :4] == ang[1, 0, 0, :4]).all() and (ang[1, 0, 0, 1:4] > 0).all()
    assert (ang[:, 1, :, 4:6] == ang[0, 1, 0, 4:6]).all() and (ang[0, 1, 0, 4] > 0)
    assert (ang[:, :, 3, 6:8] == ang[0, 0, 3, 6:8]).all() and (ang[0, 0, 3, 6] > 0)
    assert (ang[0, 0, 0] == 0).all()


@pytest.mark.parametrize("enabled", [True, False], ids=["fps_mod_on", "fps_mod_off"])
def test_rope_fps_modulation(enabled: bool) -> None:
    pe = _rope(16, enable_fps_modulation=enabled)
    base = pe.angles(3, 1, 1)
    at_12 = pe.angles(3, 1, 1, fps=torch.tensor([12.0, 12.0]))
    if enabled:  # positions t * 24 / fps: fps 12 doubles the temporal angles, leaves h/w alone
        torch.testing.assert_close(at_12[:, :4], 2 * base[:, :4])
        torch.testing.assert_close(at_12[:, 4:8], base[:, 4:8], rtol=0, atol=0)
        torch.testing.assert_close(pe.angles(3, 1, 1, fps=torch.tensor([24.0])), base)
    else:
        torch.testing.assert_close(at_12, base, rtol=0, atol=0)


def test_rotate_half_layout() -> None:
    """out[i] = x[i] cos + r[i] sin with r = [-x2, x1] (non-interleaved, TE fused semantics)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 3, 8, generator=g)
    angles = torch.rand(5, 8, generator=g) * 6
    angles[:, 4:] = angles[:, :4]
    cos, ssin = rope_cos_sin(angles)
    out = apply_rotary_pos_emb(x, cos, ssin)
    x1, x2 = x[..., :4], x[..., 4:]
    r = torch.cat([-x2, x1], dim=-1)
    expected = x * torch.cos(angles)[:, None, :] + r * torch.sin(angles)[:, None, :]
    torch.testing.assert_close(out, expected)
    # a rotation: pairs (i, i + d/2) keep their norm
    torch.testing.assert_close((out[..., :4] ** 2 + out[..., 4:] ** 2), (x1**2 + x2**2))
    # bf16 input: computed in fp32, cast back
    assert apply_rotary_pos_emb(x.bfloat16(), cos, ssin).dtype == torch.bfloat16


def test_timesteps_cos_then_sin() -> None:
    t = torch.tensor([[0.0, 2.0]])
    emb = Timesteps(8)(t)
    assert emb.shape == (1, 2, 8)
    freqs = torch.exp(-math.log(1e4) * torch.arange(4) / 4)
    torch.testing.assert_close(emb[0, 1, :4], torch.cos(2.0 * freqs))
    torch.testing.assert_close(emb[0, 1, 4:], torch.sin(2.0 * freqs))
    torch.testing.assert_close(emb[0, 0], torch.cat([torch.ones(4), torch.zeros(4)]))


def test_patchify_order_c_r_m_n() -> None:
    """b c (t r) (h m) (w n) -> b t h w (c r m n)."""
    B, C, T, H, W, p, pt = 1, 3, 4, 4, 6, 2, 2
    x = torch.arange(B * C * T * H * W, dtype=torch.float32).view(B, C, T, H, W)
    y = patchify(x, p, pt)
    assert y.shape == (B, T // pt, H // p, W // p, C * pt * p * p)
    t, h, w = 1, 1, 2
    for c in range(C):
        for r in range(pt):
            for m in range(p):
                for n in range(p):
                    idx = ((c * pt + r) * p + m) * p + n
                    assert y[0, t, h, w, idx] == x[0, c, t * pt + r, h * p + m, w * p + n]


def test_unpatchify_order_p1_p2_t_c() -> None:
    """B T H W (p1 p2 t C) -> B C (T t) (H p1) (W p2): a different order from patchify."""
    B, T, H, W, p, pt, C = 1, 2, 2, 3, 2, 2, 3
    y = torch.arange(B * T * H * W * p * p * pt * C, dtype=torch.float32).view(
        B, T, H, W, p * p * pt * C
    )
    x = unpatchify(y, p, pt)
    assert x.shape == (B, C, T * pt, H * p, W * p)
    T_, h, w = 1, 1, 2
    for p1 in range(p):
        for p2 in range(p):
            for t in range(pt):
                for c in range(C):
                    idx = ((p1 * p + p2) * pt + t) * C + c
                    assert x[0, c, T_ * pt + t, h * p + p1, w * p + p2] == y[0, T_, h, w, idx]
    # The orders differ, so unpatchify(patchify(x)) is NOT the identity for C > 1 ...
    x0 = torch.randn(1, 3, 4, 4, 6)
    assert not torch.equal(unpatchify(patchify(x0, 2, 2), 2, 2), x0)
    # ... but each is a bijection that preserves values.
    torch.testing.assert_close(
        unpatchify(patchify(x0, 2, 2), 2, 2).flatten().sort()[0], x0.flatten().sort()[0]
    )


def test_init_zeroes_adaln_up_projections_and_final_modulation() -> None:
    torch.manual_seed(0)
    net = presets.tiny()
    net.init_weights()
    sd = net.state_dict()
    zero = [k for k, v in sd.items() if v.is_floating_point() and v.ndim > 0 and v.abs().max() == 0]
    expected = [
        f"blocks.{i}.adaln_modulation_{m}.2.weight"
        for i in range(2)
        for m in ("self_attn", "cross_attn", "mlp")
    ]
    assert sorted(zero) == sorted(expected + ["final_layer.adaln_modulation.2.weight"])
    # RMSNorm weights start at one; linears are truncated normal 1/sqrt(fan_in) cut at 3 std.
    assert (sd["blocks.0.self_attn.q_norm.weight"] == 1).all() and (
        sd["t_embedding_norm.weight"] == 1
    ).all()
    w = sd["blocks.0.mlp.layer1.weight"]
    std = 1 / math.sqrt(w.shape[1])
    assert w.abs().max() <= 3 * std + 1e-7
    assert w.std().item() == pytest.approx(std * 0.986, rel=0.05)  # truncation shrinks std by ~1.4%
    # so at init each AdaLN branch contributes nothing beyond the shared AdaLN-LoRA term
    emb = torch.randn(1, 1, 64)
    for mod in (net.blocks[0].adaln_modulation_self_attn, net.final_layer.adaln_modulation):
        assert mod(emb).abs().max() == 0


def test_block_output_is_not_a_view() -> None:
    """FSDP2 warns (every block, every step) when a wrapped block returns a view tensor."""
    torch.manual_seed(0)
    block = presets.tiny().blocks[0]
    block.init_weights()
    x = torch.randn(1, 2, 2, 3, 64, requires_grad=True)
    out = block(x, torch.randn(1, 2, 64), torch.randn(1, 5, 32), None, torch.randn(1, 2, 3 * 64))
    assert out.shape == x.shape and out._base is None
