"""SyntheticVideoDataset: shapes, determinism, captions that match the motion, fixed embeddings."""

from __future__ import annotations

import pytest
import torch

from cosmos_train.data.synthetic import SyntheticVideoDataset
from cosmos_train.data.text_hash import caption_words, hash_text_embedding


def centroid(frame: torch.Tensor) -> torch.Tensor:
    """(x, y) centroid of the bright pixels of a [3,H,W] uint8 frame."""
    weight = (frame.float().amax(0) - 16).clamp(min=0)
    h, w = weight.shape
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    return torch.stack([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()


def test_keys_shapes_dtypes():
    ds = SyntheticVideoDataset(length=8)
    item = ds[2]
    assert item["video"].shape == (3, 17, 64, 64) and item["video"].dtype == torch.uint8
    assert (
        item["t5_text_embeddings"].shape == (8, 32)
        and item["t5_text_embeddings"].dtype == torch.float32
    )
    assert item["t5_text_mask"].tolist() == [1] * 5 + [0] * 3
    assert not item["t5_text_embeddings"][5:].any()
    assert item["image_size"].tolist() == [64, 64, 64, 64]
    assert item["padding_mask"].shape == (1, 64, 64)
    assert (item["num_frames"], item["sample_idx"]) == (17, 2)
    assert item["ai_caption"] in ds.captions


def test_deterministic_per_index():
    a, b = SyntheticVideoDataset(length=8), SyntheticVideoDataset(length=8)
    assert torch.equal(a[5]["video"], b[5]["video"]) and a[5]["ai_caption"] == b[5]["ai_caption"]
    videos = {a[i]["video"].numpy().tobytes() for i in range(8)}
    assert len(videos) == 8


@pytest.mark.parametrize(
    "direction, axis, sign",
    [("left", 0, -1), ("right", 0, 1), ("up", 1, -1), ("down", 1, 1)],
    ids=["left", "right", "up", "down"],
)
def test_motion_matches_caption(direction, axis, sign):
    ds = SyntheticVideoDataset(length=4, directions=(direction,), num_frames=9, height=32, width=48)
    for i in range(4):
        item = ds[i]
        assert item["ai_caption"].endswith(f"moving {direction}")
        start, end = centroid(item["video"][:, 0]), centroid(item["video"][:, -1])
        moved = (end - start)[axis] * sign
        assert moved == pytest.approx(16.0, abs=0.5)  # travel = min(H, W) / 2
        assert abs(float((end - start)[1 - axis])) < 0.5


def test_colour_matches_caption():
    ds = SyntheticVideoDataset(length=6, colors=("red",), num_frames=5, height=32, width=32)
    frame = ds[0]["video"][:, 0].float()
    brightest = frame.sum(0).argmax()
    r, g, b = frame.flatten(1)[:, brightest].tolist()
    assert r > 200 and g < 60 and b < 60


def test_same_caption_same_embedding_and_distinct_words_differ():
    ds = SyntheticVideoDataset(length=64)
    by_caption = {}
    for i in range(64):
        item = ds[i]
        emb = by_caption.setdefault(item["ai_caption"], item["t5_text_embeddings"])
        assert torch.equal(emb, item["t5_text_embeddings"])
    assert len(by_caption) > 4
    e_red, _ = hash_text_embedding("a red square moving left", text_len=8, text_dim=32)
    e_blue, _ = hash_text_embedding("a blue square moving left", text_len=8, text_dim=32)
    assert torch.equal(e_red[0], e_blue[0]) and not torch.equal(e_red[1], e_blue[1])


def test_caption_words():
    assert caption_words("A Red, square!") == ["a", "red", "square"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(colors=("purple",)), "unknown colors"),
        (dict(shapes=()), "shapes must not be empty"),
        (dict(shape_size=40, height=64, width=64), "would leave the frame"),
        (dict(num_frames=0), "num_frames must be a positive int"),
    ],
    ids=["unknown-colour", "no-shapes", "too-big", "zero-frames"],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticVideoDataset(**kwargs)
