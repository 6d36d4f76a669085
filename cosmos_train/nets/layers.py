"""Building blocks of the Cosmos-Predict2.5 DiT (``MiniTrainDIT`` semantics), in plain PyTorch.

Module and parameter names mirror Cosmos exactly, because they are the checkpoint keys
(``reference/cosmos_nets/*.tsv``). The math follows the reference (TE RMSNorm and fused
non-interleaved RoPE emulated exactly in fp32) while staying friendly to bf16 autocast and to
``torch.compile(fullgraph=True)``: no Python loops over tokens, no data-dependent control flow,
attention through ``F.scaled_dot_product_attention`` in the ``[B, heads, N, head_dim]`` layout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cosmos_train.nets.checkpointing import run_with_activation_checkpointing

__all__ = [
    "RMSNorm",
    "Timesteps",
    "TimestepEmbedding",
    "PatchEmbed",
    "VideoRopePosition3DEmb",
    "LearnablePosEmbAxis",
    "Attention",
    "GPT2FeedForward",
    "Block",
    "FinalLayer",
    "apply_rotary_pos_emb",
    "patchify",
    "rope_cos_sin",
    "to_compute_dtype",
    "trunc_normal_fan_in_",
    "unpatchify",
]


def trunc_normal_fan_in_(weight: torch.Tensor) -> torch.Tensor:
    """Cosmos init: truncated normal with ``std = 1/sqrt(fan_in)`` cut at +-3 std."""
    std = 1.0 / math.sqrt(weight.shape[-1])
    return nn.init.trunc_normal_(weight, std=std, a=-3 * std, b=3 * std)


class RMSNorm(nn.Module):
    """RMSNorm over the last dim with a learnable ``weight`` (TE ``RMSNorm`` semantics, eps 1e-6).

    Computed in fp32 and cast back to the input dtype (``F.rms_norm`` upcasts internally).
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Same dtype for input and weight lets torch use its fused kernel (bf16 under autocast).
        return F.rms_norm(x, (self.dim,), self.weight.to(x.dtype), self.eps)


class Timesteps(nn.Module):
    """Sinusoidal timestep features ``[cos | sin]`` with frequencies ``exp(-ln(1e4) k / (D/2))``."""

    def __init__(self, num_channels: int) -> None:
        super().__init__()
        self.num_channels = num_channels

    def forward(self, timesteps_B_T: torch.Tensor) -> torch.Tensor:
        if timesteps_B_T.ndim != 2:
            raise ValueError(
                f"Timesteps expects [B, T] timesteps, got shape {tuple(timesteps_B_T.shape)}"
            )
        half = self.num_channels // 2
        exponent = torch.arange(half, dtype=torch.float32, device=timesteps_B_T.device) * (
            -math.log(10000.0)
        )
        freqs = torch.exp(exponent / half)
        angles = timesteps_B_T.float().unsqueeze(-1) * freqs
        emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        return emb.to(timesteps_B_T.dtype)


class TimestepEmbedding(nn.Module):
    """``linear_1 -> SiLU -> linear_2``; with AdaLN-LoRA returns ``(sinusoid,
    adaln_lora_B_T_3D)``."""

    def __init__(self, in_features: int, out_features: int, use_adaln_lora: bool = False) -> None:
        super().__init__()
        self.use_adaln_lora = use_adaln_lora
        self.linear_1 = nn.Linear(in_features, out_features, bias=not use_adaln_lora)
        self.activation = nn.SiLU()
        out2 = 3 * out_features if use_adaln_lora else out_features
        self.linear_2 = nn.Linear(out_features, out2, bias=False)

    def init_weights(self) -> None:
        trunc_normal_fan_in_(self.linear_1.weight)
        if self.linear_1.bias is not None:
            nn.init.zeros_(self.linear_1.bias)
        trunc_normal_fan_in_(self.linear_2.weight)

    def forward(self, sample: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        emb = self.linear_2(self.activation(self.linear_1(sample)))
        if self.use_adaln_lora:
            # Cosmos passes the raw sinusoid on as the embedding and the MLP output as LoRA term.
            return sample, emb
        return emb, None


class PatchEmbed(nn.Module):
    """Patchify ``b c (t r) (h m) (w n) -> b t h w (c r m n)`` then ``Linear(bias=False)``.

    The Linear sits at index 1 of ``proj`` (index 0 is the parameter-free rearrange), so the
    checkpoint key is ``x_embedder.proj.1.weight``.
    """

    def __init__(
        self, spatial_patch_size: int, temporal_patch_size: int, in_channels: int, out_channels: int
    ) -> None:
        super().__init__()
        self.spatial_patch_size = spatial_patch_size
        self.temporal_patch_size = temporal_patch_size
        in_features = in_channels * spatial_patch_size * spatial_patch_size * temporal_patch_size
        self.proj = nn.Sequential(nn.Identity(), nn.Linear(in_features, out_channels, bias=False))

    def init_weights(self) -> None:
        trunc_normal_fan_in_(self.proj[1].weight)

    def forward(self, x_B_C_T_H_W: torch.Tensor) -> torch.Tensor:
        return self.proj[1](
            patchify(x_B_C_T_H_W, self.spatial_patch_size, self.temporal_patch_size)
        )


def patchify(x_B_C_T_H_W: torch.Tensor, p: int, pt: int) -> torch.Tensor:
    """``b c (t r) (h m) (w n) -> b t h w (c r m n)`` (Cosmos's patch-embed element order)."""
    B, C, T, H, W = x_B_C_T_H_W.shape
    if T % pt or H % p or W % p:
        raise ValueError(
            f"input [T, H, W] = {[T, H, W]} is not divisible by the patch size (t={pt}, "
            f"spatial={p}); crop or pad the latent to a multiple of the patch size"
        )
    x = x_B_C_T_H_W.reshape(B, C, T // pt, pt, H // p, p, W // p, p)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # b t h w c r m n
    return x.reshape(B, T // pt, H // p, W // p, C * pt * p * p)


def unpatchify(x_B_T_H_W_M: torch.Tensor, p: int, pt: int) -> torch.Tensor:
    """``B T H W (p1 p2 t C) -> B C (T t) (H p1) (W p2)`` (Cosmos's order; differs from
    patchify)."""
    B, T, H, W, M = x_B_T_H_W_M.shape
    C = M // (p * p * pt)
    x = x_B_T_H_W_M.reshape(B, T, H, W, p, p, pt, C)
    x = x.permute(0, 7, 1, 6, 2, 4, 3, 5)  # B C T t H p1 W p2
    return x.reshape(B, C, T * pt, H * p, W * p)


class VideoRopePosition3DEmb(nn.Module):
    """3D RoPE angle table with NTK extrapolation ratios (Cosmos ``VideoRopePosition3DEmb``).

    head_dim ``d`` splits into ``d_h = d_w = d//6*2`` and ``d_t = d - 2 d_h`` (42/42/44 for 128);
    ``theta_axis = 1e4 * ratio ** (d_axis / (d_axis - 2))``. The angle layout along ``d`` is
    ``[t, h, w] * 2`` (rotate-half convention). The three buffers are persistent, as in Cosmos.
    """

    def __init__(
        self,
        *,
        head_dim: int,
        len_h: int,
        len_w: int,
        len_t: int,
        base_fps: int = 24,
        h_extrapolation_ratio: float = 1.0,
        w_extrapolation_ratio: float = 1.0,
        t_extrapolation_ratio: float = 1.0,
        enable_fps_modulation: bool = True,
    ) -> None:
        super().__init__()
        dim_h = head_dim // 6 * 2
        dim_t = head_dim - 2 * dim_h
        if dim_h < 4 or dim_t < 4:
            raise ValueError(
                f"head_dim={head_dim} is too small for 3D RoPE (need d_h, d_t >= 4); use head_dim "
                ">= 12"
            )
        self.head_dim = head_dim
        self.dim_h = dim_h
        self.dim_t = dim_t
        self.max_h, self.max_w, self.max_t = len_h, len_w, len_t
        self.base_fps = base_fps
        self.enable_fps_modulation = enable_fps_modulation
        self.h_ntk_factor = h_extrapolation_ratio ** (dim_h / (dim_h - 2))
        self.w_ntk_factor = w_extrapolation_ratio ** (dim_h / (dim_h - 2))
        self.t_ntk_factor = t_extrapolation_ratio ** (dim_t / (dim_t - 2))
        self.register_buffer("seq", torch.empty(max(len_h, len_w, len_t)), persistent=True)
        self.register_buffer("dim_spatial_range", torch.empty(dim_h // 2), persistent=True)
        self.register_buffer("dim_temporal_range", torch.empty(dim_t // 2), persistent=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """(Re)compute the buffers; needed after ``to_empty`` from the meta device."""
        if self.seq.is_meta:
            return
        with torch.no_grad():
            self.seq.copy_(torch.arange(self.seq.numel(), dtype=torch.float32))
            self.dim_spatial_range.copy_(
                torch.arange(0, self.dim_h, 2, dtype=torch.float32)[: self.dim_h // 2] / self.dim_h
            )
            self.dim_temporal_range.copy_(
                torch.arange(0, self.dim_t, 2, dtype=torch.float32)[: self.dim_t // 2] / self.dim_t
            )

    def angles(self, T: int, H: int, W: int, fps: torch.Tensor | None = None) -> torch.Tensor:
        """RoPE angles ``[T*H*W, head_dim]`` in fp32 for a ``T x H x W`` token grid."""
        if H > self.max_h or W > self.max_w or T > self.seq.numel():
            raise ValueError(
                f"token grid (T={T}, H={H}, W={W}) exceeds the RoPE table (max_h={self.max_h}, "
                f"max_w={self.max_w}, max_t={self.seq.numel()}); raise the net's "
                "max_img_h/max_img_w/max_frames (model.config.net.*; latent units) or use smaller "
                "videos"
            )
        seq = self.seq.float()
        h_freqs = 1.0 / ((10000.0 * self.h_ntk_factor) ** self.dim_spatial_range.float())
        w_freqs = 1.0 / ((10000.0 * self.w_ntk_factor) ** self.dim_spatial_range.float())
        t_freqs = 1.0 / ((10000.0 * self.t_ntk_factor) ** self.dim_temporal_range.float())
        half_h = torch.outer(seq[:H], h_freqs)
        half_w = torch.outer(seq[:W], w_freqs)
        if fps is None or not self.enable_fps_modulation:
            half_t = torch.outer(seq[:T], t_freqs)
        else:
            # Cosmos uses fps[0] for the whole batch: positions t / fps * base_fps.
            half_t = torch.outer(seq[:T] / fps[:1].float() * self.base_fps, t_freqs)
        dt, dh = half_t.shape[-1], half_h.shape[-1]
        emb = torch.cat(
            [
                half_t[:, None, None, :].expand(T, H, W, dt),
                half_h[None, :, None, :].expand(T, H, W, dh),
                half_w[None, None, :, :].expand(T, H, W, dh),
            ],
            dim=-1,
        )
        return torch.cat([emb, emb], dim=-1).reshape(T * H * W, self.head_dim)

    def forward(self, x_B_T_H_W_D: torch.Tensor, fps: torch.Tensor | None = None) -> torch.Tensor:
        """Cosmos-shaped output: angles ``[T*H*W, 1, 1, head_dim]`` (fp32)."""
        _, T, H, W, _ = x_B_T_H_W_D.shape
        return self.angles(T, H, W, fps)[:, None, None, :]


def rope_cos_sin(angles_L_D: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, signed_sin)`` tables ``[L, 1, D]`` for :func:`apply_rotary_pos_emb`.

    The sign of rotate-half (``[-x2, x1]``) is folded into the sine table so the rotation is
    ``x * cos + swap_halves(x) * signed_sin``: two multiplies and one add per element.
    """
    half = angles_L_D.shape[-1] // 2
    sin = torch.sin(angles_L_D)
    signed_sin = torch.cat([-sin[:, :half], sin[:, half:]], dim=-1)
    return torch.cos(angles_L_D)[:, None, :], signed_sin[:, None, :]


def apply_rotary_pos_emb(
    x_B_L_H_D: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor
) -> torch.Tensor:
    """Non-interleaved (rotate-half) RoPE in fp32, cast back to the input dtype (TE fused
    semantics)."""
    x = x_B_L_H_D.float()
    half = x.shape[-1] // 2
    swapped = torch.cat([x[..., half:], x[..., :half]], dim=-1)
    return (x * cos + swapped * signed_sin).to(x_B_L_H_D.dtype)


class LearnablePosEmbAxis(nn.Module):
    """Per-block absolute position embedding: ``normalize(emb_t + emb_h + emb_w)`` (``crop``
    mode)."""

    def __init__(
        self,
        *,
        model_channels: int,
        len_h: int,
        len_w: int,
        len_t: int,
        interpolation: str = "crop",
    ) -> None:
        super().__init__()
        if interpolation != "crop":
            raise ValueError(
                f"pos_emb_interpolation={interpolation!r} is not supported; use 'crop'"
            )
        self.model_channels = model_channels
        self.pos_emb_h = nn.Parameter(torch.zeros(len_h, model_channels))
        self.pos_emb_w = nn.Parameter(torch.zeros(len_w, model_channels))
        self.pos_emb_t = nn.Parameter(torch.zeros(len_t, model_channels))

    def reset_parameters(self) -> None:
        for p in (self.pos_emb_h, self.pos_emb_w, self.pos_emb_t):
            trunc_normal_fan_in_(p)

    def forward(self, x_B_T_H_W_D: torch.Tensor) -> torch.Tensor:
        """Returns ``[1, T, H, W, D]`` (broadcast over the batch), RMS-normalised over D (eps
        1e-6)."""
        _, T, H, W, _ = x_B_T_H_W_D.shape
        if (
            H > self.pos_emb_h.shape[0]
            or W > self.pos_emb_w.shape[0]
            or T > self.pos_emb_t.shape[0]
        ):
            raise ValueError(
                f"token grid (T={T}, H={H}, W={W}) exceeds the learnable position tables"
            )
        emb = (
            self.pos_emb_t[:T, None, None, :]
            + self.pos_emb_h[None, :H, None, :]
            + self.pos_emb_w[None, None, :W, :]
        )
        # Cosmos `normalize(x, dim=-1, eps=1e-6)`: x / (eps + ||x|| / sqrt(D)), norm in fp32.
        norm = torch.linalg.vector_norm(emb, dim=-1, keepdim=True, dtype=torch.float32)
        norm = torch.add(1e-6, norm, alpha=math.sqrt(1.0 / self.model_channels))
        return (emb / norm.to(emb.dtype)).unsqueeze(0)


class Attention(nn.Module):
    """Self- or cross-attention with per-head q/k RMSNorm and SDPA (keys ``q_proj, q_norm,
    ...``)."""

    def __init__(
        self, query_dim: int, context_dim: int | None, n_heads: int, head_dim: int
    ) -> None:
        super().__init__()
        self.is_selfattn = context_dim is None
        context_dim = query_dim if context_dim is None else context_dim
        inner_dim = n_heads * head_dim
        self.n_heads = n_heads
        self.head_dim = head_dim
        self.q_proj = nn.Linear(query_dim, inner_dim, bias=False)
        self.q_norm = RMSNorm(head_dim, eps=1e-6)
        self.k_proj = nn.Linear(context_dim, inner_dim, bias=False)
        self.k_norm = RMSNorm(head_dim, eps=1e-6)
        self.v_proj = nn.Linear(context_dim, inner_dim, bias=False)
        self.output_proj = nn.Linear(inner_dim, query_dim, bias=False)

    def init_weights(self) -> None:
        for lin in (self.q_proj, self.k_proj, self.v_proj, self.output_proj):
            trunc_normal_fan_in_(lin.weight)
        self.q_norm.reset_parameters()
        self.k_norm.reset_parameters()

    def forward(
        self,
        x_B_L_D: torch.Tensor,
        context_B_M_C: torch.Tensor | None = None,
        rope_cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        B, L, _ = x_B_L_D.shape
        ctx = x_B_L_D if context_B_M_C is None else context_B_M_C
        M = ctx.shape[1]
        q = self.q_norm(self.q_proj(x_B_L_D).view(B, L, self.n_heads, self.head_dim))
        k = self.k_norm(self.k_proj(ctx).view(B, M, self.n_heads, self.head_dim))
        v = self.v_proj(ctx).view(B, M, self.n_heads, self.head_dim)
        if self.is_selfattn and rope_cos_sin is not None:
            cos, signed_sin = rope_cos_sin
            q = apply_rotary_pos_emb(q, cos, signed_sin).to(v.dtype)
            k = apply_rotary_pos_emb(k, cos, signed_sin).to(v.dtype)
        attend = getattr(rope_cos_sin, "attend", None) if self.is_selfattn else None
        if attend is not None:  # context parallel: exact attention over all ranks' tokens
            out = attend(q, k, v)
        else:
            out = F.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            ).transpose(1, 2)
        out = out.reshape(B, L, self.n_heads * self.head_dim)
        return self.output_proj(out)


class GPT2FeedForward(nn.Module):
    """``layer1 (D -> 4D) -> exact GELU -> layer2 (4D -> D)``, no biases."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.layer1 = nn.Linear(d_model, d_ff, bias=False)
        self.activation = nn.GELU()
        self.layer2 = nn.Linear(d_ff, d_model, bias=False)

    def init_weights(self) -> None:
        trunc_normal_fan_in_(self.layer1.weight)
        trunc_normal_fan_in_(self.layer2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.activation(self.layer1(x)))


def _adaln_modulation(
    x_dim: int, n_chunks: int, use_adaln_lora: bool, adaln_lora_dim: int
) -> nn.Sequential:
    if use_adaln_lora:
        return nn.Sequential(
            nn.SiLU(),
            nn.Linear(x_dim, adaln_lora_dim, bias=False),
            nn.Linear(adaln_lora_dim, n_chunks * x_dim, bias=False),
        )
    return nn.Sequential(nn.SiLU(), nn.Linear(x_dim, n_chunks * x_dim, bias=False))


def _init_adaln(mod: nn.Sequential) -> None:
    """LoRA down-projection: truncated normal; the last (up-)projection: zeros (Cosmos init)."""
    if len(mod) == 3:
        trunc_normal_fan_in_(mod[1].weight)
    nn.init.zeros_(mod[-1].weight)


def _modulation(
    mod: nn.Sequential, emb_B_T_D: torch.Tensor, adaln_lora_B_T_kD: torch.Tensor | None, fp32: bool
) -> torch.Tensor:
    """``mod(emb) (+ adaln_lora)``; in fp32 with autocast off when ``fp32`` (Wan fp32 strategy)."""
    if not fp32:
        out = mod(emb_B_T_D)
        return out if adaln_lora_B_T_kD is None else out + adaln_lora_B_T_kD
    with torch.autocast(device_type=emb_B_T_D.device.type, enabled=False):
        h = F.silu(emb_B_T_D.float())
        for lin in list(mod)[1:]:
            h = F.linear(h, lin.weight.float())
        return h if adaln_lora_B_T_kD is None else h + adaln_lora_B_T_kD.float()


def _modulate(x_norm: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x_norm * (1 + scale) + shift`` as one fused kernel."""
    return torch.addcmul(shift, x_norm, 1 + scale)


def to_compute_dtype(h: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """Without autocast, feed a Linear its weight's dtype (a bf16 net with fp32 modulation).

    Under autocast this is a no-op: autocast picks the matmul dtype itself.
    """
    if torch.is_autocast_enabled(h.device.type):
        return h
    return h.to(linear.weight.dtype)


class Block(nn.Module):
    """DiT block: AdaLN-modulated self-attention (RoPE), cross-attention and GELU MLP.

    Activation checkpointing is a property of the block (``ac_mode``, set by
    :func:`cosmos_train.nets.checkpointing.apply_activation_checkpointing`) rather than a wrapper
    module, so parameter and state_dict names never change.
    """

    def __init__(
        self,
        x_dim: int,
        context_dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        use_adaln_lora: bool = False,
        adaln_lora_dim: int = 256,
        use_wan_fp32_strategy: bool = False,
    ) -> None:
        super().__init__()
        if x_dim % num_heads:
            raise ValueError(f"model_channels={x_dim} is not divisible by num_heads={num_heads}")
        self.x_dim = x_dim
        self.use_wan_fp32_strategy = use_wan_fp32_strategy
        self.ac_mode = "none"
        head_dim = x_dim // num_heads
        self.self_attn = Attention(x_dim, None, num_heads, head_dim)
        self.cross_attn = Attention(x_dim, context_dim, num_heads, head_dim)
        self.mlp = GPT2FeedForward(x_dim, int(x_dim * mlp_ratio))
        self.adaln_modulation_self_attn = _adaln_modulation(
            x_dim, 3, use_adaln_lora, adaln_lora_dim
        )
        self.adaln_modulation_cross_attn = _adaln_modulation(
            x_dim, 3, use_adaln_lora, adaln_lora_dim
        )
        self.adaln_modulation_mlp = _adaln_modulation(x_dim, 3, use_adaln_lora, adaln_lora_dim)

    def init_weights(self) -> None:
        self.self_attn.init_weights()
        self.cross_attn.init_weights()
        self.mlp.init_weights()
        for mod in (
            self.adaln_modulation_self_attn,
            self.adaln_modulation_cross_attn,
            self.adaln_modulation_mlp,
        ):
            _init_adaln(mod)

    def forward(
        self,
        x_B_T_H_W_D: torch.Tensor,
        emb_B_T_D: torch.Tensor,
        crossattn_emb: torch.Tensor,
        rope_cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None,
        adaln_lora_B_T_3D: torch.Tensor | None = None,
        extra_per_block_pos_emb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return run_with_activation_checkpointing(
            self._forward,
            self.ac_mode,
            x_B_T_H_W_D,
            emb_B_T_D,
            crossattn_emb,
            rope_cos_sin,
            adaln_lora_B_T_3D,
            extra_per_block_pos_emb,
        )

    def _forward(
        self,
        x_B_T_H_W_D: torch.Tensor,
        emb_B_T_D: torch.Tensor,
        crossattn_emb: torch.Tensor,
        rope_cos_sin: tuple[torch.Tensor, torch.Tensor] | None,
        adaln_lora_B_T_3D: torch.Tensor | None,
        extra_per_block_pos_emb: torch.Tensor | None,
    ) -> torch.Tensor:
        if extra_per_block_pos_emb is not None:
            x_B_T_H_W_D = x_B_T_H_W_D + extra_per_block_pos_emb
        B, T, H, W, D = x_B_T_H_W_D.shape
        fp32 = self.use_wan_fp32_strategy
        # Modulation is per frame: [B, T_t, 1, D] broadcasts over the H*W tokens of each frame.
        mods = [
            _modulation(m, emb_B_T_D, adaln_lora_B_T_3D, fp32).unsqueeze(2).chunk(3, dim=-1)
            for m in (
                self.adaln_modulation_self_attn,
                self.adaln_modulation_cross_attn,
                self.adaln_modulation_mlp,
            )
        ]
        (
            (shift_sa, scale_sa, gate_sa),
            (shift_ca, scale_ca, gate_ca),
            (shift_mlp, scale_mlp, gate_mlp),
        ) = mods

        x = x_B_T_H_W_D.reshape(B, T, H * W, D)
        h = to_compute_dtype(
            _modulate(F.layer_norm(x, (D,), eps=1e-6), shift_sa, scale_sa), self.self_attn.q_proj
        )
        h = self.self_attn(h.reshape(B, T * H * W, D), None, rope_cos_sin).view(B, T, H * W, D)
        x = torch.addcmul(x, gate_sa, h)

        h = to_compute_dtype(
            _modulate(F.layer_norm(x, (D,), eps=1e-6), shift_ca, scale_ca), self.cross_attn.q_proj
        )
        h = self.cross_attn(h.reshape(B, T * H * W, D), crossattn_emb).view(B, T, H * W, D)
        x = torch.addcmul(x, gate_ca, h)

        h = to_compute_dtype(
            _modulate(F.layer_norm(x, (D,), eps=1e-6), shift_mlp, scale_mlp), self.mlp.layer1
        )
        # The last op writes the block's output in its final shape: returning a view (``x.view``)
        # makes FSDP2 warn on every block and step, and ``.clone()`` would cost a copy.
        return torch.addcmul(
            x.view(B, T, H, W, D), gate_mlp.unsqueeze(2), self.mlp(h).view(B, T, H, W, D)
        )


class FinalLayer(nn.Module):
    """LayerNorm + AdaLN (shift, scale) + ``Linear(D -> p*p*pt*out_channels)``."""

    def __init__(
        self,
        hidden_size: int,
        spatial_patch_size: int,
        temporal_patch_size: int,
        out_channels: int,
        use_adaln_lora: bool = False,
        adaln_lora_dim: int = 256,
        use_wan_fp32_strategy: bool = False,
    ) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.use_wan_fp32_strategy = use_wan_fp32_strategy
        self.ac_mode = "none"
        out = spatial_patch_size * spatial_patch_size * temporal_patch_size * out_channels
        self.linear = nn.Linear(hidden_size, out, bias=False)
        self.adaln_modulation = _adaln_modulation(hidden_size, 2, use_adaln_lora, adaln_lora_dim)

    def init_weights(self) -> None:
        trunc_normal_fan_in_(self.linear.weight)
        _init_adaln(self.adaln_modulation)

    def forward(
        self,
        x_B_T_H_W_D: torch.Tensor,
        emb_B_T_D: torch.Tensor,
        adaln_lora_B_T_3D: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return run_with_activation_checkpointing(
            self._forward, self.ac_mode, x_B_T_H_W_D, emb_B_T_D, adaln_lora_B_T_3D
        )

    def _forward(
        self,
        x_B_T_H_W_D: torch.Tensor,
        emb_B_T_D: torch.Tensor,
        adaln_lora_B_T_3D: torch.Tensor | None,
    ) -> torch.Tensor:
        B, T, H, W, D = x_B_T_H_W_D.shape
        lora = None if adaln_lora_B_T_3D is None else adaln_lora_B_T_3D[..., : 2 * D]
        shift, scale = (
            _modulation(self.adaln_modulation, emb_B_T_D, lora, self.use_wan_fp32_strategy)
            .unsqueeze(2)
            .chunk(2, dim=-1)
        )
        x = x_B_T_H_W_D.reshape(B, T, H * W, D)
        x = to_compute_dtype(_modulate(F.layer_norm(x, (D,), eps=1e-6), shift, scale), self.linear)
        return self.linear(x).view(B, T, H, W, -1)
