"""Cosmos-compatible DiT nets, presets and activation checkpointing.

Exports load on first use (PEP 562), so ``import cosmos_train.nets.preset_values`` (the preset
values, read by the config option modules) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "AC_MODES": "checkpointing",
    "apply_activation_checkpointing": "checkpointing",
    "LVGDiT": "dit",
    "MiniTrainDiT": "dit",
    "MinimalV1LVGDiT": "dit",
    "PRESETS": "preset_values",
    "build_preset": "presets",
    "cosmos_v1_2B": "presets",
    "cosmos_v1_7B": "presets",
    "cosmos_v1_14B": "presets",
    "mini_net": "presets",
    "predict2_5_2B": "presets",
    "predict2_5_14B": "presets",
    "preset_kwargs": "presets",
    "tiny": "presets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
