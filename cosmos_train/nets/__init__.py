"""Cosmos-compatible DiT nets, presets and activation checkpointing."""

from cosmos_train.nets.checkpointing import AC_MODES, apply_activation_checkpointing
from cosmos_train.nets.dit import LVGDiT, MiniTrainDiT, MinimalV1LVGDiT
from cosmos_train.nets.presets import (
    PRESETS,
    build_preset,
    cosmos_v1_2B,
    cosmos_v1_7B,
    cosmos_v1_14B,
    mini_net,
    predict2_5_2B,
    predict2_5_14B,
    preset_kwargs,
    tiny,
)

__all__ = [
    "AC_MODES",
    "LVGDiT",
    "MiniTrainDiT",
    "MinimalV1LVGDiT",
    "PRESETS",
    "apply_activation_checkpointing",
    "build_preset",
    "cosmos_v1_2B",
    "cosmos_v1_7B",
    "cosmos_v1_14B",
    "mini_net",
    "predict2_5_2B",
    "predict2_5_14B",
    "preset_kwargs",
    "tiny",
]
