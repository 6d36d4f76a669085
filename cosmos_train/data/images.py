"""Images as one-frame clips, for joint image + video training.

:class:`LocalImageDataset` reads ``images/<stem>.png|.jpg|.jpeg`` with ``metas/<stem>.txt``
captions and optional ``<embeddings>/<stem>.pt`` text embeddings (the folder layout of
:class:`~cosmos_train.data.local_video.LocalVideoDataset` with images instead of mp4s; PyAV decodes
them). Items carry ``images`` uint8 ``[3, H, W]`` (the model adds the time axis: one latent frame,
no conditioning frames), ``fps`` 1.0 and ``num_frames`` 1, as Cosmos's image items do;
``aspect_ratio_buckets`` uses Cosmos's image table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_train.data.local_video import LocalVideoDataset

__all__ = ["LocalImageDataset"]


class LocalImageDataset(LocalVideoDataset):
    """Images with captions and optional precomputed text embeddings from a local folder.

    Args:
        dataset_dir: the dataset folder.
        image_size: output ``(height, width)``.
        images_subdir: folder of ``.png``/``.jpg`` files inside ``dataset_dir``.
        captions_subdir: folder of ``<stem>.txt`` captions.
        text_embeddings_subdir: folder of ``<stem>.pt`` embeddings, or ``None``.
        text_len: tokens after padding ``L``.
        text_dim: embedding width ``D``.
        resize: ``"stretch"`` or ``"center_crop"``.
        seed: seed of replacement choices for undecodable files.
        aspect_ratio_buckets: a Cosmos resolution name: resize and pad into aspect-ratio buckets.
    """

    MEDIA_SUFFIXES = (".png", ".jpg", ".jpeg")

    def __init__(
        self,
        *,
        dataset_dir: str | Path,
        image_size: Sequence[int] = (704, 1280),
        images_subdir: str = "images",
        captions_subdir: str = "metas",
        text_embeddings_subdir: str | None = None,
        text_len: int = 512,
        text_dim: int = 1024,
        resize: str = "stretch",
        seed: int = 0,
        aspect_ratio_buckets: str | None = None,
    ) -> None:
        super().__init__(
            dataset_dir=dataset_dir,
            num_frames=1,
            video_size=image_size,
            videos_subdir=images_subdir,
            captions_subdir=captions_subdir,
            text_embeddings_subdir=text_embeddings_subdir,
            text_len=text_len,
            text_dim=text_dim,
            start="first",
            resize=resize,
            seed=seed,
            aspect_ratio_buckets=aspect_ratio_buckets,
        )

    def _load(self, i: int, rng: np.random.Generator) -> dict[str, Any]:
        item = super()._load(i, rng)
        item["images"] = item.pop("video")[:, 0]
        item["fps"] = 1.0
        for key in ("frame_start", "frame_end", "n_orig_video_frames"):
            item.pop(key, None)
        return item
