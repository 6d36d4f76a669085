"""A dependency-free PNG writer (8-bit RGB), for contact sheets and other figures."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import torch

from cosmos_train.utils.atomic import atomic_write

__all__ = ["write_png"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def write_png(path: str | Path, image: torch.Tensor) -> Path:
    """Writes a uint8 ``[3, H, W]`` image as an RGB PNG (atomically: temp file, then rename).

    Returns:
        The written path.
    """
    if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(
            f"write_png needs a uint8 [3, H, W] image, got {image.dtype} {tuple(image.shape)}"
        )
    _, h, w = image.shape
    rows = image.permute(1, 2, 0).contiguous().numpy().reshape(h, w * 3)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 (none) per row
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))
