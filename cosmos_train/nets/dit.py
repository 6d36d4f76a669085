"""The Cosmos-Predict2.5 video DiT (``MinimalV1LVGDiT`` on ``MiniTrainDIT``), in plain PyTorch.

State_dict keys, order, shapes and persistent buffers equal Cosmos's (golden lists in
``reference/cosmos_nets/``), so official consolidated checkpoints load unchanged, and the forward
reproduces the reference numbers in fp32 (parity fixtures in ``reference/cosmos_nets/parity/``).

Typical use: build on ``meta``, materialise, initialise::

    with torch.device("meta"):
        net = MiniTrainDiT(**presets.predict2_5_2B_kwargs())
    net.to_empty(device="cuda")
    net.init_weights()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cosmos_train.nets.checkpointing import apply_activation_checkpointing, normalize_ac_mode
from cosmos_train.nets.layers import (
    Block,
    FinalLayer,
    LearnablePosEmbAxis,
    PatchEmbed,
    RMSNorm,
    TimestepEmbedding,
    Timesteps,
    VideoRopePosition3DEmb,
    rope_cos_sin,
    to_compute_dtype,
    unpatchify,
)

__all__ = ["MiniTrainDiT", "MinimalV1LVGDiT", "LVGDiT"]

_ATTEN_BACKENDS = ("sdpa", "torch", "minimal_a2a", "transformer_engine")


def _sac_mode(sac_config: Any) -> tuple[str, int]:
    """Read ``(mode, every_n_blocks)`` from a Cosmos ``SACConfig``-like object or mapping."""
    if sac_config is None:
        return "none", 1
    if isinstance(sac_config, Mapping):
        return str(sac_config.get("mode", "mm_only")), int(sac_config.get("every_n_blocks", 1))
    return str(getattr(sac_config, "mode", "mm_only")), int(
        getattr(sac_config, "every_n_blocks", 1)
    )


class MiniTrainDiT(nn.Module):
    """Cosmos video DiT with LVG conditioning (condition-mask channel), AdaLN-LoRA and 3D RoPE.

    Keyword arguments use Cosmos's names (``MiniTrainDIT``/``MinimalV1LVGDiT``). ``in_channels``
    is the latent channel count (16); the condition-mask channel and (with
    ``concat_padding_mask``) the padding-mask channel are added internally, as in Cosmos.

    Args:
        max_img_h, max_img_w, max_frames: latent size limits; size the RoPE and pos-emb tables.
        in_channels, out_channels: latent channels in and out.
        patch_spatial, patch_temporal: patch sizes.
        concat_padding_mask: append the (resized) padding mask as an input channel.
        model_channels, num_blocks, num_heads, mlp_ratio: transformer width, depth, heads, MLP
            ratio.
        crossattn_emb_channels: text-context width seen by cross-attention.
        pos_emb_cls, pos_emb_learnable, pos_emb_interpolation: only ``"rope3d"``/``"crop"`` exist.
        use_adaln_lora, adaln_lora_dim: AdaLN-LoRA modulation and its rank.
        rope_{h,w,t}_extrapolation_ratio: NTK ratios of the 3D RoPE.
        extra_per_block_abs_pos_emb: add a learnable absolute pos-emb before every block (7B).
        rope_enable_fps_modulation: scale temporal RoPE positions by ``24 / fps[0]``.
        timestep_scale: multiplies the timesteps before the sinusoid (Predict2.5: 1e-3).
        use_crossattn_projection, crossattn_proj_in_channels: ``Linear(+bias) -> GELU`` text
            projection.
        use_wan_fp32_strategy: compute the timestep embedding and all AdaLN modulations in fp32.
        atten_backend: accepted for config compatibility; attention always uses SDPA.
        sac_config: Cosmos ``SACConfig`` (or ``{"mode", "every_n_blocks"}``) selecting
            checkpointing.
        ac_mode, ac_every_n_blocks: activation checkpointing (``none|block|selective|mm_only``);
            overrides ``sac_config``. The trainer normally sets it via
            ``apply_activation_checkpointing``.
        min_fps, max_fps, extra_{h,w,t}_extrapolation_ratio, n_dense_blocks,
        extra_image_context_dim:
            accepted for Cosmos config compatibility; they do not change this net.
    """

    def __init__(
        self,
        *,
        max_img_h: int = 240,
        max_img_w: int = 240,
        max_frames: int = 128,
        in_channels: int = 16,
        out_channels: int = 16,
        patch_spatial: int = 2,
        patch_temporal: int = 1,
        concat_padding_mask: bool = True,
        model_channels: int = 768,
        num_blocks: int = 10,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        crossattn_emb_channels: int = 1024,
        pos_emb_cls: str = "rope3d",
        pos_emb_learnable: bool = False,
        pos_emb_interpolation: str = "crop",
        min_fps: int = 1,
        max_fps: int = 30,
        use_adaln_lora: bool = False,
        adaln_lora_dim: int = 256,
        rope_h_extrapolation_ratio: float = 1.0,
        rope_w_extrapolation_ratio: float = 1.0,
        rope_t_extrapolation_ratio: float = 1.0,
        extra_per_block_abs_pos_emb: bool = False,
        extra_h_extrapolation_ratio: float = 1.0,
        extra_w_extrapolation_ratio: float = 1.0,
        extra_t_extrapolation_ratio: float = 1.0,
        rope_enable_fps_modulation: bool = True,
        timestep_scale: float = 1.0,
        use_crossattn_projection: bool = False,
        crossattn_proj_in_channels: int = 1024,
        use_wan_fp32_strategy: bool = False,
        atten_backend: str = "sdpa",
        sac_config: Any = None,
        ac_mode: str | None = None,
        ac_every_n_blocks: int | None = None,
        n_dense_blocks: int = -1,
        extra_image_context_dim: int | None = None,
    ) -> None:
        super().__init__()
        if pos_emb_cls != "rope3d":
            raise ValueError(
                f"pos_emb_cls={pos_emb_cls!r} is not supported; only 'rope3d' (every Cosmos preset)"
            )
        if atten_backend not in _ATTEN_BACKENDS:
            raise ValueError(
                f"atten_backend={atten_backend!r} is unknown; use one of {list(_ATTEN_BACKENDS)} "
                "(all run SDPA)"
            )
        if n_dense_blocks != -1:
            raise ValueError(
                "n_dense_blocks (NATTEN sparse attention) is not supported; leave it at -1"
            )
        if extra_image_context_dim is not None:
            raise ValueError(
                "extra_image_context_dim (image cross-attention context) is not supported; leave "
                "it None"
            )
        if model_channels % num_heads:
            raise ValueError(
                f"model_channels={model_channels} must be divisible by num_heads={num_heads}"
            )
        if max_img_h % patch_spatial or max_img_w % patch_spatial or max_frames % patch_temporal:
            raise ValueError("max_img_h/max_img_w/max_frames must be multiples of the patch sizes")

        self.max_img_h, self.max_img_w, self.max_frames = max_img_h, max_img_w, max_frames
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.patch_spatial = patch_spatial
        self.patch_temporal = patch_temporal
        self.concat_padding_mask = concat_padding_mask
        self.model_channels = model_channels
        self.num_blocks = num_blocks
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.crossattn_emb_channels = crossattn_emb_channels
        self.use_adaln_lora = use_adaln_lora
        self.adaln_lora_dim = adaln_lora_dim
        self.extra_per_block_abs_pos_emb = extra_per_block_abs_pos_emb
        self.timestep_scale = timestep_scale
        self.use_crossattn_projection = use_crossattn_projection
        self.crossattn_proj_in_channels = crossattn_proj_in_channels
        self.use_wan_fp32_strategy = use_wan_fp32_strategy
        head_dim = model_channels // num_heads

        # WeightTrainingStat counters: first in Cosmos's state_dict; persistent.
        self.register_buffer("accum_video_sample_counter", torch.zeros((), dtype=torch.long))
        self.register_buffer("accum_image_sample_counter", torch.zeros((), dtype=torch.long))
        self.register_buffer("accum_iteration", torch.zeros((), dtype=torch.long))
        self.register_buffer("accum_train_in_hours", torch.zeros((), dtype=torch.float32))

        # +1 condition-mask channel (LVG), +1 padding-mask channel.
        embed_in = in_channels + 1 + (1 if concat_padding_mask else 0)
        self.x_embedder = PatchEmbed(patch_spatial, patch_temporal, embed_in, model_channels)
        len_h, len_w, len_t = (
            max_img_h // patch_spatial,
            max_img_w // patch_spatial,
            max_frames // patch_temporal,
        )
        self.pos_embedder = VideoRopePosition3DEmb(
            head_dim=head_dim,
            len_h=len_h,
            len_w=len_w,
            len_t=len_t,
            h_extrapolation_ratio=rope_h_extrapolation_ratio,
            w_extrapolation_ratio=rope_w_extrapolation_ratio,
            t_extrapolation_ratio=rope_t_extrapolation_ratio,
            enable_fps_modulation=rope_enable_fps_modulation,
        )
        if extra_per_block_abs_pos_emb:
            self.extra_pos_embedder = LearnablePosEmbAxis(
                model_channels=model_channels,
                len_h=len_h,
                len_w=len_w,
                len_t=len_t,
                interpolation=pos_emb_interpolation,
            )
        self.t_embedder = nn.Sequential(
            Timesteps(model_channels),
            TimestepEmbedding(model_channels, model_channels, use_adaln_lora=use_adaln_lora),
        )
        self.blocks = nn.ModuleList(
            Block(
                model_channels,
                crossattn_emb_channels,
                num_heads,
                mlp_ratio=mlp_ratio,
                use_adaln_lora=use_adaln_lora,
                adaln_lora_dim=adaln_lora_dim,
                use_wan_fp32_strategy=use_wan_fp32_strategy,
            )
            for _ in range(num_blocks)
        )
        self.final_layer = FinalLayer(
            model_channels,
            patch_spatial,
            patch_temporal,
            out_channels,
            use_adaln_lora=use_adaln_lora,
            adaln_lora_dim=adaln_lora_dim,
            use_wan_fp32_strategy=use_wan_fp32_strategy,
        )
        self.t_embedding_norm = RMSNorm(model_channels, eps=1e-6)
        if use_crossattn_projection:
            self.crossattn_proj = nn.Sequential(
                nn.Linear(crossattn_proj_in_channels, crossattn_emb_channels, bias=True), nn.GELU()
            )

        self._rope_cache: tuple[tuple, tuple[torch.Tensor, torch.Tensor]] | None = None
        # Set by cosmos_train.distributed.context_parallel.enable_context_parallel; not a submodule.
        self.context_parallel: Any = None
        mode, every = _sac_mode(sac_config)
        if ac_mode is not None:
            mode = ac_mode
        if ac_every_n_blocks is not None:
            every = ac_every_n_blocks
        if normalize_ac_mode(mode) != "none":
            apply_activation_checkpointing(self, mode, every)

    # ------------------------------------------------------------------ init
    @torch.no_grad()
    def init_weights(self) -> None:
        """Cosmos init: truncated normal ``1/sqrt(fan_in)``, zero AdaLN up-projections, fresh
        buffers."""
        for name in (
            "accum_video_sample_counter",
            "accum_image_sample_counter",
            "accum_iteration",
            "accum_train_in_hours",
        ):
            getattr(self, name).zero_()
        self.x_embedder.init_weights()
        self.pos_embedder.reset_parameters()
        if self.extra_per_block_abs_pos_emb:
            self.extra_pos_embedder.reset_parameters()
        self.t_embedder[1].init_weights()
        for block in self.blocks:
            block.init_weights()
        self.final_layer.init_weights()
        self.t_embedding_norm.reset_parameters()
        if self.use_crossattn_projection:
            self.crossattn_proj[0].reset_parameters()  # PyTorch default init, as in Cosmos
        self._rope_cache = None

    # ------------------------------------------------------------------ helpers
    def _rope_tables(
        self, T: int, H: int, W: int, fps: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE ``(cos, signed_sin)`` for this grid; cached per shape when fps does not enter."""
        pe = self.pos_embedder
        uses_fps = fps is not None and pe.enable_fps_modulation
        if uses_fps:
            return rope_cos_sin(pe.angles(T, H, W, fps))
        bufs = (pe.seq, pe.dim_spatial_range, pe.dim_temporal_range)
        # Buffer identity and version numbers invalidate the cache after load_state_dict/to()/init.
        key = (T, H, W, torch.is_inference_mode_enabled()) + tuple(
            (id(b), b._version, b.device, b.dtype) for b in bufs
        )
        if self._rope_cache is not None and self._rope_cache[0] == key:
            return self._rope_cache[1]
        tables = rope_cos_sin(pe.angles(T, H, W, None))
        if not torch.compiler.is_compiling():
            self._rope_cache = (key, tables)
        return tables

    def _check_inputs(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        crossattn_emb: torch.Tensor,
        cond: torch.Tensor | None,
    ) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x_B_C_T_H_W must be [B, {self.in_channels}, T, H, W], got {tuple(x.shape)}"
            )
        B, _, T = x.shape[:3]
        if timesteps.ndim == 1:
            timesteps = timesteps.unsqueeze(1)
        if (
            timesteps.ndim != 2
            or timesteps.shape[0] != B
            or timesteps.shape[1] not in (1, T // self.patch_temporal)
        ):
            raise ValueError(
                f"timesteps_B_T must be [B], [B, 1] or [B, T] with B={B}, T={T}; got "
                f"{tuple(timesteps.shape)}"
            )
        want_c = (
            self.crossattn_proj_in_channels
            if self.use_crossattn_projection
            else self.crossattn_emb_channels
        )
        if (
            crossattn_emb.ndim != 3
            or crossattn_emb.shape[0] != B
            or crossattn_emb.shape[2] != want_c
        ):
            raise ValueError(
                f"crossattn_emb must be [B={B}, L, {want_c}], got {tuple(crossattn_emb.shape)}"
            )
        if cond is not None and (
            cond.ndim != 5
            or cond.shape[0] != B
            or cond.shape[1] != 1
            or cond.shape[2:] != x.shape[2:]
        ):
            raise ValueError(
                "condition_video_input_mask_B_C_T_H_W must be [B, 1, T, H, W] = "
                f"{[B, 1, *x.shape[2:]]}, got {tuple(cond.shape)}"
            )
        return timesteps

    def _padding_channel(self, padding_mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        """The padding mask nearest-resized (torchvision NEAREST = floor) to the latent size, over
        T."""
        B, _, T, H, W = x.shape
        if padding_mask is None:
            return x.new_zeros(B, 1, T, H, W)
        if padding_mask.ndim == 3:
            padding_mask = padding_mask.unsqueeze(1)
        if padding_mask.ndim != 4 or padding_mask.shape[0] != B or padding_mask.shape[1] != 1:
            raise ValueError(
                f"padding_mask must be [B={B}, 1, H_px, W_px], got {tuple(padding_mask.shape)}"
            )
        if tuple(padding_mask.shape[-2:]) != (H, W):
            padding_mask = F.interpolate(padding_mask.float(), size=(H, W), mode="nearest")
        return padding_mask.to(x.dtype).unsqueeze(2).expand(B, 1, T, H, W)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        x_B_C_T_H_W: torch.Tensor,
        timesteps_B_T: torch.Tensor,
        crossattn_emb: torch.Tensor,
        condition_video_input_mask_B_C_T_H_W: torch.Tensor | None = None,
        fps: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict ``[B, out_channels, T, H, W]`` from the noisy latent and its conditioning.

        Args:
            x_B_C_T_H_W: latent ``[B, in_channels, T, H, W]``.
            timesteps_B_T: ``[B]``, ``[B, 1]`` or per-frame ``[B, T]`` (fp32), scaled by
                ``timestep_scale``.
            crossattn_emb: text ``[B, L, crossattn_emb_channels]`` (``crossattn_proj_in_channels``
                with projection).
            condition_video_input_mask_B_C_T_H_W: ``[B, 1, T, H, W]``, 1 on conditioning frames;
                None = zeros.
            fps: ``[B]``; only ``fps[0]`` is used (RoPE fps modulation).
            padding_mask: ``[B, 1, H_px, W_px]``, nearest-resized to the latent size; None = zeros.
        """
        x = x_B_C_T_H_W
        timesteps_B_T = self._check_inputs(
            x, timesteps_B_T, crossattn_emb, condition_video_input_mask_B_C_T_H_W
        )
        if not torch.is_autocast_enabled(x.device.type):
            # No autocast (e.g. a bf16 net): compute in the weights' dtype, like Cosmos's bf16 nets.
            compute_dtype = self.x_embedder.proj[1].weight.dtype
            x, crossattn_emb = x.to(compute_dtype), crossattn_emb.to(compute_dtype)
        B, _, T, H, W = x.shape
        cond = condition_video_input_mask_B_C_T_H_W
        cond = x.new_zeros(B, 1, T, H, W) if cond is None else cond.to(x.dtype)
        parts = [x, cond]
        if self.concat_padding_mask:
            parts.append(self._padding_channel(padding_mask, x))
        x_B_T_H_W_D = self.x_embedder(torch.cat(parts, dim=1))
        _, Tp, Hp, Wp, _ = x_B_T_H_W_D.shape

        rope = self._rope_tables(Tp, Hp, Wp, fps)
        extra_pos = (
            self.extra_pos_embedder(x_B_T_H_W_D) if self.extra_per_block_abs_pos_emb else None
        )
        if self.use_crossattn_projection:
            crossattn_emb = self.crossattn_proj(crossattn_emb)

        t_emb_B_T_D, adaln_lora_B_T_3D = self._embed_timesteps(timesteps_B_T)
        cp = self.context_parallel
        if cp is not None:  # this rank's frames (distributed/context_parallel.py)
            x_B_T_H_W_D, t_emb_B_T_D, adaln_lora_B_T_3D, rope, extra_pos = cp.shard(
                x_B_T_H_W_D, t_emb_B_T_D, adaln_lora_B_T_3D, rope, extra_pos
            )
        for block in self.blocks:
            x_B_T_H_W_D = block(
                x_B_T_H_W_D, t_emb_B_T_D, crossattn_emb, rope, adaln_lora_B_T_3D, extra_pos
            )
        x_B_T_H_W_O = self.final_layer(x_B_T_H_W_D, t_emb_B_T_D, adaln_lora_B_T_3D)
        if cp is not None:
            x_B_T_H_W_O = cp.gather(x_B_T_H_W_O, Tp)
        return unpatchify(x_B_T_H_W_O, self.patch_spatial, self.patch_temporal)

    def _embed_timesteps(
        self, timesteps_B_T: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(t_embedding_norm(emb), adaln_lora)``; fp32 with autocast off under the Wan fp32
        strategy."""
        t = timesteps_B_T.float() * self.timestep_scale
        if not self.use_wan_fp32_strategy:
            sinus = to_compute_dtype(self.t_embedder[0](t), self.t_embedder[1].linear_1)
            emb, lora = self.t_embedder[1](sinus)
            return self.t_embedding_norm(emb), lora
        with torch.autocast(device_type=t.device.type, enabled=False):
            sinus = self.t_embedder[0](t)
            te = self.t_embedder[1]
            h = F.linear(
                sinus,
                te.linear_1.weight.float(),
                None if te.linear_1.bias is None else te.linear_1.bias.float(),
            )
            h = F.linear(F.silu(h), te.linear_2.weight.float())
            emb, lora = (sinus, h) if te.use_adaln_lora else (h, None)
            emb = F.rms_norm(
                emb,
                (self.model_channels,),
                self.t_embedding_norm.weight.float(),
                self.t_embedding_norm.eps,
            )
            return emb, lora

    def extra_repr(self) -> str:
        return (
            f"model_channels={self.model_channels}, num_blocks={self.num_blocks}, "
            f"num_heads={self.num_heads}, crossattn_emb_channels={self.crossattn_emb_channels}, "
            f"use_crossattn_projection={self.use_crossattn_projection}"
        )


#: Cosmos's class name for the same net.
MinimalV1LVGDiT = MiniTrainDiT
#: Name used in the trainer spec.
LVGDiT = MiniTrainDiT
