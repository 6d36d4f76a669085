"""The video tokenizer interface the diffusion model codes against.

A tokenizer maps pixel videos ``[B, 3, T, H, W]`` in ``[-1, 1]`` to normalised latents
``[B, C, T', H', W']`` and back. Wan2.1-style tokenizers are *causal*: the first frame is coded
alone and every later group of ``temporal_compression_factor`` frames gives one latent frame, so
valid clip lengths are ``1 + k * tc`` (93 frames -> 24 latent frames for Wan2.1).

Tokenizers are frozen: they hold no trainable parameters (``requires_grad`` is off), run in
``eval()`` mode and encode/decode under ``torch.no_grad()``.
"""

from __future__ import annotations

import abc

import torch
from torch import nn

__all__ = ["VideoTokenizer"]


class VideoTokenizer(nn.Module, abc.ABC):
    """Abstract frozen video tokenizer (encode/decode plus compression bookkeeping).

    Subclasses implement :meth:`_encode`, :meth:`_decode` and the three properties; the public
    :meth:`encode`/:meth:`decode` validate shapes, disable autograd and keep the module frozen.
    Move a tokenizer with ``tokenizer.to(device)`` like any module.
    """

    # ----------------------------------------------------------------- properties
    @property
    @abc.abstractmethod
    def latent_ch(self) -> int:
        """Number of latent channels ``C``."""

    @property
    @abc.abstractmethod
    def spatial_compression_factor(self) -> int:
        """Pixels per latent cell along H and along W."""

    @property
    @abc.abstractmethod
    def temporal_compression_factor(self) -> int:
        """Pixel frames per latent frame after the first (causal) one."""

    @property
    def video_channels(self) -> int:
        """Channels of the pixel videos this tokenizer codes (3, RGB)."""
        return 3

    # ----------------------------------------------------------------- frame counts
    def get_latent_num_frames(self, num_pixel_frames: int) -> int:
        """Latent frames for a clip of ``num_pixel_frames`` frames: ``1 + (T - 1) // tc``.

        Raises:
            ValueError: when ``T`` is not ``1 + k * tc`` (the causal tokenizer cannot code it).
        """
        tc = self.temporal_compression_factor
        t = int(num_pixel_frames)
        if t < 1 or (t - 1) % tc != 0:
            lo = max(1, 1 + ((t - 1) // tc) * tc)
            raise ValueError(
                f"{type(self).__name__} needs 1 + {tc}*k pixel frames, got {t}; "
                f"use {lo} or {lo + tc} frames (e.g. set the dataset's num_frames)"
            )
        return 1 + (t - 1) // tc

    def get_pixel_num_frames(self, num_latent_frames: int) -> int:
        """Pixel frames decoded from ``num_latent_frames`` latent frames: ``1 + (T' - 1) * tc``."""
        t = int(num_latent_frames)
        if t < 1:
            raise ValueError(f"num_latent_frames must be >= 1, got {t}")
        return 1 + (t - 1) * self.temporal_compression_factor

    # ----------------------------------------------------------------- public API
    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """Encode ``video`` ``[B, 3, T, H, W]`` (float, in ``[-1, 1]``) to normalised latents.

        Returns:
            float32 latents ``[B, latent_ch, T', H / s, W / s]``.
        """
        self._check_video(video)
        return self._encode(video)

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Decode latents ``[B, latent_ch, T', H', W']`` to a float32 video in ``[-1, 1]``."""
        self._check_latent(latent)
        return self._decode(latent)

    @abc.abstractmethod
    def _encode(self, video: torch.Tensor) -> torch.Tensor:
        """Encode an already validated video."""

    @abc.abstractmethod
    def _decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Decode already validated latents."""

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``video`` (encode then decode)."""
        return self.decode(self.encode(video))

    def freeze(self) -> VideoTokenizer:
        """Turn off gradients and switch to eval mode; subclasses call this at the end of init."""
        self.requires_grad_(False)
        self.eval()
        return self

    def train(self, mode: bool = True) -> VideoTokenizer:
        """Tokenizers stay in eval mode: a parent's ``model.train()`` must not change them."""
        return super().train(False)

    def extra_repr(self) -> str:
        return (
            f"latent_ch={self.latent_ch}, "
            f"spatial_compression_factor={self.spatial_compression_factor}, "
            f"temporal_compression_factor={self.temporal_compression_factor}"
        )

    # ----------------------------------------------------------------- validation
    def _module_device(self) -> torch.device | None:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return None

    def _check_device(self, x: torch.Tensor, what: str) -> None:
        dev = self._module_device()
        if dev is not None and dev != x.device:
            raise ValueError(
                f"{type(self).__name__}.{what}: input is on {x.device} but the tokenizer is on "
                f"{dev}; call tokenizer.to({str(x.device)!r}) first"
            )

    def _check_video(self, video: torch.Tensor) -> None:
        name = type(self).__name__
        if not isinstance(video, torch.Tensor):
            raise TypeError(f"{name}.encode expects a torch.Tensor, got {type(video).__name__}")
        c = self.video_channels
        if video.dim() != 5 or video.shape[1] != c:
            raise ValueError(
                f"{name}.encode expects a video [B, {c}, T, H, W], got shape {tuple(video.shape)}; "
                "images need a time axis of 1 ([B, 3, 1, H, W])"
            )
        if not video.is_floating_point():
            raise TypeError(
                f"{name}.encode expects a float video in [-1, 1], got dtype {video.dtype}; "
                "convert uint8 frames with video.float() / 127.5 - 1"
            )
        s = self.spatial_compression_factor
        h, w = video.shape[-2:]
        if h % s or w % s:
            raise ValueError(
                f"{name}.encode needs H and W divisible by {s}, got {h}x{w}; "
                f"resize or crop to {h // s * s}x{w // s * s}"
            )
        self.get_latent_num_frames(video.shape[2])  # raises with a suggestion when invalid
        self._check_device(video, "encode")

    def _check_latent(self, latent: torch.Tensor) -> None:
        name = type(self).__name__
        if not isinstance(latent, torch.Tensor):
            raise TypeError(f"{name}.decode expects a torch.Tensor, got {type(latent).__name__}")
        if latent.dim() != 5 or latent.shape[1] != self.latent_ch:
            raise ValueError(
                f"{name}.decode expects latents [B, {self.latent_ch}, T', H', W'], "
                f"got shape {tuple(latent.shape)}"
            )
        if not latent.is_floating_point():
            raise TypeError(f"{name}.decode expects float latents, got dtype {latent.dtype}")
        self._check_device(latent, "decode")
