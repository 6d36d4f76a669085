"""experiments/2b_nemo_lora.py: Cosmos's 2B LoRA recipe on the nemo assets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import lazycfg
from tests.experiments._values import assert_config_value

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

PATH = str(EXPERIMENTS / "2b_nemo_lora.py")


@pytest.fixture(scope="module")
def cfg():
    return lazycfg.load(PATH)


def test_check_is_clean(cfg):
    assert [str(p) for p in lazycfg.check(cfg)] == []


@pytest.mark.parametrize(
    "path, expected",
    [
        ("job.group", "lora"),
        ("job.name", "2b_cosmos_nemo_assets_lora"),
        ("model.config.use_lora", True),
        ("model.config.lora_rank", 32),
        ("model.config.lora_alpha", 32),
        (
            "model.config.lora_target_modules",
            "q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2",
        ),
        ("model.config.init_lora_weights", True),
        ("model.config.lora_allow_random_base", False),
        ("model.config.min_num_conditional_frames", 0),
        ("model.config.max_num_conditional_frames", 2),
        ("model.config.conditional_frames_probs", {0: 0.333, 1: 0.333, 2: 0.334}),
        ("model.config.conditional_frame_timestep", -1.0),
        ("model.config.conditioning_strategy", "frame_replace"),
        ("model.config.denoise_replace_gt_frames", True),
        ("optimizer.lr", 2 ** (-14.5)),
        ("optimizer.weight_decay", 0.001),
        ("scheduler.f_max", [0.5]),
        ("scheduler.f_min", [0.2]),
        ("scheduler.warm_up_steps", [2000]),
        ("scheduler.cycle_lengths", [100000]),
        ("trainer.max_iter", 1000),
        ("trainer.logging_iter", 100),
        ("checkpoint.save_iter", 200),
        ("checkpoint.load_path", "nvidia/Cosmos-Predict2.5-2B/base/pre-trained"),
        ("trainer.callbacks.every_n_sample_reg.every_n", 200),
        ("trainer.callbacks.every_n_sample_ema.every_n", 200),
        ("model_parallel.context_parallel_size", 1),
        ("dataloader_train.dataset.num_frames", 93),
        ("dataloader_train.dataset.video_size", (704, 1280)),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v else None,
)
def test_cosmos_recipe_values(cfg, path, expected):
    assert_config_value(cfg, path, expected)


def test_inherits_2b_nemo_and_adds_only_the_lora_recipe(cfg):
    parent = lazycfg.load(str(EXPERIMENTS / "2b_nemo.py"))
    changed = {str(entry).split("=")[0] for entry in lazycfg.diff(parent, cfg)}
    assert changed == {
        "job.group",
        "job.name",
        "model.config.use_lora",
        "model.config.conditional_frames_probs.0",
        "model.config.conditional_frames_probs.1",
        "model.config.conditional_frames_probs.2",
        "checkpoint.load_path",
    }  # rank/alpha/targets/init and the schedule already have Cosmos's recipe values as defaults
    assert lazycfg.choices(cfg) == lazycfg.choices(parent)


def test_net_on_meta_counts_adapters_as_trainable(cfg):
    """The released 2B (2,059,174,912 params) plus rank-32 adapters on q/k/v/o and the MLP."""
    from cosmos_train.model import lora

    net_cfg = cfg.model.config.net
    with torch.device("meta"):
        net = lazycfg.instantiate(net_cfg)
        wrapped = lora.inject_lora(net, lora.LoraSpec.from_config(cfg.model.config))
    d, text, r, blocks = (
        net_cfg.model_channels,
        net_cfg.crossattn_emb_channels,
        32,
        net_cfg.num_blocks,
    )
    per_block = (
        4 * r * (d + d)  # self-attention q, k, v, output
        + 2 * r * (d + d)
        + 2 * r * (text + d)  # cross-attention q, output; k, v from the text
        + 2 * r * (d + 4 * d)  # MLP layer1, layer2
    )
    count = lora.count_parameters(net)
    assert len(wrapped) == 10 * blocks
    assert count.frozen == 2_059_174_912
    assert count.trainable == blocks * per_block == 45_875_200


def test_needs_base_weights(tmp_path, monkeypatch, nemo_overrides):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    from cosmos_train.launch import launch

    with pytest.raises(lazycfg.ConfigError, match="checkpoint.load_path is empty"):
        launch(lazycfg.load(PATH, [*nemo_overrides, "checkpoint.load_path="]))


def test_short_cpu_run_on_a_tiny_nemo_folder(run_experiment, nemo_overrides, tmp_path):
    """The recipe end to end on a tiny net, from a base written for that net."""
    from cosmos_train.checkpoint.consolidated import save_consolidated

    net_cfg = lazycfg.load(PATH, nemo_overrides).model.config.net
    net = lazycfg.instantiate(net_cfg)
    net.init_weights()
    base = save_consolidated(tmp_path / "base.pt", net=net, dtype=None)
    out = run_experiment(
        "2b_nemo_lora.py",
        [
            *nemo_overrides,
            f"checkpoint.load_path={base}",
            "model.config.lora_rank=4",
            "model.config.lora_alpha=4",
        ],
    )
    assert out["summary"]["iteration"] == 2
    ckpt = out["job_dir"] / "checkpoints" / "iter_000000002"
    assert (ckpt / "model_info.json").is_file()
    train_rows = [r for r in out["rows"] if r.get("split") == "train"]
    assert [r["iteration"] for r in train_rows] == [1, 2] and all(r["loss"] > 0 for r in train_rows)
