"""Pieces every dataset item shares: argument/index checks, the per-item generator, size fields."""

from __future__ import annotations

import torch

#: Batch key of tokenizer latents ``[B, C, T', H', W']`` (a latent cache); the model skips encoding.
LATENTS_KEY = "latents"

__all__ = ["LATENTS_KEY", "check_index", "check_positive_ints", "item_generator", "size_fields"]


def check_positive_ints(**values: object) -> None:
    """Raises ``ValueError`` naming the first argument that is not a positive int."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_index(index: int, length: int, what: str = "a dataset") -> int:
    """Accept negative indices like a list; reject out-of-range ones with a clear message."""
    index = int(index)
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"index {index} out of range for {what} of length {length}")
    return index


def item_generator(seed: int, index: int) -> torch.Generator:
    """The generator item ``index`` draws from: the same tensors for the same index on every call
    and rank."""
    return torch.Generator().manual_seed(int(seed) + int(index))


def size_fields(height: int, width: int) -> dict[str, torch.Tensor]:
    """``image_size`` int64 ``[H, W, H, W]`` and an all-zero ``padding_mask`` float32 ``[1, H,
    W]``."""
    return {
        "image_size": torch.tensor([height, width, height, width], dtype=torch.int64),
        "padding_mask": torch.zeros(1, height, width, dtype=torch.float32),
    }
