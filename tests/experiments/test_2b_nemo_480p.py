"""experiments/2b_nemo_480p.py: the 2B recipe on one GPU at 480p (selective AC, block compile)."""

from __future__ import annotations

from pathlib import Path

import pytest

import lazycfg

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

PATH = str(EXPERIMENTS / "2b_nemo_480p.py")


@pytest.fixture(scope="module")
def cfg():
    return lazycfg.load(PATH)


def test_check_is_clean(cfg):
    assert [str(p) for p in lazycfg.check(cfg)] == []


def test_inherits_2b_nemo_and_changes_only_the_single_gpu_settings(cfg):
    parent = lazycfg.load(str(EXPERIMENTS / "2b_nemo.py"))
    changed = {str(entry).split("=")[0] for entry in lazycfg.diff(parent, cfg)}
    assert changed == {
        "job.name",
        "model.config.fsdp_shard_size",
        "model.config.resolution",
        "dataloader_train.dataset.video_size",
        "trainer.parallelism.activation_checkpointing",
        "trainer.parallelism.compile_blocks",
    }
    assert cfg.dataloader_train.dataset.video_size == (480, 832)
    assert cfg.model.config.fsdp_shard_size == 1
    cfg.validate(world_size=1)


def test_net_on_meta_has_the_released_parameter_count(cfg, meta_param_count):
    assert meta_param_count(cfg) == 2_059_174_912


def test_short_cpu_run(run_experiment, nemo_overrides):
    out = run_experiment("2b_nemo_480p.py", nemo_overrides)
    assert out["summary"]["iteration"] == 2
    assert out["config"].trainer.parallelism.compile_blocks is False  # overridden for CPU
