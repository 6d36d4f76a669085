"""Floating-point dtype names in configs and on command lines (``"bfloat16"`` -> torch.bfloat16)."""

from __future__ import annotations

import torch

__all__ = ["DTYPES", "parse_dtype"]

#: The floating-point dtypes a config may name (training precision, tokenizer and storage dtypes).
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def parse_dtype(dtype: str | torch.dtype, what: str = "dtype") -> torch.dtype:
    """``torch.dtype`` for a name (``"bfloat16"``, ``"torch.float16"``) or a dtype itself.

    Args:
        dtype: the name or dtype.
        what: the config key or argument that held it, for the error message.

    Raises:
        ValueError: an unknown name; the message lists the valid ones.
    """
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ValueError(f"{what}={dtype} is not supported; use one of {list(DTYPES)}")
        return dtype
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ValueError(f"{what}={dtype!r} is not a known dtype; use one of {list(DTYPES)}")
    return DTYPES[name]
