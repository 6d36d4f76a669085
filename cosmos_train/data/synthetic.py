"""A small learnable video dataset: one coloured shape moving in a straight line.

Each item is a clip of a square or circle of one colour moving left, right, up or down over a
dark background, captioned like ``"a red square moving left"``. The caption's text embedding is
FIXED and derived from its words (:func:`cosmos_train.data.text_hash.hash_text_embedding`), so a
model can learn the text -> video mapping (colour, shape, direction) and, with conditioning
frames, the continuation of the motion. The start position is random per item; everything is
drawn from ``Generator().manual_seed(seed + index)``, so items are deterministic per index.

The defaults (17 frames of 64x64, 8 tokens of width 32) fit the tiny CPU DiT with the 4x8x8
stand-in tokenizer (frames ``1 + 4k``, height and width multiples of 16).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from cosmos_train.data._items import check_index, check_positive_ints, item_generator, size_fields
from cosmos_train.data.text_hash import hash_text_embedding

__all__ = ["SyntheticVideoDataset", "COLORS", "SHAPES", "DIRECTIONS", "BACKGROUND"]

#: RGB of each colour name.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 235),
    "yellow": (235, 215, 40),
    "white": (235, 235, 235),
    "magenta": (220, 50, 210),
}
SHAPES: tuple[str, ...] = ("square", "circle")
#: Unit motion (dx, dy) in pixel coordinates (y grows downwards).
DIRECTIONS: dict[str, tuple[int, int]] = {
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, -1),
    "down": (0, 1),
}
#: Grey level of the background (all three channels).
BACKGROUND = 16


def _check_names(kind: str, names: Sequence[str], valid: Sequence[str]) -> tuple[str, ...]:
    names = tuple(names)
    if not names:
        raise ValueError(f"{kind} must not be empty; valid: {sorted(valid)}")
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(f"unknown {kind} {unknown}; valid: {sorted(valid)}")
    return names


class SyntheticVideoDataset(Dataset):
    """Moving coloured shapes with captions and fixed caption embeddings.

    Args:
        num_frames: frames per clip ``T``.
        height: frame height in pixels.
        width: frame width in pixels.
        length: number of items.
        text_len: number of text tokens ``L`` (captions have 5 words; the rest is padding).
        text_dim: text embedding width ``D`` (the net's ``crossattn_emb_channels``).
        seed: base seed; item ``i`` is drawn from ``Generator().manual_seed(seed + i)``.
        colors: colour names used (subset of :data:`COLORS`).
        shapes: shape names used (subset of :data:`SHAPES`).
        directions: motion directions used (subset of :data:`DIRECTIONS`).
        shape_size: side / diameter in pixels; default a quarter of ``min(height, width)``.
        travel: pixels moved over the clip; default half of ``min(height, width)``.
        fps: frame rate reported by every item.
        embedding_seed: seed of the per-word vectors (the same for every item).

    Items follow the trainer's batch interface: ``video`` uint8 ``[3,T,H,W]``,
    ``t5_text_embeddings`` float32 ``[L,D]``, ``t5_text_mask`` int64 ``[L]``, ``fps``,
    ``padding_mask`` float32 ``[1,H,W]``, ``image_size`` int64 ``[4]``, ``num_frames``,
    ``ai_caption`` and ``sample_idx``.
    """

    def __init__(
        self,
        *,
        num_frames: int = 17,
        height: int = 64,
        width: int = 64,
        length: int = 256,
        text_len: int = 8,
        text_dim: int = 32,
        seed: int = 0,
        colors: Sequence[str] = ("red", "green", "blue", "yellow"),
        shapes: Sequence[str] = SHAPES,
        directions: Sequence[str] = ("left", "right", "up", "down"),
        shape_size: int | None = None,
        travel: float | None = None,
        fps: float = 24.0,
        embedding_seed: int = 0,
    ) -> None:
        check_positive_ints(
            num_frames=num_frames,
            height=height,
            width=width,
            length=length,
            text_len=text_len,
            text_dim=text_dim,
        )
        self.num_frames = num_frames
        self.height = height
        self.width = width
        self.length = length
        self.text_len = text_len
        self.text_dim = text_dim
        self.seed = seed
        self.colors = _check_names("colors", colors, list(COLORS))
        self.shapes = _check_names("shapes", shapes, SHAPES)
        self.directions = _check_names("directions", directions, list(DIRECTIONS))
        side = min(height, width)
        self.shape_size = int(shape_size) if shape_size is not None else max(2, side // 4)
        self.travel = float(travel) if travel is not None else side / 2
        if self.shape_size + self.travel > side:
            raise ValueError(
                f"shape_size ({self.shape_size}) + travel ({self.travel}) exceed the frame side "
                f"({side}); the shape would leave the frame: lower one of them"
            )
        self.fps = float(fps)
        self.embedding_seed = embedding_seed
        # Embeddings depend only on the caption: compute each of them once.
        self._embeddings: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        ys = torch.arange(height, dtype=torch.float32) + 0.5
        xs = torch.arange(width, dtype=torch.float32) + 0.5
        self._grid_y, self._grid_x = torch.meshgrid(ys, xs, indexing="ij")

    def __len__(self) -> int:
        return self.length

    @property
    def captions(self) -> list[str]:
        """Every caption this dataset can produce."""
        return [
            self.caption(c, s, d) for c in self.colors for s in self.shapes for d in self.directions
        ]

    @staticmethod
    def caption(color: str, shape: str, direction: str) -> str:
        """The caption of one (colour, shape, direction) combination."""
        return f"a {color} {shape} moving {direction}"

    def text_embedding(self, caption: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed ``(embeddings [L,D], mask [L])`` of ``caption``."""
        if caption not in self._embeddings:
            self._embeddings[caption] = hash_text_embedding(
                caption, text_len=self.text_len, text_dim=self.text_dim, seed=self.embedding_seed
            )
        emb, mask = self._embeddings[caption]
        return emb.clone(), mask.clone()

    def ground_truth(self, index: int) -> dict[str, Any]:
        """What item ``index`` shows: names, RGB, size and the exact centre of every frame.

        Returns ``{"color", "shape", "direction", "rgb", "size", "centers"}`` where ``centers`` is
        float32 ``[T, 2]`` holding the shape's (x, y) centre in pixels per frame (pixel ``(0, 0)``
        spans ``[0, 1)``, so a centred shape in a 64-pixel frame sits at 32.0).
        """
        index = check_index(index, self.length)
        gen = item_generator(self.seed, index)

        def pick(options: Sequence[str]) -> str:
            return options[int(torch.randint(len(options), (1,), generator=gen))]

        color, shape, direction = pick(self.colors), pick(self.shapes), pick(self.directions)
        dx, dy = DIRECTIONS[direction]
        half = self.shape_size / 2
        # Start anywhere the whole trajectory stays inside the frame.
        lo_x = half + (self.travel if dx < 0 else 0.0)
        hi_x = self.width - half - (self.travel if dx > 0 else 0.0)
        lo_y = half + (self.travel if dy < 0 else 0.0)
        hi_y = self.height - half - (self.travel if dy > 0 else 0.0)
        u = torch.rand(2, generator=gen)
        cx0 = lo_x + float(u[0]) * (hi_x - lo_x)
        cy0 = lo_y + float(u[1]) * (hi_y - lo_y)
        step = self.travel / (self.num_frames - 1) if self.num_frames > 1 else 0.0
        t = torch.arange(self.num_frames, dtype=torch.float32)
        centers = torch.stack([cx0 + dx * step * t, cy0 + dy * step * t], dim=1)
        return {
            "color": color,
            "shape": shape,
            "direction": direction,
            "rgb": COLORS[color],
            "size": self.shape_size,
            "centers": centers,
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        truth = self.ground_truth(index)
        video = self._render(truth["shape"], truth["rgb"], truth["centers"])
        caption = self.caption(truth["color"], truth["shape"], truth["direction"])
        emb, mask = self.text_embedding(caption)
        h, w = self.height, self.width
        return {
            "video": video,
            "t5_text_embeddings": emb,
            "t5_text_mask": mask,
            "fps": self.fps,
            **size_fields(h, w),
            "num_frames": self.num_frames,
            "ai_caption": caption,
            "sample_idx": check_index(index, self.length),
        }

    def _render(self, shape: str, rgb: tuple[int, int, int], centers: torch.Tensor) -> torch.Tensor:
        """Draw the clip as uint8 ``[3,T,H,W]`` with anti-aliased edges (smooth sub-pixel
        motion)."""
        ddx = self._grid_x - centers[:, 0].view(-1, 1, 1)
        ddy = self._grid_y - centers[:, 1].view(-1, 1, 1)
        if shape == "circle":
            dist = torch.sqrt(ddx * ddx + ddy * ddy)
        else:  # square: Chebyshev distance
            dist = torch.maximum(ddx.abs(), ddy.abs())
        cover = (self.shape_size / 2 + 0.5 - dist).clamp(0.0, 1.0)  # [T,H,W]
        color = torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1, 1)
        frames = BACKGROUND + cover.unsqueeze(0) * (color - BACKGROUND)
        return frames.round().to(torch.uint8)
