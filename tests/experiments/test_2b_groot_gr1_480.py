"""experiments/2b_groot_gr1_480.py: Cosmos's GR1 preset (432x768), from video and latents."""

from __future__ import annotations

from pathlib import Path

import pytest

import lazycfg

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

PATH = str(EXPERIMENTS / "2b_groot_gr1_480.py")


@pytest.fixture(scope="module")
def cfg():
    return lazycfg.load(PATH)


def test_check_is_clean(cfg):
    assert [str(p) for p in lazycfg.check(cfg)] == []


def test_inherits_2b_nemo_and_changes_only_the_gr1_settings(cfg):
    parent = lazycfg.load(str(EXPERIMENTS / "2b_nemo.py"))
    changed = {str(entry).split("=")[0] for entry in lazycfg.diff(parent, cfg)}
    assert changed == {
        "job.name",
        "model.config.resolution",
        "dataloader_train.dataset.video_size",
        "dataloader_train.dataset.dataset_dir",
        "scheduler.warm_up_steps.0",
    }
    cfg.validate(world_size=8)


@pytest.mark.parametrize(
    "path, expected",
    [
        ("job.name", "2b_groot_gr1_480"),
        ("model.config.resolution", "480"),
        ("model.config.state_t", 24),
        ("dataloader_train.dataset.dataset_dir", "datasets/benchmark_train/gr1"),
        ("dataloader_train.dataset.num_frames", 93),
        ("dataloader_train.dataset.video_size", (432, 768)),
        ("scheduler.warm_up_steps", [1000]),
        ("optimizer.lr", 2 ** (-14.5)),
        ("checkpoint.save_iter", 200),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v else None,
)
def test_cosmos_gr1_values(cfg, path, expected):
    value = cfg
    for part in path.split("."):
        value = getattr(value, part)
    assert value == expected


def test_432x768_is_the_480_resolution_16_9_bucket():
    from cosmos_train.data.buckets import bucket_size

    assert bucket_size("480", "16,9") == (432, 768)


def test_net_on_meta_has_the_released_parameter_count(cfg, meta_param_count):
    assert meta_param_count(cfg) == 2_059_174_912


def test_latent_cache_pin_keeps_the_clip_shape():
    cache = lazycfg.load(PATH, ["data_train=latent_cache"]).dataloader_train.dataset
    assert cache._target_ == "cosmos_train.data.latent_cache.LatentCacheDataset"
    assert (cache.num_frames, cache.video_size, cache.text_dim) == (93, (432, 768), 100352)


def test_short_cpu_runs_from_video_and_from_its_latent_cache(
    run_experiment, nemo_overrides, tmp_path
):
    from cosmos_train.data.latent_cache import build_cache

    out = run_experiment("2b_groot_gr1_480.py", nemo_overrides)
    assert out["summary"]["iteration"] == 2
    # The same tiny run from latents cached by the experiment's own tokenizer.
    cache = tmp_path / "gr1_latents"
    build_cache(
        lazycfg.resolve(lazycfg.load(PATH, nemo_overrides)),
        cache,
        samples_per_shard=1,
        log=lambda _: None,
    )
    cached = [o for o in nemo_overrides if not o.startswith("dataloader_train.dataset.dataset_dir")]
    cached += [
        "data_train=latent_cache",
        f"dataloader_train.dataset.cache_dir={cache}",
        "job.name=gr1_cached",
    ]
    out_cached = run_experiment("2b_groot_gr1_480.py", cached)
    assert out_cached["summary"]["iteration"] == 2
    assert tuple(out_cached["config"].dataloader_train.dataset.video_size) == (32, 32)
    assert out_cached["rows"] and all(
        r["loss"] > 0 for r in out_cached["rows"] if r.get("split") == "train"
    )
