"""Cosmos's aspect-ratio buckets: the resolution tables and the bucket of a clip.

Cosmos (``predict2/datasets/utils.py``) lists, per resolution name, five aspect ratios
(``"1,1"``, ``"4,3"``, ``"3,4"``, ``"16,9"``, ``"9,16"``, width:height) and the frame size of
each. Cosmos stores the sizes as ``(width, height)``; :data:`VIDEO_BUCKETS` here holds the same
numbers as ``(height, width)`` so they read like every other size in this package.

A clip goes to the bucket whose aspect ratio is closest to its own (in log ratio); its frames are
resized with the aspect kept to fit the bucket's size and centre-padded to it (reflection
padding, edge padding when a pad is as large as the frame), with ``padding_mask`` 1 on padded
pixels and ``image_size = [H, W, h, w]`` (bucket size, then the resized frame inside it): Cosmos's
``ResizeLargestSideAspectPreserving`` + ``ReflectionPadding``. The net appends the mask as an input
channel (``concat_padding_mask``).
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "ASPECT_RATIOS",
    "IMAGE_BUCKETS",
    "VIDEO_BUCKETS",
    "bucket_size",
    "closest_aspect_ratio",
    "padding_mask_from_size",
]

ASPECT_RATIOS = ("1,1", "4,3", "3,4", "16,9", "9,16")


def _hw(table: dict[str, dict[str, tuple[int, int]]]) -> dict[str, dict[str, tuple[int, int]]]:
    """Cosmos's ``(width, height)`` entries as ``(height, width)``."""
    return {res: {ar: (wh[1], wh[0]) for ar, wh in sizes.items()} for res, sizes in table.items()}


def _five(
    square: int, four_three: tuple[int, int], sixteen_nine: tuple[int, int]
) -> dict[str, tuple[int, int]]:
    """(width, height) per aspect ratio; the portrait entries are the landscape ones swapped."""
    return {
        "1,1": (square, square),
        "4,3": four_three,
        "3,4": four_three[::-1],
        "16,9": sixteen_nine,
        "9,16": sixteen_nine[::-1],
    }


#: Cosmos ``VIDEO_RES_SIZE_INFO`` as ``{resolution: {aspect_ratio: (height, width)}}``.
VIDEO_BUCKETS: dict[str, dict[str, tuple[int, int]]] = _hw(
    {
        "1080": _five(1024, (1440, 1056), (1920, 1056)),
        "1024": _five(1024, (1280, 1024), (1280, 768)),
        "720": _five(960, (960, 704), (1280, 704)),
        "512": _five(512, (640, 512), (640, 384)),
        "480": _five(480, (640, 480), (768, 432)),
        "480p": _five(640, (640, 480), (832, 480)),
        "720p": _five(960, (960, 720), (1280, 720)),
        "720robocasa": _five(720, (960, 720), (1280, 720)),
        "256": _five(256, (320, 256), (320, 192)),
    }
)

#: Cosmos ``IMAGE_RES_SIZE_INFO`` (differs from the video table at "1024" only; no "720p").
IMAGE_BUCKETS: dict[str, dict[str, tuple[int, int]]] = {
    **{k: v for k, v in VIDEO_BUCKETS.items() if k != "720p"},
    **_hw({"1024": _five(1024, (1168, 880), (1360, 768))}),
}


def closest_aspect_ratio(height: int, width: int) -> str:
    """The bucket label (``"16,9"`` ...) closest to ``width:height`` (in log ratio)."""
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {height}x{width}")

    def distance(label: str) -> float:
        w, h = (int(x) for x in label.split(","))
        return abs(math.log((width / height) / (w / h)))

    return min(ASPECT_RATIOS, key=distance)


def bucket_size(resolution: str, aspect_ratio: str, *, images: bool = False) -> tuple[int, int]:
    """``(height, width)`` of a bucket; a clear error for an unknown resolution."""
    table = IMAGE_BUCKETS if images else VIDEO_BUCKETS
    if resolution not in table:
        raise ValueError(
            f"resolution {resolution!r} has no aspect-ratio buckets; choose one of "
            f"{sorted(table)} (Cosmos's VIDEO_RES_SIZE_INFO)"
        )
    return table[resolution][aspect_ratio]


def padding_mask_from_size(image_size: torch.Tensor) -> torch.Tensor:
    """The ``[1, H, W]`` mask (1 = padding) of a centred frame; ``image_size = [H, W, h, w]``."""
    th, tw, h, w = (int(v) for v in image_size.tolist())
    top, left = (th - h) // 2, (tw - w) // 2
    mask = torch.ones(1, th, tw, dtype=torch.float32)
    mask[:, top : top + h, left : left + w] = 0
    return mask
