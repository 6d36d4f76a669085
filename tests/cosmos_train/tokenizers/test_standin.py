"""PoolingTokenizer / IdentityTokenizer: shapes, frame counts, exact pinv, reconstruction."""

from __future__ import annotations

import math

import pytest
import torch

from cosmos_train.tokenizers import IdentityTokenizer, PoolingTokenizer, VideoTokenizer


def moving_shapes(batch: int = 4, frames: int = 17, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Smooth test videos in [-1, 1]: an anti-aliased square or circle of a random colour moving
    in a straight line (1-2 px per frame) over a random flat background; ``[B, 3, T, H, W]``."""
    gen = torch.Generator().manual_seed(seed)
    grid = torch.arange(size, dtype=torch.float32) + 0.5
    gy, gx = torch.meshgrid(grid, grid, indexing="ij")
    t = torch.arange(frames, dtype=torch.float32).view(-1, 1, 1)
    out = []
    for i in range(batch):
        bg, fg = torch.rand(3, generator=gen) * 2 - 1, torch.rand(3, generator=gen) * 2 - 1
        radius = size / 8 + float(torch.rand(1, generator=gen)) * size / 8
        vel = (torch.rand(2, generator=gen) * 2 - 1) * 2.0
        start = size / 2 - vel * (frames - 1) / 2  # centred trajectory stays inside the frame
        dx = gx - (start[0] + vel[0] * t)
        dy = gy - (start[1] + vel[1] * t)
        dist = torch.sqrt(dx**2 + dy**2) if i % 2 else torch.maximum(dx.abs(), dy.abs())
        cover = (radius + 0.5 - dist).clamp(0, 1)  # [T, H, W]
        out.append(bg.view(3, 1, 1, 1) + cover * (fg - bg).view(3, 1, 1, 1))
    return torch.stack(out)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB for signals in [-1, 1] (peak-to-peak 2)."""
    return 10 * math.log10(4.0 / float((a - b).square().mean()))


@pytest.mark.parametrize("frames", [1, 5, 93], ids=["T1", "T5", "T93"])
def test_pooling_shapes_and_frame_counts(frames: int) -> None:
    tok = PoolingTokenizer()
    video = torch.rand(1, 3, frames, 16, 24) * 2 - 1
    z = tok.encode(video)
    latent_t = 1 + (frames - 1) // 4
    assert z.shape == (1, 16, latent_t, 2, 3) and z.dtype == torch.float32
    assert tok.get_latent_num_frames(frames) == latent_t
    assert tok.get_pixel_num_frames(latent_t) == frames
    assert tok.decode(z).shape == video.shape


def test_wan_shape_constants() -> None:
    tok = PoolingTokenizer()
    assert isinstance(tok, VideoTokenizer)
    assert (tok.latent_ch, tok.spatial_compression_factor, tok.temporal_compression_factor) == (
        16,
        8,
        4,
    )
    assert tok.get_latent_num_frames(93) == 24 and tok.get_pixel_num_frames(24) == 93


def test_decode_is_pseudo_inverse() -> None:
    """decode is the pseudo-inverse of the linear encode.

    Latent frames after the first are full rank (16 features), so encode(decode(z)) == z there;
    the single-frame first group has no motion features, so encode(decode(.)) is a projection.
    """
    tok = PoolingTokenizer(seed=3)
    z = torch.randn(2, 16, 3, 2, 2) * 0.1  # small enough that decode's clamp stays inactive
    assert tok.decode(z).abs().max() < 1
    zz = tok.encode(tok.decode(z))
    torch.testing.assert_close(zz[:, :, 1:], z[:, :, 1:], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(zz[:, :, :1], z[:, :, :1], atol=1e-3)
    torch.testing.assert_close(tok.encode(tok.decode(zz)), zz, atol=1e-5, rtol=1e-5)


def test_reconstruction_quality_on_moving_shapes() -> None:
    """Decoded moving shapes are recognisable.

    Bars, measured on this data (64x64, T=17): the stand-in reaches 25.7 dB (25.1 dB without its
    motion features); a trivial decoder that outputs each clip's mean colour gets 17.2 dB, and
    per-frame 4x4 average pooling (no temporal compression at all) 27.4 dB. We require > 24 dB and
    a 6 dB margin over the trivial decoder, which fails if the spatial layout were lost.
    """
    video = moving_shapes()
    tok = PoolingTokenizer()
    z = tok.encode(video)
    recon = tok.decode(z)
    trivial = video.mean(dim=(2, 3, 4), keepdim=True).expand_as(video)
    got, base = psnr(recon, video), psnr(trivial, video)
    assert got > 24.0, got
    assert got > base + 6.0, (got, base)
    # Motion inside a 4-frame group is decoded too (frames of one group differ).
    assert (recon[:, :, 1] - recon[:, :, 4]).abs().max() > 0.1
    # Latents are roughly unit-scale (like normalised Wan2.1 latents), not tiny or huge.
    assert 0.5 < float(z.std()) < 2.0


def test_seed_changes_mixing_not_reconstruction() -> None:
    video = moving_shapes(batch=1, frames=9)
    a, b = PoolingTokenizer(seed=0), PoolingTokenizer(seed=1)
    assert not torch.allclose(a.encode(video), b.encode(video))
    torch.testing.assert_close(
        a.decode(a.encode(video)), b.decode(b.encode(video)), atol=1e-5, rtol=1e-5
    )
    torch.testing.assert_close(a.encode(video), PoolingTokenizer(seed=0).encode(video))


def test_other_factors_and_bf16_input() -> None:
    tok = PoolingTokenizer(latent_ch=8, spatial=4, temporal=2)
    video = (torch.rand(2, 3, 7, 8, 12) * 2 - 1).bfloat16()
    z = tok.encode(video)
    assert z.shape == (2, 8, 4, 2, 3) and z.dtype == torch.float32
    assert tok.decode(z).shape == (2, 3, 7, 8, 12)


def test_tokenizer_is_frozen_and_stateless() -> None:
    tok = PoolingTokenizer()
    assert not any(p.requires_grad for p in tok.parameters())
    assert tok.state_dict() == {}  # nothing lands in model checkpoints
    tok.train()
    assert not tok.training
    video = torch.rand(1, 3, 5, 8, 8, requires_grad=True)
    assert not tok.encode(video).requires_grad


@pytest.mark.parametrize(
    "shape, dtype, match",
    [
        ((1, 3, 6, 16, 16), torch.float32, r"1 \+ 4\*k pixel frames, got 6; use 5 or 9"),
        ((1, 3, 5, 12, 16), torch.float32, "divisible by 8"),
        ((1, 4, 5, 16, 16), torch.float32, r"\[B, 3, T, H, W\]"),
        ((3, 5, 16, 16), torch.float32, r"\[B, 3, T, H, W\]"),
        ((1, 3, 5, 16, 16), torch.uint8, "float video"),
    ],
    ids=["bad-frames", "bad-size", "bad-channels", "no-batch", "uint8"],
)
def test_encode_rejects_bad_input(shape: tuple[int, ...], dtype: torch.dtype, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        PoolingTokenizer().encode(torch.zeros(shape, dtype=dtype))


def test_decode_rejects_wrong_channels() -> None:
    with pytest.raises(ValueError, match=r"\[B, 16, T', H', W'\]"):
        PoolingTokenizer().decode(torch.zeros(1, 8, 2, 2, 2))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"spatial": 7}, "even"),
        ({"temporal": 0}, "temporal"),
        ({"latent_ch": 0}, "latent_ch"),
    ],
    ids=["odd-spatial", "zero-temporal", "zero-channels"],
)
def test_pooling_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PoolingTokenizer(**kwargs)


def test_identity_tokenizer() -> None:
    tok = IdentityTokenizer()
    video = torch.rand(2, 3, 6, 5, 7) * 2 - 1
    assert (tok.latent_ch, tok.spatial_compression_factor, tok.temporal_compression_factor) == (
        3,
        1,
        1,
    )
    assert tok.get_latent_num_frames(6) == 6 and tok.get_pixel_num_frames(6) == 6
    torch.testing.assert_close(tok.decode(tok.encode(video)), video)
    wide = IdentityTokenizer(latent_ch=16)
    assert wide.encode(torch.zeros(1, 16, 2, 4, 4)).shape == (1, 16, 2, 4, 4)
    with pytest.raises(ValueError, match="latent_ch"):
        IdentityTokenizer(latent_ch=0)
