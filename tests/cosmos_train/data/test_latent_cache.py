"""Latent cache on the tiny experiment: exact latents, refusals, resume, the loss from video."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import lazycfg
from cosmos_train.data.latent_cache import (
    CacheMismatchError,
    LatentCacheDataset,
    build_cache,
    check_cache_against_config,
)

from .media import make_folder

ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "experiments" / "tiny_cpu.py")


def _bench_data():
    """tools/bench_data.py, whose tiny_cpu overrides (mp4 folder, cache) these tests share."""
    spec = importlib.util.spec_from_file_location("bench_data", ROOT / "tools" / "bench_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def video_overrides(folder: Path) -> list[str]:
    return _bench_data().video_overrides(folder) + ["dataloader_train.batch_size=3"]


def cache_overrides(cache: Path) -> list[str]:
    return _bench_data().cache_overrides(cache) + [
        "dataloader_train.dataset.num_frames=17",
        "dataloader_train.dataset.video_size=[64,64]",
        "dataloader_train.batch_size=3",
    ]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(
        tmp_path_factory.mktemp("tiny_mp4"), [(64, 64)] * 6, frames=21, text_dim=32, text_tokens=5
    )


@pytest.fixture(scope="module")
def cache(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache") / "latents"
    config = lazycfg.resolve(lazycfg.load(TINY, video_overrides(folder)))
    build_cache(config, out, samples_per_shard=4, log=lambda _: None)
    return out


def test_cached_latents_are_the_tokenizers_encoding_of_the_video_items(folder, cache):
    config = lazycfg.resolve(lazycfg.load(TINY, video_overrides(folder)))
    videos = lazycfg.instantiate(config.dataloader_train.dataset)
    tokenizer = lazycfg.instantiate(config.model.config.tokenizer)
    cached = LatentCacheDataset(
        cache_dir=cache, num_frames=17, video_size=(64, 64), text_len=8, text_dim=32
    )
    assert len(cached) == 6 and cached.shard_sizes == [4, 2]
    for i in range(len(cached)):
        item, video = cached[i], videos[i]
        expected = tokenizer.encode(video["video"][None].float() / 127.5 - 1)[0]
        assert torch.equal(item["latents"], expected) and item["latents"].shape == (16, 5, 8, 8)
        for key in ("t5_text_embeddings", "t5_text_mask", "padding_mask", "image_size"):
            assert torch.equal(item[key], video[key]), key
        for key in ("ai_caption", "fps", "sample_idx", "frame_start", "__key__"):
            assert item[key] == video[key], key
    # each distinct caption embedding is stored once
    assert len(list((cache / "text").glob("*.pt"))) == 6
    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["complete"] and manifest["spec"]["window"] == {
        "num_frames": 17,
        "start": "random",
        "seed": 0,
    }
    assert (
        manifest["spec"]["tokenizer"]["target"]
        == "cosmos_train.tokenizers.standin.PoolingTokenizer"
    )


@pytest.mark.parametrize(
    "kwargs, difference",
    [
        ({"num_frames": 13}, "window.num_frames: cache has 17, the run expects 13"),
        (
            {"video_size": (32, 64)},
            "resolution.video_size: cache has [64, 64], the run expects [32, 64]",
        ),
        ({"aspect_ratio_buckets": "480"}, "resolution.aspect_ratio_buckets: cache has '<missing>'"),
        ({"text_dim": 1024}, "caption.text_dim: cache has 32, the run expects 1024"),
    ],
    ids=["window", "resolution", "buckets", "text_dim"],
)
def test_a_cache_for_another_run_is_refused_with_the_difference(cache, kwargs, difference):
    with pytest.raises(CacheMismatchError, match="does not match this run") as err:
        LatentCacheDataset(cache_dir=cache, **kwargs)
    assert difference in str(err.value)


def test_another_tokenizer_is_refused_before_training(folder, cache):
    ok = lazycfg.load(TINY, cache_overrides(cache))
    check_cache_against_config(ok)
    other = lazycfg.load(TINY, cache_overrides(cache) + ["model.config.tokenizer.seed=1"])
    with pytest.raises(
        lazycfg.ConfigError, match="tokenizer.kwargs.seed: cache has 0, the run expects 1"
    ):
        check_cache_against_config(other)
    wan = lazycfg.load(TINY, cache_overrides(cache) + ["tokenizer=wan2pt1_tokenizer"])
    with pytest.raises(
        CacheMismatchError, match="tokenizer.target: cache has 'cosmos_train.tokenizers.standin"
    ):
        check_cache_against_config(wan)
    missing = lazycfg.load(TINY, cache_overrides(cache.parent / "nope"))
    with pytest.raises(lazycfg.ConfigError, match="cache_latents.py"):
        check_cache_against_config(missing)


def test_interrupted_cache_is_refused_then_resumed(folder, tmp_path):
    config = lazycfg.resolve(lazycfg.load(TINY, video_overrides(folder)))
    out = tmp_path / "c"
    build_cache(config, out, samples_per_shard=2, log=lambda _: None)
    kept = (out / "latents-000000.tar").stat().st_mtime_ns
    reference = [LatentCacheDataset(cache_dir=out)[i]["latents"] for i in range(6)]
    # simulate a crash: the last shard never made it and the manifest says incomplete
    (out / "latents-000002.tar").unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(ValueError, match="incomplete"):
        LatentCacheDataset(cache_dir=out)
    lines: list[str] = []
    build_cache(config, out, samples_per_shard=2, log=lines.append)
    assert [line.split()[0] for line in lines] == ["kept", "kept", "wrote"]
    assert (out / "latents-000000.tar").stat().st_mtime_ns == kept
    resumed = LatentCacheDataset(cache_dir=out)
    assert all(torch.equal(resumed[i]["latents"], reference[i]) for i in range(6))
    other = lazycfg.resolve(
        lazycfg.load(TINY, video_overrides(folder) + ["dataloader_train.dataset.num_frames=13"])
    )
    with pytest.raises(
        CacheMismatchError, match="window.num_frames: cache has 17, the run expects 13"
    ):
        build_cache(other, out, samples_per_shard=2, log=lambda _: None)


def run(overrides: list[str], name: str, tmp_path: Path, monkeypatch) -> list[float]:
    from cosmos_train.launch import launch

    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path / "out"))
    config = lazycfg.load(
        TINY,
        overrides
        + [
            f"job.name={name}",
            "trainer.max_iter=2",
            "trainer.logging_iter=1",
            "trainer.run_validation=false",
            "checkpoint.save_iter=100",
            "job.wandb_mode=disabled",
        ],
    )
    launch(config)
    rows = (Path(config.job.path_local) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(r)["loss"] for r in rows if json.loads(r).get("split") == "train"]


def test_training_from_the_cache_gives_the_loss_of_training_from_video(
    folder, cache, tmp_path, monkeypatch
):
    from_video = run(video_overrides(folder), "from_video", tmp_path, monkeypatch)
    from_cache = run(cache_overrides(cache), "from_cache", tmp_path, monkeypatch)
    assert len(from_video) == len(from_cache) == 2
    # The stand-in tokenizer is deterministic fp32: only batched vs per-clip encoding differs.
    assert from_cache == pytest.approx(from_video, rel=1e-5, abs=1e-6)


def test_the_model_skips_the_tokenizer_on_cached_batches(folder, cache):
    from torch.utils.data import default_collate

    config = lazycfg.load(TINY, cache_overrides(cache))
    model = lazycfg.instantiate(config.model, device="cpu", lazy_tokenizer=True)
    batch = default_collate([LatentCacheDataset(cache_dir=cache)[i] for i in range(2)])
    _, loss = model.training_step(batch, 0)
    assert torch.isfinite(loss) and not model.tokenizer_built
    assert model.flops_per_sample(batch) > 0 and model.tokens_per_sample(batch) == 5 * 4 * 4
    videos = model.generate_samples(batch, num_steps=2)  # sample videos need the decoder: built now
    assert (
        model.tokenizer_built and videos.shape == (2, 3, 17, 64, 64) and videos.dtype == torch.uint8
    )
    bad = dict(batch, latents=batch["latents"][:, :3])
    with pytest.raises(ValueError, match="model.config.state_ch"):
        model.training_step(bad, 0)


def test_tokenizer_fingerprint_is_the_weights_content_not_their_path(tmp_path):
    from cosmos_train.data.latent_cache import tokenizer_fingerprint

    a, b = tmp_path / "a" / "vae.pth", tmp_path / "b" / "vae.pth"
    for path in (a, b):
        path.parent.mkdir()
        path.write_bytes(b"weights v1")

    def fp(path, **kw):
        node = lazycfg.L("cosmos_train.tokenizers.wan21.Wan21VAE")(
            ckpt_path=str(path), dtype="bfloat16", **kw
        )
        return tokenizer_fingerprint(node)

    assert (
        fp(a) == fp(b, allow_random=True)
        and "weights_sha256" in fp(a)
        and "ckpt_path" not in fp(a)["kwargs"]
    )
    b.write_bytes(b"weights v2")
    assert fp(a)["weights_sha256"] != fp(b)["weights_sha256"]
    assert fp(tmp_path / "missing.pth")["weights"] == str(tmp_path / "missing.pth")


def test_a_bucketed_cache_keeps_padding_and_serves_one_shape_per_step(tmp_path):
    from cosmos_train.data.loader import build_dataloader

    sizes = [(36, 64), (64, 36)] * 2  # 16:9 and 9:16
    folder = make_folder(tmp_path / "mp4", sizes, frames=21, text_dim=32, text_tokens=5)
    overrides = video_overrides(folder) + ["dataloader_train.dataset.aspect_ratio_buckets=256"]
    config = lazycfg.resolve(lazycfg.load(TINY, overrides))
    build_cache(config, tmp_path / "cache", samples_per_shard=3, log=lambda _: None)
    cached = LatentCacheDataset(cache_dir=tmp_path / "cache", aspect_ratio_buckets="256")
    videos = lazycfg.instantiate(config.dataloader_train.dataset)
    assert len(set(cached.bucket_ids)) == 2
    for i in range(4):
        assert torch.equal(cached[i]["padding_mask"], videos[i]["padding_mask"])
        assert cached[i]["latents"].shape[-2:] == ((24, 40) if i % 2 == 0 else (40, 24))
    loader = build_dataloader(dataset=cached, batch_size=2, sampling="buckets")
    assert sorted(tuple(b["latents"].shape) for b in loader) == [
        (2, 16, 5, 24, 40),
        (2, 16, 5, 40, 24),
    ]
    with pytest.raises(CacheMismatchError, match="resolution.video_size: cache has '<missing>'"):
        LatentCacheDataset(cache_dir=tmp_path / "cache", video_size=(64, 64))


WAN_SMALL = [  # the Wan2.1 VAE architecture, narrow (random weights), in bf16 like the recipes
    "tokenizer=wan2pt1_tokenizer",
    "model.config.tokenizer.dim=8",
    "model.config.tokenizer.num_res_blocks=1",
    "model.config.tokenizer.dtype=bfloat16",
]


def test_same_loss_through_the_wan21_vae_within_its_bf16_tolerance(folder, tmp_path, monkeypatch):
    config = lazycfg.resolve(lazycfg.load(TINY, video_overrides(folder) + WAN_SMALL))
    build_cache(config, tmp_path / "wan_cache", samples_per_shard=4, log=lambda _: None)
    manifest = json.loads((tmp_path / "wan_cache" / "manifest.json").read_text())
    assert manifest["spec"]["tokenizer"]["kwargs"]["dim"] == 8
    from_video = run(video_overrides(folder) + WAN_SMALL, "wan_video", tmp_path, monkeypatch)
    cached = cache_overrides(tmp_path / "wan_cache") + WAN_SMALL
    from_cache = run(cached, "wan_cache", tmp_path, monkeypatch)
    # Per-clip (cache) vs batched (training) bf16 convolutions may round differently; measured on
    # CPU they agree exactly, the tolerance is bf16's.
    assert from_cache == pytest.approx(from_video, rel=4e-3)
    with pytest.raises(
        lazycfg.ConfigError, match="tokenizer.kwargs.dim: cache has 8, the run expects 16"
    ):
        check_cache_against_config(lazycfg.load(TINY, cached + ["model.config.tokenizer.dim=16"]))
