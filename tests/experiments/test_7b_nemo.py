"""experiments/7b_nemo.py: the nemo recipe with Cosmos's 7B size under the Predict2.5 changes."""

from __future__ import annotations

from pathlib import Path

import pytest

import lazycfg
from cosmos_train.configs.net import NET_KWARGS, PREDICT2_5_CHANGES

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

PATH = str(EXPERIMENTS / "7b_nemo.py")


@pytest.fixture(scope="module")
def cfg():
    return lazycfg.load(PATH)


def test_check_is_clean(cfg):
    assert [str(p) for p in lazycfg.check(cfg)] == []


def test_net_is_cosmos_7B_with_the_text_projection(cfg):
    net = {k: cfg.model.config.net[k] for k in cfg.model.config.net}
    expected = dict(NET_KWARGS["cosmos_v1_7B"], **PREDICT2_5_CHANGES)
    expected["rope_t_extrapolation_ratio"] = 2.0  # the 7B size keeps its temporal RoPE ratio
    assert net == expected


def test_net_on_meta_has_the_expected_parameter_count(cfg, meta_param_count):
    # cosmos_v1_7B (7,236,208,640) + the Reason1 projection Linear(100352 -> 1024) with bias.
    assert meta_param_count(cfg) == 7_236_208_640 + 100352 * 1024 + 1024


def test_short_cpu_run(run_experiment, nemo_overrides):
    # The experiment sets the net size after the (pinned) tiny net: shrink it back.
    tiny = [
        "model.config.net.model_channels=64",
        "model.config.net.num_blocks=2",
        "model.config.net.num_heads=4",
    ]
    out = run_experiment("7b_nemo.py", nemo_overrides + tiny)
    assert out["summary"]["iteration"] == 2
