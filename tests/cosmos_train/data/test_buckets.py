"""Aspect-ratio buckets: Cosmos's tables, a clip's bucket, fit + reflection pad, one shape/step."""

from __future__ import annotations

import pytest
import torch

from cosmos_train.data.buckets import (
    IMAGE_BUCKETS,
    VIDEO_BUCKETS,
    bucket_size,
    closest_aspect_ratio,
    padding_mask_from_size,
)
from cosmos_train.data.loader import build_dataloader
from cosmos_train.data.local_video import LocalVideoDataset
from cosmos_train.data.video_io import fit_size, pad_to

from .media import make_folder


@pytest.mark.parametrize(
    "hw, label",
    [
        ((720, 1280), "16,9"),
        ((1280, 720), "9,16"),
        ((480, 640), "4,3"),
        ((640, 480), "3,4"),
        ((500, 500), "1,1"),
        ((432, 768), "16,9"),
        ((100, 400), "16,9"),
        ((520, 640), "4,3"),
    ],
    ids=lambda v: str(v),
)
def test_closest_aspect_ratio(hw, label):
    assert closest_aspect_ratio(*hw) == label


@pytest.mark.parametrize(
    "resolution, label, hw",
    [
        ("480", "16,9", (432, 768)),
        ("480", "9,16", (768, 432)),
        ("720", "16,9", (704, 1280)),
        ("480p", "16,9", (480, 832)),
        ("512", "4,3", (512, 640)),
        ("256", "1,1", (256, 256)),
    ],
    ids=lambda v: str(v),
)
def test_cosmos_video_table_as_height_width(resolution, label, hw):
    assert bucket_size(resolution, label) == hw


def test_image_table_differs_at_1024_only():
    assert bucket_size("1024", "16,9", images=True) == (768, 1360) != bucket_size("1024", "16,9")
    assert {k for k in IMAGE_BUCKETS if IMAGE_BUCKETS[k] != VIDEO_BUCKETS.get(k)} == {"1024"}
    with pytest.raises(ValueError, match="choose one of"):
        bucket_size("999", "1,1")


def test_fit_then_pad_follows_cosmos():
    assert fit_size(480, 640, (432, 768)) == (432, 576)  # height limits; aspect kept
    video = (
        torch.arange(2 * 4 * 6, dtype=torch.uint8).view(1, 2, 4, 6).expand(3, 2, 4, 6).contiguous()
    )
    # 3 columns: left 1, right 2 (the left pad is the smaller half)
    padded, mask = pad_to(video, (4, 9))
    assert padded.shape == (3, 2, 4, 9) and padded.dtype == torch.uint8
    assert torch.equal(padded[..., 1:7], video)
    assert torch.equal(padded[..., 0], video[..., 1])  # reflection, not edge
    assert (
        torch.equal(mask[0, :, 0], torch.ones(4))
        and mask[0, :, 1:7].sum() == 0
        and mask.sum() == 12
    )
    wide, _ = pad_to(video, (12, 6))  # pads of 4 rows >= frame height 4: edge padding
    assert torch.equal(wide[..., 0, :], video[..., 0, :]) and torch.equal(
        wide[..., -1, :], video[..., -1, :]
    )
    assert torch.equal(padding_mask_from_size(torch.tensor([4, 9, 4, 6])), mask)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    # 16:9, 9:16, 1:1, 4:3 (twice each) at small sizes
    sizes = [(36, 64), (64, 36), (48, 48), (48, 64)] * 2
    return make_folder(tmp_path_factory.mktemp("buckets"), sizes, frames=9)


def test_folder_dataset_puts_each_video_in_its_bucket(folder):
    ds = LocalVideoDataset(
        dataset_dir=folder,
        num_frames=5,
        aspect_ratio_buckets="256",
        text_embeddings_subdir="emb",
        text_len=4,
        text_dim=6,
        start="first",
    )
    assert ds.bucket_ids == ["16,9", "9,16", "1,1", "4,3"] * 2
    item = ds[0]  # 36x64 -> fits 192x320 as 180x320, padded 6 + 6 rows
    assert item["video"].shape == (3, 5, 192, 320)
    assert item["image_size"].tolist() == [192, 320, 180, 320]
    assert item["padding_mask"].shape == (1, 192, 320) and item["padding_mask"].sum() == 12 * 320
    assert item["padding_mask"][0, 6:186].sum() == 0
    # the bright bar, resized, not padded away
    assert item["video"][0, 0, 6:186, :30].float().mean() > 200
    assert ds[2]["padding_mask"].sum() == 0 and ds[2]["video"].shape == (3, 5, 256, 256)


def test_bucketed_loader_has_one_shape_per_step_on_every_rank(folder):
    ds = LocalVideoDataset(
        dataset_dir=folder, num_frames=5, aspect_ratio_buckets="256", start="first"
    )
    ranks = [
        build_dataloader(dataset=ds, batch_size=1, sampling="buckets", rank=r, world_size=2, seed=1)
        for r in range(2)
    ]
    steps = list(zip(*[[tuple(b["video"].shape) for b in loader] for loader in ranks]))
    assert len(steps) == 4 and all(a == b for a, b in steps)
    assert len({a for a, _ in steps}) == 4  # all four buckets appear in one epoch
