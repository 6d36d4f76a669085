"""Mock datasets with Cosmos's keys, shapes and dtypes, deterministic per index.

Cosmos's mock data (``_src/predict2/datasets/data_sources/mock_data.py``) draws every item from
the global RNG, so the same index gives different tensors on every call and on every rank. Here
each item is drawn from ``torch.Generator().manual_seed(seed + index)``: the same index always
gives the same tensors, which makes resume, DDP and gradient-accumulation tests exact.

Differences from Cosmos, both deliberate: ``image_size`` is int64 (the trainer's batch
interface; Cosmos's mock uses float32 while its real dataset uses int64) and every item carries
``sample_idx`` (the dataset index, used by the model for per-sample randomness).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from cosmos_train.data._items import check_index, check_positive_ints, item_generator, size_fields

__all__ = ["MockVideoDataset", "MockImageDataset"]


def _text_fields(gen: torch.Generator, text_len: int, text_dim: int) -> dict[str, torch.Tensor]:
    """Random text embeddings and a random 0/1 mask, as Cosmos's mock draws them."""
    return {
        "t5_text_embeddings": torch.randn(text_len, text_dim, generator=gen, dtype=torch.float32),
        "t5_text_mask": torch.randint(0, 2, (text_len,), generator=gen, dtype=torch.int64),
    }


class _MockDataset(Dataset):
    """Size, text and seed arguments shared by the two mock datasets."""

    def __init__(
        self, *, height: int, width: int, text_len: int, text_dim: int, length: int, seed: int
    ) -> None:
        check_positive_ints(
            height=height, width=width, text_len=text_len, text_dim=text_dim, length=length
        )
        self.height = height
        self.width = width
        self.text_len = text_len
        self.text_dim = text_dim
        self.length = length
        self.seed = seed

    def __len__(self) -> int:
        return self.length

    def _start(self, index: int) -> tuple[int, torch.Generator]:
        """The checked index and its generator."""
        index = check_index(index, self.length)
        return index, item_generator(self.seed, index)


class MockVideoDataset(_MockDataset):
    """Random video items with exactly the key set of Cosmos's mock video dataset.

    Args:
        num_frames: frames per clip ``T`` (Wan2.1-based models want ``1 + 4k``, e.g. 93).
        height: frame height in pixels.
        width: frame width in pixels.
        text_len: number of text tokens ``L``.
        text_dim: text embedding width ``D`` (1024 for T5-XXL).
        fps: frame rate reported by every item.
        length: number of items.
        seed: base seed; item ``i`` is drawn from ``Generator().manual_seed(seed + i)``.

    Items: ``video`` uint8 ``[3,T,H,W]`` (0..254), ``t5_text_embeddings`` float32 ``[L,D]``,
    ``t5_text_mask`` int64 ``[L]`` (random 0/1), ``fps``, ``image_size`` int64 ``[H,W,H,W]``,
    ``num_frames``, ``padding_mask`` float32 ``[1,H,W]`` zeros, ``ai_caption``, ``dataset_name``,
    ``chunk_index``/``frame_start``/``frame_end``/``n_orig_video_frames`` (0), ``__url__``,
    ``__key__`` and ``sample_idx``.
    """

    def __init__(
        self,
        *,
        num_frames: int = 93,
        height: int = 704,
        width: int = 1280,
        text_len: int = 512,
        text_dim: int = 1024,
        fps: float = 24.0,
        length: int = 2**15,
        seed: int = 0,
    ) -> None:
        super().__init__(
            height=height,
            width=width,
            text_len=text_len,
            text_dim=text_dim,
            length=length,
            seed=seed,
        )
        check_positive_ints(num_frames=num_frames)
        self.num_frames = num_frames
        self.fps = float(fps)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index, gen = self._start(index)
        h, w = self.height, self.width
        # Cosmos draws randint(0, 255): values 0..254.
        video = torch.randint(0, 255, (3, self.num_frames, h, w), generator=gen, dtype=torch.uint8)
        return {
            "video": video,
            **_text_fields(gen, self.text_len, self.text_dim),
            "fps": self.fps,
            **size_fields(h, w),
            "num_frames": self.num_frames,
            "ai_caption": "placeholder",
            "dataset_name": "video_data",
            "chunk_index": 0,
            "frame_start": 0,
            "frame_end": 0,
            "n_orig_video_frames": 0,
            "__url__": "placeholder",
            "__key__": "placeholder",
            "sample_idx": index,
        }


class MockImageDataset(_MockDataset):
    """Random image items with the keys of Cosmos's mock image dataset (the ``mock_image`` option).

    Args:
        height: image height in pixels.
        width: image width in pixels.
        text_len: number of text tokens ``L``.
        text_dim: text embedding width ``D``.
        length: number of items.
        seed: base seed; item ``i`` is drawn from ``Generator().manual_seed(seed + i)``.

    Items: ``images`` float32 ``[3,H,W]`` (randn, as in Cosmos), text fields as the video mock,
    ``fps`` 1.0, ``num_frames`` 1, ``image_size``, ``padding_mask``, ``ai_caption``,
    ``raw_captions``, ``dataset_name``, ``__url__``, ``__key__`` and ``sample_idx``.
    """

    def __init__(
        self,
        *,
        height: int = 704,
        width: int = 1280,
        text_len: int = 512,
        text_dim: int = 1024,
        length: int = 2**15,
        seed: int = 0,
    ) -> None:
        super().__init__(
            height=height,
            width=width,
            text_len=text_len,
            text_dim=text_dim,
            length=length,
            seed=seed,
        )

    def __getitem__(self, index: int) -> dict[str, Any]:
        index, gen = self._start(index)
        h, w = self.height, self.width
        return {
            "images": torch.randn(3, h, w, generator=gen, dtype=torch.float32),
            **_text_fields(gen, self.text_len, self.text_dim),
            "fps": 1.0,
            **size_fields(h, w),
            "num_frames": 1,
            "ai_caption": "placeholder",
            "raw_captions": "placeholder",
            "dataset_name": "image_data",
            "__url__": "placeholder",
            "__key__": "placeholder",
            "sample_idx": index,
        }
