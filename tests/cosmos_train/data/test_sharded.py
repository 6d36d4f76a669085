"""Raw clips in tar shards: same items as the folder, resumable packing, rank-local reads."""

from __future__ import annotations

import pytest
import torch

from cosmos_train.data.loader import build_dataloader
from cosmos_train.data.local_video import LocalVideoDataset
from cosmos_train.data.sharded import ShardedVideoDataset, write_clip_shards

from .media import make_folder

SIZES = [(32, 48), (48, 32), (32, 32), (24, 48), (32, 48), (32, 32), (48, 32)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("clips"), SIZES, frames=11)


@pytest.fixture(scope="module")
def shards(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    write_clip_shards(
        folder, out, samples_per_shard=2, text_embeddings_subdir="emb", log=lambda _: None
    )
    return out


def kw(**extra):
    return {
        "num_frames": 5,
        "video_size": (16, 16),
        "text_len": 4,
        "text_dim": 6,
        "seed": 3,
        **extra,
    }


def test_shard_items_equal_the_folder_items(folder, shards):
    a = LocalVideoDataset(dataset_dir=folder, text_embeddings_subdir="emb", **kw())
    b = ShardedVideoDataset(shards_dir=shards, **kw())
    assert b.shard_sizes == [2, 2, 2, 1] and len(b) == len(a) == 7
    for epoch in (0, 1):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        for i in range(len(a)):
            x, y = a[i], b[i]
            assert torch.equal(x["video"], y["video"]) and x["frame_start"] == y["frame_start"]
            assert torch.equal(x["t5_text_embeddings"], y["t5_text_embeddings"])
            assert (x["ai_caption"], x["__key__"], x["fps"]) == (
                y["ai_caption"],
                y["__key__"],
                y["fps"],
            )


def test_buckets_come_from_the_index_without_decoding(shards):
    ds = ShardedVideoDataset(
        shards_dir=shards,
        aspect_ratio_buckets="256",
        text_embeddings=False,
        **kw(video_size=(2, 2)),
    )
    assert ds.bucket_ids == ["4,3", "3,4", "1,1", "16,9", "4,3", "1,1", "3,4"]
    assert ds[3]["video"].shape == (3, 5, 192, 320) and "t5_text_embeddings" not in ds[3]


def test_make_shards_keeps_finished_shards(folder, tmp_path):
    out = tmp_path / "s"
    write_clip_shards(folder, out, samples_per_shard=3, log=lambda _: None)
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    (out / "clips-000001.tar").unlink()
    lines = []
    write_clip_shards(folder, out, samples_per_shard=3, log=lines.append)
    assert [line.split()[0] for line in lines] == ["kept", "wrote", "kept"]
    assert (out / "clips-000000.tar").stat().st_mtime_ns == first["clips-000000.tar"]
    assert len(ShardedVideoDataset(shards_dir=out, text_embeddings=False, **kw())) == 7


def test_missing_embeddings_are_reported(folder, tmp_path):
    write_clip_shards(folder, tmp_path / "noemb", samples_per_shard=4, log=lambda _: None)
    with pytest.raises(FileNotFoundError, match="text_embeddings=False"):
        ShardedVideoDataset(shards_dir=tmp_path / "noemb", **kw())


def test_each_rank_reads_its_own_shards_and_resumes_exactly(shards):
    ds = ShardedVideoDataset(shards_dir=shards, **kw())

    def loader(rank):
        return build_dataloader(
            dataset=ds, batch_size=1, sampling="shards", rank=rank, world_size=2, seed=7
        )

    key_shard = {e["key"]: ds.index.shard_of[i] for i, e in enumerate(ds.index.entries)}
    for rank in range(2):
        full = loader(rank)
        own = full.sampler.rank_shards()  # epoch 0's (iterating to the end moves to epoch 1)
        keys = [b["__key__"][0] for b in full]
        assert {key_shard[k] for k in keys} <= set(own) and len(own) <= 3  # of 4 shards
        first = loader(rank)
        it = iter(first)
        seen = [next(it)["__key__"][0]]
        resumed = loader(rank)
        resumed.load_state_dict(first.state_dict())
        assert seen + [b["__key__"][0] for b in resumed] == keys


def test_a_latent_cache_is_not_a_clip_shard_folder(tmp_path):
    from cosmos_train.data.tar_shards import ShardIndex, write_shard

    ShardIndex.write(
        tmp_path,
        [("l-000000.tar", write_shard(tmp_path / "l-000000.tar", [("a", {"json": b"{}"})]))],
        meta={"kind": "latents"},
    )
    with pytest.raises(ValueError, match="LatentCacheDataset"):
        ShardedVideoDataset(shards_dir=tmp_path)
