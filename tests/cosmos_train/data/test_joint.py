"""Joint image + video: PNGs as one-frame clips, Cosmos's ratio, exact resume, a model step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import lazycfg
from cosmos_train.data.images import LocalImageDataset
from cosmos_train.data.joint import JointDataLoader
from cosmos_train.data.loader import build_dataloader
from cosmos_train.data.local_video import LocalVideoDataset

from .media import make_folder, write_png


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    gen = torch.Generator().manual_seed(0)
    for i, (h, w) in enumerate([(32, 32), (24, 40), (32, 32), (40, 24), (32, 32)]):
        write_png(
            root / "images" / f"im{i}.png",
            torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8),
        )
        (root / "metas").mkdir(exist_ok=True)
        (root / "metas" / f"im{i}.txt").write_text(f"image {i}")
        (root / "emb").mkdir(exist_ok=True)
        torch.save(torch.randn(2, 6, generator=gen), root / "emb" / f"im{i}.pt")
    return root


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("videos"), [(32, 32)] * 4, frames=9)


def images(image_dir, **kw):
    return LocalImageDataset(
        dataset_dir=image_dir,
        image_size=(32, 32),
        text_embeddings_subdir="emb",
        text_len=4,
        text_dim=6,
        **kw,
    )


def test_images_are_one_frame_items_decoded_losslessly(image_dir):
    ds = images(image_dir)
    item = ds[0]
    assert item["images"].shape == (3, 32, 32) and item["images"].dtype == torch.uint8
    assert (item["fps"], item["num_frames"], item["ai_caption"]) == (1.0, 1, "image 0")
    assert "video" not in item and item["t5_text_mask"].tolist() == [1, 1, 0, 0]
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(
        item["images"], torch.randint(0, 256, (3, 32, 32), generator=gen, dtype=torch.uint8)
    )
    bucketed = images(image_dir, aspect_ratio_buckets="256")
    assert bucketed.bucket_ids == ["1,1", "16,9", "1,1", "9,16", "1,1"]
    assert bucketed[1]["images"].shape == (3, 192, 320)


def joint(image_dir, video_dir, ratios):
    loaders = {
        "image_data": build_dataloader(dataset=images(image_dir), batch_size=2, seed=1),
        "video_data": build_dataloader(
            dataset=LocalVideoDataset(
                dataset_dir=video_dir,
                num_frames=5,
                video_size=(32, 32),
                text_embeddings_subdir="emb",
                text_len=4,
                text_dim=6,
            ),
            batch_size=1,
            seed=2,
        ),
    }
    return JointDataLoader(loaders=loaders, ratios=ratios)


def test_batches_interleave_by_the_ratio_and_resume_exactly(image_dir, video_dir):
    def describe(batch):
        key = "images" if "images" in batch else "video"
        return batch["dataset_name"], key, batch["sample_idx"].tolist()

    reference = joint(image_dir, video_dir, {"image_data": 2, "video_data": 1})
    it = iter(reference)
    full = [describe(next(it)) for _ in range(12)]  # several epochs of both loaders
    assert [d[0] for d in full[:6]] == ["image_data", "image_data", "video_data"] * 2
    assert all((name == "image_data") == (key == "images") for name, key, _ in full)
    first = joint(image_dir, video_dir, {"image_data": 2, "video_data": 1})
    it = iter(first)
    head = [describe(next(it)) for _ in range(5)]
    resumed = joint(image_dir, video_dir, {"image_data": 2, "video_data": 1})
    resumed.load_state_dict(first.state_dict())
    it = iter(resumed)
    assert head + [describe(next(it)) for _ in range(7)] == full


def test_bad_ratios(image_dir, video_dir):
    with pytest.raises(ValueError, match="same, non-empty set"):
        joint(image_dir, video_dir, {"image_data": 1})
    with pytest.raises(ValueError, match="non-negative ints"):
        joint(image_dir, video_dir, {"image_data": 0, "video_data": 0})


def test_the_model_trains_on_image_and_video_batches(image_dir, video_dir):
    config = lazycfg.load(
        str(Path(__file__).resolve().parents[3] / "experiments" / "tiny_cpu.py"),
        ["model.config.net.crossattn_emb_channels=6", "model.config.state_t=2"],
    )
    model = lazycfg.instantiate(config.model, device="cpu")
    loader = joint(image_dir, video_dir, {"image_data": 1, "video_data": 1})
    it = iter(loader)
    for _ in range(2):
        batch = next(it)
        _, loss = model.training_step(batch, 0)
        assert torch.isfinite(loss)
