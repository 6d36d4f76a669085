"""The Wan2.1 VAE (Cosmos-Predict2.5's video tokenizer): architecture, weights loading, tokenizer.

:class:`WanVAEModel` is a re-implementation of the reference ``WanVAE_`` whose ``state_dict``
keys and shapes equal the released ``Wan2.1_VAE.pth`` (126,892,531 parameters, 194 tensors), so
the official weights load strictly. :class:`Wan21VAE` wraps it as a :class:`VideoTokenizer`
(bf16 weights, latent normalisation with :data:`WAN21_LATENT_MEAN` / :data:`WAN21_LATENT_STD`).

Temporal processing is causal and streamed in chunks, as in the reference: the encoder sees
frame 0 alone, then chunks of ``temporal_window`` frames; the decoder sees latent frame 0 alone,
then chunks of ``decode_window`` latent frames (1 in the reference). Each causal convolution
keeps the last two frames of its input as context for the next chunk (zeros before the first),
so the chunk sizes only change round-off. Two rules are the reference's and are kept:

* a temporal *downsample* passes the first chunk through untouched (its stride-2 time conv
  starts at the second chunk, with the previous chunk's last frame as context);
* a temporal *upsample* passes the first chunk through untouched, so latent frame 0 decodes to
  one frame and every later latent frame to four; its time conv then starts from zero context.

Weights come from ``ckpt_path`` (a local file, or the catalogue name ``Wan2.1/vae`` / an ``hf://``
spec resolved through the Hugging Face cache, see :mod:`cosmos_train.checkpoint.hub`) or random
init.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cosmos_train.tokenizers.base import VideoTokenizer
from cosmos_train.utils.dtypes import parse_dtype

__all__ = [
    "WAN21_LATENT_MEAN",
    "WAN21_LATENT_STD",
    "WAN21_VAE_KWARGS",
    "WanVAEModel",
    "Wan21VAE",
    "load_wan21_state_dict",
]

log = logging.getLogger(__name__)

#: Per-channel latent mean of the Wan2.1 VAE (Cosmos-Predict2.5 ``tokenizers/wan2pt1.py``).
WAN21_LATENT_MEAN: tuple[float, ...] = (
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
    0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
)  # fmt: skip
#: Per-channel latent std of the Wan2.1 VAE; latents are ``(mu - mean) * (1 / std)``.
WAN21_LATENT_STD: tuple[float, ...] = (
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160,
)  # fmt: skip
#: ``WanVAE_`` kwargs of the released VAE as Cosmos-Predict2.5 builds it.
WAN21_VAE_KWARGS: dict = dict(
    dim=96, z_dim=16, dim_mult=(1, 2, 4, 4), num_res_blocks=2, attn_scales=(),
    temperal_downsample=(False, True, True), dropout=0.0,
)  # fmt: skip

#: Frames of context a kernel-3 causal time conv needs from the previous chunk.
_CONTEXT_T = 2

#: Streaming state of one encode/decode call: per-module cached context (or a first-chunk mark).
_State = dict


class CausalConv3d(nn.Conv3d):
    """Conv3d that is causal in time: ``kt - 1`` frames of past context, none of the future.

    Spatial padding is symmetric and done by the convolution itself; the temporal context is
    either zeros (no ``state``) or the previous chunk's last input frames, kept in ``state``.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int | tuple[int, int, int],
        *,
        stride: int | tuple[int, int, int] = 1,
        padding: int | tuple[int, int, int] = 0,
    ) -> None:
        k = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
        p = (padding,) * 3 if isinstance(padding, int) else tuple(padding)
        super().__init__(in_ch, out_ch, k, stride=stride, padding=(0, p[1], p[2]))
        # The reference pads 2*p_t frames in front only; with p_t = (kt - 1) / 2 that is kt - 1.
        self.context_t = 2 * p[0]

    def forward(self, x: torch.Tensor, state: _State | None = None) -> torch.Tensor:  # type: ignore[override]
        n = self.context_t
        if n == 0:
            return super().forward(x)
        ctx = state.get(self) if state is not None else None
        if ctx is None:
            ctx = x.new_zeros(x.shape[0], x.shape[1], n, *x.shape[3:])
        full = torch.cat([ctx, x], dim=2)
        if state is not None:
            # clone: a slice would keep the whole (large) concatenated chunk alive.
            state[self] = full[:, :, -n:].clone()
        return super().forward(full)


class RMSNorm(nn.Module):
    """Channel RMS norm ``normalize(x, dim=1) * sqrt(C) * gamma`` (the reference's ``RMS_norm``).

    Args:
        dim: channels.
        images: ``True`` gives ``gamma`` the shape ``[C, 1, 1]`` (attention blocks), else
            ``[C, 1, 1, 1]``; both are applied to 5-D ``[B, C, T, H, W]`` tensors here.
    """

    def __init__(self, dim: int, *, images: bool) -> None:
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(dim, 1, 1) if images else torch.ones(dim, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gamma = self.gamma.view(-1, 1, 1, 1)
        return F.normalize(x, dim=1) * self.scale * gamma


class ResidualBlock(nn.Module):
    """Norm-SiLU-conv twice plus a (1x1x1 conv when the width changes) shortcut.

    ``residual`` keeps the reference's Sequential indices (0 norm, 1 SiLU, 2 conv, 3 norm,
    4 SiLU, 5 dropout, 6 conv) so the state_dict keys match.
    """

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            RMSNorm(in_dim, images=False),
            nn.SiLU(),
            CausalConv3d(in_dim, out_dim, 3, padding=1),
            RMSNorm(out_dim, images=False),
            nn.SiLU(),
            nn.Dropout(dropout),
            CausalConv3d(out_dim, out_dim, 3, padding=1),
        )
        self.shortcut = CausalConv3d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def forward(self, x: torch.Tensor, state: _State | None = None) -> torch.Tensor:
        norm1, _, conv1, norm2, _, drop, conv2 = self.residual
        h = self.shortcut(x)
        x = conv1(F.silu(norm1(x), inplace=True), state)
        x = conv2(drop(F.silu(norm2(x), inplace=True)), state)
        return x + h


class AttentionBlock(nn.Module):
    """Single-head self-attention over the pixels of each frame (1x1 conv q/k/v and output)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)
        nn.init.zeros_(self.proj.weight)  # the reference starts as an identity block

    def forward(self, x: torch.Tensor, state: _State | None = None) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = self.norm(x).permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        qkv = self.to_qkv(y).reshape(b * t, 1, 3 * c, h * w).transpose(-1, -2)
        q, k, v = qkv.contiguous().chunk(3, dim=-1)
        y = F.scaled_dot_product_attention(q, k, v)  # [(b t), 1, hw, c]
        y = y.squeeze(1).transpose(1, 2).reshape(b * t, c, h, w)
        y = self.proj(y).reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)
        return x + y


class Resample(nn.Module):
    """Spatial x2 down/upsampling per frame, optionally with a causal temporal x2 (``*3d``).

    ``resample.1`` is the reference's Conv2d (index 0 there is the parameter-free pad/upsample).
    It is run as a conv3d with a time kernel of 1, which avoids reshaping to frames.
    """

    MODES = ("upsample2d", "upsample3d", "downsample2d", "downsample3d")

    def __init__(self, dim: int, mode: str) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"Resample mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        if mode.startswith("upsample"):
            self.resample = nn.Sequential(nn.Identity(), nn.Conv2d(dim, dim // 2, 3, padding=1))
        else:
            self.resample = nn.Sequential(nn.Identity(), nn.Conv2d(dim, dim, 3, stride=2))
        if mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))
        elif mode == "downsample3d":
            self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1))

    def _spatial(self, x: torch.Tensor) -> torch.Tensor:
        conv: nn.Conv2d = self.resample[1]
        weight = conv.weight.unsqueeze(2)
        if self.mode.startswith("upsample"):
            x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest-exact")
            return F.conv3d(x, weight, conv.bias, padding=(0, 1, 1))
        x = F.pad(x, (0, 1, 0, 1))  # the reference's ZeroPad2d((0, 1, 0, 1))
        return F.conv3d(x, weight, conv.bias, stride=(1, 2, 2))

    def forward(self, x: torch.Tensor, state: _State | None = None) -> torch.Tensor:
        if self.mode == "upsample3d":
            x = self._time_upsample(x, state)
        x = self._spatial(x)
        if self.mode == "downsample3d":
            x = self._time_downsample(x, state)
        return x

    def _time_upsample(self, x: torch.Tensor, state: _State | None) -> torch.Tensor:
        if state is None:
            raise ValueError(
                "upsample3d needs a streaming state (decode through WanVAEModel.decode)"
            )
        if self not in state:  # first chunk: no temporal upsampling (1 latent frame -> 1 frame)
            state[self] = True
            return x
        b, c, t, h, w = x.shape
        y = self.time_conv(x, state)  # [B, 2C, T, H, W]: channel halves are frames 2i and 2i+1
        return y.view(b, 2, c, t, h, w).permute(0, 2, 3, 1, 4, 5).reshape(b, c, 2 * t, h, w)

    def _time_downsample(self, x: torch.Tensor, state: _State | None) -> torch.Tensor:
        if state is None:
            raise ValueError(
                "downsample3d needs a streaming state (encode through WanVAEModel.encode)"
            )
        prev = state.get(self)
        state[self] = x[:, :, -1:].clone()
        if prev is None:  # first chunk passes through; its last frame is the next context
            return x
        # Stride-2 time conv over [previous last frame, this chunk] (no zero padding).
        return nn.Conv3d.forward(self.time_conv, torch.cat([prev, x], dim=2))


def _run(layers: Iterable[nn.Module], x: torch.Tensor, state: _State | None) -> torch.Tensor:
    for layer in layers:
        x = layer(x, state)
    return x


class Encoder3d(nn.Module):
    """Pixels ``[B, 3, T, H, W]`` -> ``[B, 2 z_dim, 1 + (T - 1) / 4, H / 8, W / 8]``."""

    def __init__(
        self,
        dim: int,
        z_dim: int,
        dim_mult: Sequence[int],
        num_res_blocks: int,
        attn_scales: Sequence[float],
        temperal_downsample: Sequence[bool],
        dropout: float,
    ) -> None:
        super().__init__()
        dims = [dim * u for u in [1, *dim_mult]]
        self.conv1 = CausalConv3d(3, dims[0], 3, padding=1)
        layers: list[nn.Module] = []
        scale = 1.0
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(num_res_blocks):
                layers.append(ResidualBlock(in_dim, out_dim, dropout))
                if scale in attn_scales:
                    layers.append(AttentionBlock(out_dim))
                in_dim = out_dim
            if i != len(dim_mult) - 1:
                layers.append(
                    Resample(out_dim, "downsample3d" if temperal_downsample[i] else "downsample2d")
                )
                scale /= 2.0
        self.downsamples = nn.Sequential(*layers)
        self.middle = nn.Sequential(
            ResidualBlock(dims[-1], dims[-1], dropout),
            AttentionBlock(dims[-1]),
            ResidualBlock(dims[-1], dims[-1], dropout),
        )
        self.head = nn.Sequential(
            RMSNorm(dims[-1], images=False), nn.SiLU(), CausalConv3d(dims[-1], z_dim, 3, padding=1)
        )

    def forward(self, x: torch.Tensor, state: _State | None = None) -> torch.Tensor:
        x = self.conv1(x, state)
        x = _run(self.downsamples, x, state)
        x = _run(self.middle, x, state)
        return self.head[2](F.silu(self.head[0](x)), state)


class Decoder3d(nn.Module):
    """Latents ``[B, z_dim, T', H', W']`` -> pixels ``[B, 3, 1 + 4 (T' - 1), 8 H', 8 W']``."""

    def __init__(
        self,
        dim: int,
        z_dim: int,
        dim_mult: Sequence[int],
        num_res_blocks: int,
        attn_scales: Sequence[float],
        temperal_upsample: Sequence[bool],
        dropout: float,
    ) -> None:
        super().__init__()
        dims = [dim * u for u in [dim_mult[-1], *reversed(dim_mult)]]
        scale = 1.0 / 2 ** (len(dim_mult) - 2)
        self.conv1 = CausalConv3d(z_dim, dims[0], 3, padding=1)
        self.middle = nn.Sequential(
            ResidualBlock(dims[0], dims[0], dropout),
            AttentionBlock(dims[0]),
            ResidualBlock(dims[0], dims[0], dropout),
        )
        layers: list[nn.Module] = []
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:  # every Resample upsample halves the channels
                in_dim = in_dim // 2
            for _ in range(num_res_blocks + 1):
                layers.append(ResidualBlock(in_dim, out_dim, dropout))
                if scale in attn_scales:
                    layers.append(AttentionBlock(out_dim))
                in_dim = out_dim
            if i != len(dim_mult) - 1:
                layers.append(
                    Resample(out_dim, "upsample3d" if temperal_upsample[i] else "upsample2d")
                )
                scale *= 2.0
        self.upsamples = nn.Sequential(*layers)
        self.head = nn.Sequential(
            RMSNorm(dims[-1], images=False), nn.SiLU(), CausalConv3d(dims[-1], 3, 3, padding=1)
        )

    def forward(self, x: torch.Tensor, state: _State | None = None) -> torch.Tensor:
        x = self.conv1(x, state)
        x = _run(self.middle, x, state)
        x = _run(self.upsamples, x, state)
        return self.head[2](F.silu(self.head[0](x)), state)


class WanVAEModel(nn.Module):
    """The Wan2.1 VAE network (reference class ``WanVAE_``); keys match ``Wan2.1_VAE.pth``.

    Args:
        dim: base width (96 released; the parity fixture uses 4).
        z_dim: latent channels (16).
        dim_mult: width multipliers per resolution level.
        num_res_blocks: residual blocks per encoder level (decoder: one more).
        attn_scales: resolutions (1, 1/2, ...) with extra attention blocks (none released).
        temperal_downsample: which encoder levels also halve time (reference spelling).
        dropout: dropout in residual blocks (0 released).
        temporal_window: pixel frames per encoder chunk after frame 0 (a multiple of 4).
        decode_window: latent frames per decoder chunk after latent frame 0 (1 in the reference).
    """

    def __init__(
        self,
        *,
        dim: int = 96,
        z_dim: int = 16,
        dim_mult: Sequence[int] = (1, 2, 4, 4),
        num_res_blocks: int = 2,
        attn_scales: Sequence[float] = (),
        temperal_downsample: Sequence[bool] = (False, True, True),
        dropout: float = 0.0,
        temporal_window: int = 16,
        decode_window: int = 1,
    ) -> None:
        super().__init__()
        if len(temperal_downsample) != len(dim_mult) - 1:
            raise ValueError(
                f"temperal_downsample needs {len(dim_mult) - 1} entries (one per downsample), "
                f"got {list(temperal_downsample)}"
            )
        self.z_dim = z_dim
        self.temporal_factor = 2 ** sum(bool(d) for d in temperal_downsample)
        self.spatial_factor = 2 ** (len(dim_mult) - 1)
        self.set_windows(temporal_window=temporal_window, decode_window=decode_window)
        self.encoder = Encoder3d(
            dim, z_dim * 2, dim_mult, num_res_blocks, attn_scales, temperal_downsample, dropout
        )
        self.conv1 = CausalConv3d(z_dim * 2, z_dim * 2, 1)
        self.conv2 = CausalConv3d(z_dim, z_dim, 1)
        self.decoder = Decoder3d(
            dim,
            z_dim,
            dim_mult,
            num_res_blocks,
            attn_scales,
            list(temperal_downsample)[::-1],
            dropout,
        )

    def set_windows(
        self, *, temporal_window: int | None = None, decode_window: int | None = None
    ) -> None:
        """Change the chunk sizes (they change memory and speed, not results beyond round-off)."""
        if temporal_window is not None:
            if temporal_window < 1 or temporal_window % self.temporal_factor:
                raise ValueError(
                    f"temporal_window must be a positive multiple of {self.temporal_factor}, "
                    f"got {temporal_window}"
                )
            self.temporal_window = int(temporal_window)
        if decode_window is not None:
            if decode_window < 1:
                raise ValueError(f"decode_window must be >= 1, got {decode_window}")
            self.decode_window = int(decode_window)

    @torch.no_grad()
    def init_weights(self) -> None:
        """The reference's init: PyTorch default conv init, unit gammas, zero attention proj."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                m.reset_parameters()
            elif isinstance(m, RMSNorm):
                m.gamma.fill_(1.0)
        for m in self.modules():
            if isinstance(m, AttentionBlock):
                m.proj.weight.zero_()

    def encode(self, x: torch.Tensor, scale: Sequence[torch.Tensor | float]) -> torch.Tensor:
        """Normalised mean latents ``(mu - scale[0]) * scale[1]`` of ``x`` ``[B, 3, 1 + 4k, H,
        W]``."""
        t = x.shape[2]
        if (t - 1) % self.temporal_factor:
            raise ValueError(f"the Wan2.1 VAE encodes 1 + {self.temporal_factor}k frames, got {t}")
        state: _State = {}
        outs = [self.encoder(x[:, :, :1], state)]
        for start in range(1, t, self.temporal_window):
            outs.append(self.encoder(x[:, :, start : start + self.temporal_window], state))
        mu = self.conv1(torch.cat(outs, dim=2))[:, : self.z_dim]  # log_var is not used
        return (mu - self._per_channel(scale[0], mu)) * self._per_channel(scale[1], mu)

    def decode(self, z: torch.Tensor, scale: Sequence[torch.Tensor | float]) -> torch.Tensor:
        """Pixels (unclamped) from normalised latents: ``z / scale[1] + scale[0]``, then decode."""
        z = z / self._per_channel(scale[1], z) + self._per_channel(scale[0], z)
        x = self.conv2(z)
        state: _State = {}
        outs = [self.decoder(x[:, :, :1], state)]
        for start in range(1, x.shape[2], self.decode_window):
            outs.append(self.decoder(x[:, :, start : start + self.decode_window], state))
        return torch.cat(outs, dim=2)

    def _per_channel(self, value: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor | float:
        if isinstance(value, torch.Tensor):
            return value.to(like.device).view(1, self.z_dim, 1, 1, 1)
        return value


def _readable_diff(model: nn.Module, sd: dict[str, torch.Tensor], limit: int = 8) -> str:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {
        k: tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
        for k, v in sd.items()
    }
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    shapes = [
        f"{k}: file {got[k]} vs model {expected[k]}"
        for k in expected
        if k in got and got[k] != expected[k]
    ]
    lines = []
    for title, items in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("shape mismatch", shapes),
    ):
        if items:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            lines.append(f"  {title} ({len(items)}): " + ", ".join(items[:limit]) + more)
    return "\n".join(lines)


def _read_checkpoint(path: str) -> object:
    """``torch.load`` with tensors only; memory-mapped when the file format allows it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:
        pass  # legacy (non-zip) files cannot be memory-mapped: read them normally below
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - reported with the path and what to do
        raise ValueError(
            f"could not read {path!r} as a PyTorch state_dict ({type(err).__name__}: {err}); it "
            "must be a file written by torch.save(model.state_dict(), path), such as Wan2.1_VAE.pth"
        ) from err


def load_wan21_state_dict(model: WanVAEModel, path: str | os.PathLike) -> None:
    """Load a local Wan2.1 VAE state_dict file into ``model`` strictly (keys and shapes).

    Raises:
        FileNotFoundError: the file does not exist (nothing is ever downloaded).
        ValueError: the file is not a Wan2.1 VAE state_dict for this configuration.
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Wan2.1 VAE weights not found at {path!r}. Set tokenizer.ckpt_path to the catalogue "
            "name Wan2.1/vae (tokenizer.pth of nvidia/Cosmos-Predict2.5-2B, via the Hugging Face "
            "cache) or to a local Wan2.1_VAE.pth, or set tokenizer.ckpt_path=null for random "
            "weights (timing only), or use the PoolingTokenizer stand-in."
        )
    sd = _read_checkpoint(path)
    for wrapper in ("state_dict", "model"):  # tolerate the usual {"state_dict": {...}} wrapping
        if isinstance(sd, dict) and set(sd) == {wrapper} and isinstance(sd[wrapper], dict):
            sd = sd[wrapper]
    if not isinstance(sd, dict):
        raise ValueError(
            f"{path!r} holds a {type(sd).__name__}, not a state_dict (a dict of tensors)"
        )
    diff = _readable_diff(model, sd)
    if diff:
        raise ValueError(
            f"{path!r} does not match the Wan2.1 VAE architecture (WanVAE_ keys, as in "
            f"Wan2.1_VAE.pth); check the file and the dim/z_dim arguments:\n{diff}"
        )
    model.load_state_dict(sd, strict=True)


#: Seed of the random weights used when no checkpoint is given (timing runs).
RANDOM_INIT_SEED = 0


class Wan21VAE(VideoTokenizer):
    """The Wan2.1 VAE as a frozen tokenizer: 8x8 spatial, 4x causal temporal, 16 channels.

    ``encode`` returns float32 normalised mean latents ``(mu - mean) * (1 / std)`` (no sampling);
    ``decode`` returns a float32 video clamped to ``[-1, 1]``. Weights and the mean/std constants
    are kept in ``dtype`` (bf16 as in Cosmos, where ``1 / std`` is also rounded to bf16).

    Args:
        ckpt_path: ``Wan2.1_VAE.pth``: a local path, the catalogue name ``Wan2.1/vae`` or an
            ``hf://`` spec (:func:`cosmos_train.checkpoint.hub.resolve_weights`; strict key check);
            ``None`` or ``""``: random init (timing).
        allow_random: with ``ckpt_path=None``, permit random weights even when the run loads
            released net weights
            (:func:`cosmos_train.checkpoint.pretrained.check_pretrained_parts`).
        dtype: weight and compute dtype (``"bfloat16"``, ``"float16"`` or ``"float32"``).
        temporal_window: pixel frames per encoder chunk after frame 0 (16 in Predict2.5).
        decode_window: latent frames per decoder chunk after the first (1 as in the reference).
        z_dim, dim, dim_mult, num_res_blocks, attn_scales, temperal_downsample, dropout:
            architecture (defaults: the released VAE).
        latent_mean, latent_std: per-channel normalisation (defaults: the Wan2.1 constants).
        device: where to build the weights (default: CPU; or move later with ``.to()``).
    """

    def __init__(
        self,
        *,
        ckpt_path: str | None = None,
        dtype: str | torch.dtype = "bfloat16",
        temporal_window: int = 16,
        decode_window: int = 1,
        z_dim: int = 16,
        dim: int = 96,
        dim_mult: Sequence[int] = (1, 2, 4, 4),
        num_res_blocks: int = 2,
        attn_scales: Sequence[float] = (),
        temperal_downsample: Sequence[bool] = (False, True, True),
        dropout: float = 0.0,
        latent_mean: Sequence[float] | None = None,
        latent_std: Sequence[float] | None = None,
        device: str | torch.device | None = None,
        allow_random: bool = False,
    ) -> None:
        super().__init__()
        self.dtype = parse_dtype(dtype, "Wan21VAE dtype")
        self.allow_random = bool(allow_random)
        mean = tuple(WAN21_LATENT_MEAN if latent_mean is None else latent_mean)
        std = tuple(WAN21_LATENT_STD if latent_std is None else latent_std)
        if len(mean) != z_dim or len(std) != z_dim:
            raise ValueError(
                f"latent_mean/latent_std need z_dim={z_dim} values, got {len(mean)}/{len(std)}; "
                "pass your own constants when z_dim is not 16"
            )
        device = torch.device(device) if device is not None else torch.device("cpu")
        with torch.device("meta"):
            model = WanVAEModel(
                dim=dim,
                z_dim=z_dim,
                dim_mult=dim_mult,
                num_res_blocks=num_res_blocks,
                attn_scales=attn_scales,
                temperal_downsample=temperal_downsample,
                dropout=dropout,
                temporal_window=temporal_window,
                decode_window=decode_window,
            )
        model.to_empty(device=device)
        if not ckpt_path:  # None or "" (a command line cannot set a str field back to null)
            ckpt_path = None
            log.warning(
                "Wan2.1 VAE with RANDOM weights (model.config.tokenizer.ckpt_path is not set): "
                "fine for timing, useless for quality; set it to Wan2.1/vae for the released VAE"
            )
            # Seeded, so every process (each rank, tools/cache_latents.py) gets the same weights.
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(RANDOM_INIT_SEED)
                model.init_weights()
        else:
            from cosmos_train.checkpoint.hub import resolve_weights

            load_wan21_state_dict(
                model, resolve_weights(ckpt_path, what="model.config.tokenizer.ckpt_path")
            )
        self.model = model.to(self.dtype)
        self.ckpt_path = ckpt_path
        # Cosmos keeps mean/std in the compute dtype and computes 1/std in it (bf16 rounding).
        mean_t = torch.tensor(mean, dtype=self.dtype, device=device)
        inv_std_t = 1.0 / torch.tensor(std, dtype=self.dtype, device=device)
        self.register_buffer("latent_mean", mean_t, persistent=False)
        self.register_buffer("latent_inv_std", inv_std_t, persistent=False)
        self.freeze()

    @property
    def latent_ch(self) -> int:
        return self.model.z_dim

    @property
    def spatial_compression_factor(self) -> int:
        return self.model.spatial_factor

    @property
    def temporal_compression_factor(self) -> int:
        return self.model.temporal_factor

    def _encode(self, video: torch.Tensor) -> torch.Tensor:
        scale = (self.latent_mean, self.latent_inv_std)
        return self.model.encode(video.to(self.dtype), scale).float()

    def _decode(self, latent: torch.Tensor) -> torch.Tensor:
        scale = (self.latent_mean, self.latent_inv_std)
        return self.model.decode(latent.to(self.dtype), scale).float().clamp_(-1.0, 1.0)
