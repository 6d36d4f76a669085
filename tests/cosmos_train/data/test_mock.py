"""MockVideoDataset / MockImageDataset: Cosmos key set, dtypes, shapes, determinism per index."""

from __future__ import annotations

import pytest
import torch

from cosmos_train.data.mock import MockImageDataset, MockVideoDataset

COSMOS_VIDEO_KEYS = {
    "video",
    "t5_text_embeddings",
    "t5_text_mask",
    "fps",
    "image_size",
    "num_frames",
    "padding_mask",
    "ai_caption",
    "dataset_name",
    "chunk_index",
    "frame_start",
    "frame_end",
    "n_orig_video_frames",
    "__url__",
    "__key__",
}


def small_video(**kw):
    return MockVideoDataset(
        num_frames=5, height=16, width=24, text_len=7, text_dim=8, length=10, **kw
    )


def test_video_keys_shapes_dtypes():
    item = small_video()[3]
    assert set(item) == COSMOS_VIDEO_KEYS | {"sample_idx"}
    assert item["video"].shape == (3, 5, 16, 24) and item["video"].dtype == torch.uint8
    assert int(item["video"].max()) <= 254
    assert (
        item["t5_text_embeddings"].shape == (7, 8)
        and item["t5_text_embeddings"].dtype == torch.float32
    )
    assert item["t5_text_mask"].shape == (7,) and item["t5_text_mask"].dtype == torch.int64
    assert set(item["t5_text_mask"].tolist()) <= {0, 1}
    assert (
        item["image_size"].tolist() == [16, 24, 16, 24] and item["image_size"].dtype == torch.int64
    )
    assert item["padding_mask"].shape == (1, 16, 24) and not item["padding_mask"].any()
    assert (item["fps"], item["num_frames"], item["sample_idx"]) == (24.0, 5, 3)
    assert item["ai_caption"] == "placeholder" and item["dataset_name"] == "video_data"


def test_video_deterministic_per_index_and_seed():
    a, b = small_video(), small_video()
    assert torch.equal(a[4]["video"], b[4]["video"])
    assert torch.equal(a[4]["t5_text_embeddings"], a[4]["t5_text_embeddings"])
    assert not torch.equal(a[4]["video"], a[5]["video"])
    assert not torch.equal(a[4]["video"], small_video(seed=1)[4]["video"])
    # seed + index: item 4 of seed 1 is item 5 of seed 0
    assert torch.equal(small_video(seed=1)[4]["video"], a[5]["video"])


def test_video_defaults_match_cosmos_shapes():
    ds = MockVideoDataset()
    assert (ds.num_frames, ds.height, ds.width, ds.text_len, ds.text_dim, len(ds)) == (
        93,
        704,
        1280,
        512,
        1024,
        2**15,
    )


def test_image_dataset():
    ds = MockImageDataset(height=8, width=12, text_len=4, text_dim=6, length=3)
    item = ds[1]
    assert item["images"].shape == (3, 8, 12) and item["images"].dtype == torch.float32
    assert (item["fps"], item["num_frames"], item["sample_idx"]) == (1.0, 1, 1)
    assert "raw_captions" in item and "video" not in item
    assert torch.equal(item["images"], ds[1]["images"])


@pytest.mark.parametrize("index", [10, -11], ids=["past-end", "before-start"])
def test_index_out_of_range(index):
    with pytest.raises(IndexError, match="out of range"):
        small_video()[index]


def test_negative_index_wraps():
    assert small_video()[-1]["sample_idx"] == 9


def test_bad_argument_is_clear():
    with pytest.raises(ValueError, match="num_frames must be a positive int"):
        MockVideoDataset(num_frames=0)
