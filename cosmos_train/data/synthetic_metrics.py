"""How close a generated clip is to a :class:`SyntheticVideoDataset` item's ground truth.

The synthetic set knows each clip's shape colour and its exact centre in every frame, so a
generated clip can be scored without a learned metric:

* **colour mass**: per pixel, how much of the shape's colour it holds, in ``[0, 1]``: the
  projection of ``pixel - background`` onto ``colour - background`` (1 inside the shape, a
  fraction on anti-aliased edges), counted only where it is at least ``min_level`` and the
  pixel's colour points the same way as the shape's (cosine >= ``min_cos``), so faint speckle
  spread over the frame and speckle of another colour are not credited;
* **centroid error**: distance in pixels between the colour mass's centre and the true centre; a
  frame without any colour mass scores the frame diagonal (the worst possible error);
* **mass kept**: generated colour mass over the ground truth's, per frame (a shape that dissolves
  into the background drops towards 0);
* **PSNR** of the generated frames against the ground-truth frames (uint8, peak 255).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from cosmos_train.data.synthetic import BACKGROUND

__all__ = ["colour_mass", "centroids", "psnr", "clip_metrics", "contact_sheet"]


def colour_mass(
    video: torch.Tensor,
    rgb: Sequence[int],
    *,
    background: float = BACKGROUND,
    min_cos: float = 0.9,
    min_level: float = 0.3,
) -> torch.Tensor:
    """Per-pixel colour mass ``[T, H, W]`` in ``[0, 1]`` of a uint8 ``[3, T, H, W]`` clip."""
    if video.dim() != 4 or video.shape[0] != 3:
        raise ValueError(f"colour_mass needs a [3, T, H, W] video, got {tuple(video.shape)}")
    target = torch.tensor([float(c) - background for c in rgb]).view(3, 1, 1, 1)
    offset = video.float() - background
    dot = (offset * target).sum(0)
    norm_t = target.square().sum()
    cos = dot / (offset.square().sum(0).sqrt() * norm_t.sqrt()).clamp_min(1e-6)
    level = (dot / norm_t).clamp(0.0, 1.0)
    return level * ((cos >= min_cos) & (level >= min_level))


def centroids(mass: torch.Tensor) -> torch.Tensor:
    """(x, y) centre of mass per frame, ``[T, 2]`` in pixels (pixel centres at +0.5); NaN when empty."""
    t, h, w = mass.shape
    ys = torch.arange(h, dtype=torch.float32) + 0.5
    xs = torch.arange(w, dtype=torch.float32) + 0.5
    total = mass.sum((1, 2))
    cx = (mass.sum(1) * xs).sum(1) / total
    cy = (mass.sum(2) * ys).sum(1) / total
    out = torch.stack([cx, cy], dim=1)
    out[total <= 0] = float("nan")
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB between two uint8 tensors of one shape (inf when identical)."""
    mse = (a.float() - b.float()).square().mean().item()
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def clip_metrics(
    generated: torch.Tensor,
    reference: torch.Tensor,
    truth: dict[str, Any],
    *,
    first_generated: int = 1,
) -> dict[str, Any]:
    """Scores one generated clip against its ground truth.

    Args:
        generated, reference: uint8 ``[3, T, H, W]`` (the reference is the dataset's clip).
        truth: :meth:`SyntheticVideoDataset.ground_truth` of the clip.
        first_generated: index of the first frame that was generated (the earlier ones are
            conditioning frames copied from the reference); PSNR covers the generated frames.

    Returns:
        ``{"centroid_error_px": [T], "mass_kept": [T], "psnr_db": float}`` (lists per frame).
    """
    if generated.shape != reference.shape:
        raise ValueError(
            f"generated {tuple(generated.shape)} and reference {tuple(reference.shape)} differ"
        )
    _, t, h, w = generated.shape
    gen_mass = colour_mass(generated, truth["rgb"])
    ref_mass = colour_mass(reference, truth["rgb"])
    err = (centroids(gen_mass) - truth["centers"][:t]).norm(dim=1)
    err = torch.nan_to_num(err, nan=math.hypot(h, w))
    kept = gen_mass.sum((1, 2)) / ref_mass.sum((1, 2)).clamp_min(1e-6)
    return {
        "centroid_error_px": err.tolist(),
        "mass_kept": kept.tolist(),
        "psnr_db": psnr(generated[:, first_generated:], reference[:, first_generated:]),
    }


def contact_sheet(rows: Sequence[torch.Tensor], *, gap: int = 2, fill: int = 255) -> torch.Tensor:
    """Lays out clips as image rows: uint8 ``[3, H_total, W_total]``, one row per clip, frames left to right.

    Args:
        rows: uint8 ``[3, T, H, W]`` clips of one size (e.g. ground truth, generated, ...).
        gap: pixels of ``fill`` between frames and rows.
    """
    if not rows:
        raise ValueError("contact_sheet needs at least one clip")
    _, t, h, w = rows[0].shape
    sheet = torch.full(
        (3, len(rows) * (h + gap) + gap, t * (w + gap) + gap), fill, dtype=torch.uint8
    )
    for r, clip in enumerate(rows):
        if clip.shape != rows[0].shape:
            raise ValueError(
                f"contact_sheet: clip {r} is {tuple(clip.shape)}, clip 0 is {tuple(rows[0].shape)}"
            )
        y = gap + r * (h + gap)
        for f in range(t):
            x = gap + f * (w + gap)
            sheet[:, y : y + h, x : x + w] = clip[:, f]
    return sheet
