"""Weight-free tokenizers for tests and the CPU default.

* :class:`IdentityTokenizer`: latents are the pixels (factors 1/1), for net and loss unit tests.
* :class:`PoolingTokenizer`: a shape-exact stand-in for the Wan2.1 VAE (8x8 spatial, 4x causal
  temporal, 16 channels) whose decode is the exact pseudo-inverse of its linear encode, so decoded
  samples of smooth synthetic videos are recognisable.

PoolingTokenizer features, per latent cell (``spatial x spatial`` pixels, one frame group):

* 12 colour means: each of the 3 channels averaged over the group's frames and over each of the
  2x2 sub-blocks of the cell (``spatial/2`` pixels square), keeping more detail than one mean;
* 4 motion slopes: the least-squares per-frame slope of the intensity (channel mean) over the
  group's frames, per 2x2 sub-block (zero for the first, single-frame group).

The 16 features are scaled to roughly unit variance on moving-shape videos and mixed by a fixed
seeded orthogonal matrix into ``latent_ch`` channels, so every channel carries a bit of
everything, as in a learned latent. All feature rows are mutually orthogonal, hence the
pseudo-inverse decode is "nearest upsampling of the sub-block means plus each sub-block's slope
times the frame's offset from the group centre".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cosmos_train.tokenizers.base import VideoTokenizer

__all__ = ["IdentityTokenizer", "PoolingTokenizer"]

#: Feature scales for roughly unit-scale latents. Measured on moving-shape videos in [-1, 1]: the
#: sub-block means have std 0.2-0.5 and the per-frame intensity slopes std 0.04-0.06; latents of
#: ``SyntheticVideoDataset`` then have std 1.17 (mean 0.45), reconstruction PSNR 25.9 dB.
_MEAN_SCALE = 1.6
_SLOPE_SCALE = 16.0
_NUM_FEATURES = 16


class IdentityTokenizer(VideoTokenizer):
    """Latents equal pixels: compression factors 1/1, ``latent_ch`` channels in and out.

    Args:
        latent_ch: channels of both the "video" and the latent (3 for RGB videos).
    """

    def __init__(self, *, latent_ch: int = 3) -> None:
        super().__init__()
        if not isinstance(latent_ch, int) or latent_ch < 1:
            raise ValueError(
                f"IdentityTokenizer: latent_ch must be a positive int, got {latent_ch!r}"
            )
        self._latent_ch = latent_ch
        self.freeze()

    @property
    def latent_ch(self) -> int:
        return self._latent_ch

    @property
    def video_channels(self) -> int:
        return self._latent_ch

    @property
    def spatial_compression_factor(self) -> int:
        return 1

    @property
    def temporal_compression_factor(self) -> int:
        return 1

    def _encode(self, video: torch.Tensor) -> torch.Tensor:
        return video.float().clone()

    def _decode(self, latent: torch.Tensor) -> torch.Tensor:
        return latent.float().clone()


def _seeded_orthogonal(rows: int, cols: int, seed: int) -> torch.Tensor:
    """A ``rows x cols`` matrix with orthonormal columns (rows >= cols) or rows, from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    tall = torch.randn(max(rows, cols), min(rows, cols), generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(tall)
    q = q * torch.sign(torch.diagonal(r))  # unique Q (Haar-distributed) for a given seed
    return (q if rows >= cols else q.T).float()


class PoolingTokenizer(VideoTokenizer):
    """Wan2.1-shaped stand-in: causal grouping, sub-block pooling, seeded projection; pinv decode.

    Args:
        latent_ch: latent channels (16 like Wan2.1; below 16 the decode is a least-squares one).
        spatial: spatial compression factor (even; 8 like Wan2.1).
        temporal: temporal compression factor (4 like Wan2.1): frame 0 alone, then groups.
        seed: seed of the fixed channel-mixing matrix.
    """

    def __init__(
        self, *, latent_ch: int = 16, spatial: int = 8, temporal: int = 4, seed: int = 0
    ) -> None:
        super().__init__()
        for name, value in (("latent_ch", latent_ch), ("spatial", spatial), ("temporal", temporal)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"PoolingTokenizer: {name} must be a positive int, got {value!r}")
        if spatial % 2:
            raise ValueError(
                f"PoolingTokenizer: spatial must be even (cells are split into 2x2 sub-blocks), "
                f"got {spatial}; use 8 for the Wan2.1 shape"
            )
        self._latent_ch = latent_ch
        self._spatial = spatial
        self._temporal = temporal
        mix = _seeded_orthogonal(latent_ch, _NUM_FEATURES, seed)  # [C, 16]
        scale = torch.tensor([_MEAN_SCALE] * 12 + [_SLOPE_SCALE] * 4)
        # Non-persistent: the tokenizer is rebuilt from its arguments, never checkpointed.
        self.register_buffer("mix", mix, persistent=False)
        self.register_buffer("unmix", torch.linalg.pinv(mix.double()).float(), persistent=False)
        self.register_buffer("feature_scale", scale, persistent=False)
        tau = torch.arange(temporal, dtype=torch.float32) - (temporal - 1) / 2
        self.register_buffer("tau", tau, persistent=False)
        self.freeze()

    @property
    def latent_ch(self) -> int:
        return self._latent_ch

    @property
    def spatial_compression_factor(self) -> int:
        return self._spatial

    @property
    def temporal_compression_factor(self) -> int:
        return self._temporal

    # ----------------------------------------------------------------- encode
    def _features(self, video: torch.Tensor) -> torch.Tensor:
        """The 16 raw features per latent cell: ``[B, 16, T', H', W']``."""
        b, _, t, h, w = video.shape
        sub = self._spatial // 2
        k = (t - 1) // self._temporal
        first = video[:, :, :1]
        rest = video[:, :, 1:].reshape(b, 3, k, self._temporal, h, w)
        means = torch.cat([first, rest.mean(dim=3)], dim=2)  # [B, 3, T', H, W]
        tau = self.tau.view(1, 1, 1, -1, 1, 1)
        slope = (rest * tau).sum(dim=3) / self.tau.square().sum().clamp_min(1e-12)
        slopes = torch.cat([torch.zeros_like(first), slope], dim=2).mean(dim=1, keepdim=True)
        # [B, 4, T', 2H', 2W']
        pooled = F.avg_pool3d(torch.cat([means, slopes], dim=1), (1, sub, sub))
        tl, hl, wl = pooled.shape[2], h // self._spatial, w // self._spatial
        # [B, 4, T', H', 2, W', 2] -> [B, 4, 2, 2, T', H', W'] -> features ordered (c, sy, sx).
        cells = pooled.reshape(b, 4, tl, hl, 2, wl, 2).permute(0, 1, 4, 6, 2, 3, 5)
        return cells.reshape(b, _NUM_FEATURES, tl, hl, wl)

    def _encode(self, video: torch.Tensor) -> torch.Tensor:
        feats = self._features(video.float()) * self.feature_scale.view(1, -1, 1, 1, 1)
        return torch.einsum("cf,bfthw->bcthw", self.mix, feats)

    # ----------------------------------------------------------------- decode
    def _decode(self, latent: torch.Tensor) -> torch.Tensor:
        b, _, tl, hl, wl = latent.shape
        feats = torch.einsum("fc,bcthw->bfthw", self.unmix, latent.float())
        feats = feats / self.feature_scale.view(1, -1, 1, 1, 1)
        # Back to sub-block images [B, 4, T', 2H', 2W'], then nearest upsampling (the pinv of
        # average pooling) to full resolution.
        cells = feats.reshape(b, 4, 2, 2, tl, hl, wl).permute(0, 1, 4, 5, 2, 6, 3)
        sub_img = cells.reshape(b, 4, tl, 2 * hl, 2 * wl)
        sub = self._spatial // 2
        full = sub_img.repeat_interleave(sub, dim=3).repeat_interleave(sub, dim=4)
        means, slopes = full[:, :3], full[:, 3:]
        frames = [means[:, :, :1]]
        if tl > 1:
            tau = self.tau.view(1, 1, 1, -1, 1, 1)
            group = means[:, :, 1:, None] + tau * slopes[:, :, 1:, None]  # [B, 3, T'-1, tc, H, W]
            frames.append(group.flatten(2, 3))
        return torch.cat(frames, dim=2).clamp(-1.0, 1.0)
