"""Net presets: Cosmos's ``cosmos_v1_{2B,7B,14B}``, ``mini_net``, the released Predict2.5 nets, a
tiny CPU net.

Each preset exists twice: a plain dict of :class:`~cosmos_train.nets.dit.MiniTrainDiT` kwargs
(``COSMOS_V1_2B``) and a function that builds the net (``cosmos_v1_2B(**overrides)``), so configs
can write ``L(MiniTrainDiT)(**COSMOS_V1_2B)`` or ``L(cosmos_v1_2B)(num_blocks=4)``. Values come
from Cosmos ``defaults/net.py`` and the released experiment configs (see
``reference/cosmos_nets/README.md``). Activation checkpointing is left to the trainer.
"""

from __future__ import annotations

from typing import Any

from cosmos_train.nets.dit import MiniTrainDiT
from cosmos_train.nets.preset_values import (
    COMMON,
    COSMOS_V1_2B,
    COSMOS_V1_7B,
    COSMOS_V1_14B,
    MINI_NET,
    PREDICT2_5_2B,
    PREDICT2_5_14B,
    PRESETS,
    TINY,
)

__all__ = [
    "PRESETS",
    "COMMON",
    "COSMOS_V1_2B",
    "COSMOS_V1_7B",
    "COSMOS_V1_14B",
    "MINI_NET",
    "PREDICT2_5_2B",
    "PREDICT2_5_14B",
    "TINY",
    "cosmos_v1_2B",
    "cosmos_v1_7B",
    "cosmos_v1_14B",
    "mini_net",
    "predict2_5_2B",
    "predict2_5_14B",
    "tiny",
    "preset_kwargs",
    "build_preset",
]


def preset_kwargs(name: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of preset ``name``'s kwargs with ``overrides`` applied."""
    if name not in PRESETS:
        raise KeyError(f"unknown net preset {name!r}; choose one of {sorted(PRESETS)}")
    return {**PRESETS[name], **overrides}


def build_preset(name: str, **overrides: Any) -> MiniTrainDiT:
    """Build preset ``name`` (on the current default device; wrap in ``torch.device('meta')`` for
    big nets)."""
    return MiniTrainDiT(**preset_kwargs(name, **overrides))


def cosmos_v1_2B(**overrides: Any) -> MiniTrainDiT:
    """Cosmos ``cosmos_v1_2B``: 2048/28/16, 1,956,413,440 params."""
    return build_preset("cosmos_v1_2B", **overrides)


def predict2_5_2B(**overrides: Any) -> MiniTrainDiT:
    """Released Predict2.5-2B net: cosmos_v1_2B + text projection 100352->1024, 2,059,174,912
    params."""
    return build_preset("predict2_5_2B", **overrides)


def cosmos_v1_7B(**overrides: Any) -> MiniTrainDiT:
    """Cosmos ``cosmos_v1_7B``: 4096/28/32 with extra pos-emb, 7,236,208,640 params."""
    return build_preset("cosmos_v1_7B", **overrides)


def cosmos_v1_14B(**overrides: Any) -> MiniTrainDiT:
    """Cosmos ``cosmos_v1_14B``: 5120/36/40, 14,265,285,632 params."""
    return build_preset("cosmos_v1_14B", **overrides)


def predict2_5_14B(**overrides: Any) -> MiniTrainDiT:
    """Released Predict2.5-14B net: cosmos_v1_14B + Predict2.5 changes, 14,368,047,104 params."""
    return build_preset("predict2_5_14B", **overrides)


def mini_net(**overrides: Any) -> MiniTrainDiT:
    """Cosmos ``mini_net``: 1024/2/8 with extra pos-emb, 45,344,768 params."""
    return build_preset("mini_net", **overrides)


def tiny(**overrides: Any) -> MiniTrainDiT:
    """Tiny CPU test net: D=64, 2 blocks, 4 heads, text 32, LoRA 16, max 64x64x16; 175,808
    params."""
    return build_preset("tiny", **overrides)
