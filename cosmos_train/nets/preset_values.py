"""Net preset kwargs as plain dicts; importing this module does not import torch.

Config option modules (``cosmos_train.configs.net``) read the values from here, so the sizes
exist once. :mod:`cosmos_train.nets.presets` builds nets from them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COMMON",
    "PREDICT2_5_CHANGES",
    "COSMOS_V1_2B",
    "COSMOS_V1_7B",
    "COSMOS_V1_14B",
    "MINI_NET",
    "PREDICT2_5_2B",
    "PREDICT2_5_14B",
    "PRESETS",
    "TINY",
]

#: Shared by every Cosmos preset (``COSMOS_V1_7B_NET_MININET`` in Cosmos).
COMMON: dict[str, Any] = dict(
    max_img_h=240,
    max_img_w=240,
    max_frames=128,
    in_channels=16,
    out_channels=16,
    patch_spatial=2,
    patch_temporal=1,
    concat_padding_mask=True,
    pos_emb_cls="rope3d",
    pos_emb_learnable=True,
    pos_emb_interpolation="crop",
    use_adaln_lora=True,
    adaln_lora_dim=256,
    crossattn_emb_channels=1024,
    rope_h_extrapolation_ratio=1.0,
    rope_w_extrapolation_ratio=1.0,
)

COSMOS_V1_7B: dict[str, Any] = dict(
    COMMON,
    model_channels=4096,
    num_blocks=28,
    num_heads=32,
    extra_per_block_abs_pos_emb=True,
    rope_t_extrapolation_ratio=2.0,
)
COSMOS_V1_2B: dict[str, Any] = dict(
    COMMON,
    model_channels=2048,
    num_blocks=28,
    num_heads=16,
    extra_per_block_abs_pos_emb=False,
    rope_t_extrapolation_ratio=1.0,
)
COSMOS_V1_14B: dict[str, Any] = dict(
    COMMON,
    model_channels=5120,
    num_blocks=36,
    num_heads=40,
    extra_per_block_abs_pos_emb=False,
    rope_t_extrapolation_ratio=1.0,
)
#: Cosmos's test net; it keeps the 7B's extra per-block pos-emb.
MINI_NET: dict[str, Any] = dict(
    COMMON,
    model_channels=1024,
    num_blocks=2,
    num_heads=8,
    extra_per_block_abs_pos_emb=True,
    rope_t_extrapolation_ratio=1.0,
)

#: What the released Predict2.5 video2world nets change on top of the cosmos_v1 presets.
PREDICT2_5_CHANGES: dict[str, Any] = dict(
    rope_enable_fps_modulation=False,
    rope_h_extrapolation_ratio=3.0,
    rope_w_extrapolation_ratio=3.0,
    rope_t_extrapolation_ratio=1.0,
    timestep_scale=0.001,
    use_crossattn_projection=True,
    # 28 Qwen2.5-VL-7B hidden layers x 3584 (Reason1.1 FULL_CONCAT)
    crossattn_proj_in_channels=100352,
    crossattn_emb_channels=1024,
    use_wan_fp32_strategy=True,
)
PREDICT2_5_2B: dict[str, Any] = dict(COSMOS_V1_2B, **PREDICT2_5_CHANGES)
PREDICT2_5_14B: dict[str, Any] = dict(COSMOS_V1_14B, **PREDICT2_5_CHANGES)

#: Tiny CPU net for tests (trainer_spec ``dit_tiny``): 175,808 parameters.
TINY: dict[str, Any] = dict(
    COMMON,
    max_img_h=64,
    max_img_w=64,
    max_frames=16,
    model_channels=64,
    num_blocks=2,
    num_heads=4,
    crossattn_emb_channels=32,
    adaln_lora_dim=16,
    extra_per_block_abs_pos_emb=False,
    rope_t_extrapolation_ratio=1.0,
)

PRESETS: dict[str, dict[str, Any]] = {
    "cosmos_v1_2B": COSMOS_V1_2B,
    "predict2_5_2B": PREDICT2_5_2B,
    "cosmos_v1_7B": COSMOS_V1_7B,
    "cosmos_v1_14B": COSMOS_V1_14B,
    "predict2_5_14B": PREDICT2_5_14B,
    "mini_net": MINI_NET,
    "tiny": TINY,
}
