"""``net`` options (package ``model.config.net``): the DiT sizes of Cosmos's ``defaults/net.py``.

Each option is ``L(MiniTrainDiT)(**kwargs)`` with every preset value written out, so
``model.config.net.num_blocks=2`` edits a visible value and ``--dryrun`` shows the whole net.
The kwargs are the ones of :mod:`cosmos_train.nets.presets` (a test keeps them equal); they are
repeated here because that module imports torch and option modules must not.

Options: ``cosmos_v1_2B``, ``cosmos_v1_7B``, ``cosmos_v1_14B``, ``mini_net`` (Cosmos),
``predict2_5_2B`` and ``predict2_5_14B`` (the released Predict2.5 video2world nets: Reason1 text
projection 100352 -> 1024, timestep scale 1e-3, RoPE h/w 3.0, fps modulation off, fp32
modulation), ``tiny`` (the CPU test net, 175,808 parameters).
"""

from __future__ import annotations

from typing import Any

from lazycfg import L, lazy_imports, register

with lazy_imports():
    from cosmos_train.nets.dit import MiniTrainDiT

_COMMON: dict[str, Any] = dict(
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


def _size(model_channels: int, num_blocks: int, num_heads: int, extra_pos: bool, rope_t: float) -> dict[str, Any]:
    return dict(
        _COMMON,
        model_channels=model_channels,
        num_blocks=num_blocks,
        num_heads=num_heads,
        extra_per_block_abs_pos_emb=extra_pos,
        rope_t_extrapolation_ratio=rope_t,
    )


#: What the released Predict2.5 video2world nets change on top of the cosmos_v1 sizes.
PREDICT2_5_CHANGES: dict[str, Any] = dict(
    rope_enable_fps_modulation=False,
    rope_h_extrapolation_ratio=3.0,
    rope_w_extrapolation_ratio=3.0,
    rope_t_extrapolation_ratio=1.0,
    timestep_scale=0.001,
    use_crossattn_projection=True,
    crossattn_proj_in_channels=100352,  # Reason1 text embeddings: [512, 100352] per caption
    crossattn_emb_channels=1024,
    use_wan_fp32_strategy=True,
)

NET_KWARGS: dict[str, dict[str, Any]] = {
    "cosmos_v1_2B": _size(2048, 28, 16, False, 1.0),
    "cosmos_v1_7B": _size(4096, 28, 32, True, 2.0),
    "cosmos_v1_14B": _size(5120, 36, 40, False, 1.0),
    # Cosmos's mini_net inherits the 7B's extra per-block position embedding.
    "mini_net": _size(1024, 2, 8, True, 1.0),
}
NET_KWARGS["predict2_5_2B"] = dict(NET_KWARGS["cosmos_v1_2B"], **PREDICT2_5_CHANGES)
NET_KWARGS["predict2_5_14B"] = dict(NET_KWARGS["cosmos_v1_14B"], **PREDICT2_5_CHANGES)
NET_KWARGS["tiny"] = dict(
    _size(64, 2, 4, False, 1.0), max_img_h=64, max_img_w=64, max_frames=16, crossattn_emb_channels=32, adaln_lora_dim=16
)

for _name, _kwargs in NET_KWARGS.items():
    register("net", _name, L(MiniTrainDiT)(**_kwargs), package="model.config.net")
