"""experiments/14b_nemo.py: the nemo recipe with the released Predict2.5-14B net."""

from __future__ import annotations

from pathlib import Path

import pytest

import lazycfg
from cosmos_train.configs.net import NET_KWARGS

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

PATH = str(EXPERIMENTS / "14b_nemo.py")


@pytest.fixture(scope="module")
def cfg():
    return lazycfg.load(PATH)


def test_check_is_clean(cfg):
    assert [str(p) for p in lazycfg.check(cfg)] == []


def test_net_equals_the_predict2_5_14B_preset(cfg):
    net = cfg.model.config.net
    assert {k: net[k] for k in net} == NET_KWARGS["predict2_5_14B"]
    assert cfg.job.name == "14b_cosmos_nemo_assets"
    assert cfg.model.config.fsdp_shard_size == 8


def test_same_as_pinning_the_14B_net_on_2b_nemo(cfg):
    pinned = lazycfg.load(
        str(EXPERIMENTS / "2b_nemo.py"), ["net=cosmos_v1_14B", "job.name=14b_cosmos_nemo_assets"]
    )
    assert {k: pinned.model.config.net[k] for k in pinned.model.config.net} == {
        k: cfg.model.config.net[k] for k in cfg.model.config.net
    }


def test_net_on_meta_has_the_released_parameter_count(cfg, meta_param_count):
    assert meta_param_count(cfg) == 14_368_047_104


def test_short_cpu_run(run_experiment, nemo_overrides):
    # The experiment sets the net size after the (pinned) tiny net: shrink it back.
    tiny = [
        "model.config.net.model_channels=64",
        "model.config.net.num_blocks=2",
        "model.config.net.num_heads=4",
    ]
    out = run_experiment("14b_nemo.py", nemo_overrides + tiny)
    assert out["summary"]["iteration"] == 2
