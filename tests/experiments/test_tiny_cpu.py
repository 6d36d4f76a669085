"""experiments/tiny_cpu.py: the CPU default (tiny DiT, stand-in tokenizer, synthetic moving
shapes)."""

from __future__ import annotations

from pathlib import Path

import pytest

import lazycfg

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

PATH = str(EXPERIMENTS / "tiny_cpu.py")

#: A few iterations of every cadence: log, validate, save and sample.
SHORT = [
    "trainer.max_iter=4",
    "trainer.logging_iter=2",
    "trainer.validation_iter=2",
    "checkpoint.save_iter=2",
    "trainer.callbacks.every_n_sample_reg.every_n=4",
    "trainer.callbacks.every_n_sample_ema.every_n=4",
    "trainer.callbacks.every_n_sample_reg.num_steps=2",
    "trainer.callbacks.every_n_sample_ema.num_steps=2",
]


@pytest.fixture(scope="module")
def cfg():
    return lazycfg.load(PATH)


def test_check_is_clean(cfg):
    assert [str(p) for p in lazycfg.check(cfg)] == []


def test_key_values(cfg):
    assert cfg.job.name == "tiny_cpu"  # fixed: a rerun resumes
    assert lazycfg.choices(cfg)["net"] == "tiny"
    assert lazycfg.choices(cfg)["tokenizer"] == "standin"
    assert cfg.model._target_ == "cosmos_train.model.video2world.Video2WorldModelRectifiedFlow"
    assert cfg.model.config.precision == "float32"
    assert cfg.model.config.state_t == 5
    assert (
        cfg.dataloader_train.dataset._target_ == "cosmos_train.data.synthetic.SyntheticVideoDataset"
    )
    assert cfg.dataloader_train.dataset.text_dim == cfg.model.config.net.crossattn_emb_channels
    assert cfg.trainer.max_iter == 2000
    assert cfg.scheduler.cycle_lengths == [2000]  # the lr decays over the whole run
    # Measured choices (docs/benchmarks.md): a 128-wide net, 80% of clips conditioned on frames.
    assert (cfg.model.config.net.model_channels, cfg.model.config.net.num_heads) == (128, 8)
    assert cfg.model.config.conditional_frames_probs == {0: 0.2, 1: 0.6, 2: 0.2}
    assert cfg.trainer.run_validation is True
    assert cfg.checkpoint.type is not None and cfg.checkpoint.save_iter == 1000
    cfg.validate(world_size=1)


def test_net_on_meta_has_the_widened_tiny_parameter_count(cfg, meta_param_count):
    assert meta_param_count(cfg) == 613_632


def test_short_run_logs_validates_saves_samples_and_resumes(run_experiment):
    out = run_experiment("tiny_cpu.py", SHORT)
    job = out["job_dir"]
    rows = out["rows"]
    train = [r for r in rows if r["split"] == "train"]
    val = [r for r in rows if r["split"] == "val"]
    assert [r["iteration"] for r in train] == [2, 4]
    assert {"loss", "lr", "grad_norm", "samples_per_s"} <= set(train[0])
    assert [r["iteration"] for r in val] == [0, 2, 4]
    assert (job / "checkpoints" / "latest_checkpoint.txt").read_text().strip() == "iter_000000004"
    assert sorted(p.name for p in (job / "samples").iterdir()) == [
        "iter_000000004_ema.mp4",
        "iter_000000004_reg.mp4",
    ]
    restored = lazycfg.load(str(job / "config.yaml"))
    assert restored.trainer.max_iter == 4 and restored.job.name == "tiny_cpu"

    # Running again with a later max_iter resumes from iteration 4 instead of starting over.
    again = run_experiment("tiny_cpu.py", SHORT[:1] and ["trainer.max_iter=6"] + SHORT[1:])
    train2 = [r for r in again["rows"] if r["split"] == "train"]
    assert [r["iteration"] for r in train2][-1] == 6
    assert again["summary"]["iteration"] == 6
    assert (job / "checkpoints" / "latest_checkpoint.txt").read_text().strip() == "iter_000000006"


def test_official_consolidated_weights_are_loaded_before_training(run_experiment, tmp_path):
    """checkpoint.load_path=<consolidated .pt>: the run starts from those weights (net and EMA)."""
    import torch

    from cosmos_train.checkpoint.consolidated import save_consolidated
    from cosmos_train.inference import load_run

    cfg = lazycfg.load(PATH)
    donor = lazycfg.instantiate(cfg.model, device="cpu", seed=123)
    with torch.no_grad():
        for p in donor.net.parameters():
            p.add_(0.5)
    official = tmp_path / "model.pt"
    save_consolidated(official, net=donor.net, net_ema=donor.net_ema, dtype=torch.float32)
    out = run_experiment(
        "tiny_cpu.py",
        [
            f"checkpoint.load_path={official}",
            "trainer.max_iter=1",
            "optimizer.lr=1e-12",
            "trainer.run_validation=false",
            "job.name=from_official",
            "~trainer.callbacks.every_n_sample_reg",
            "~trainer.callbacks.every_n_sample_ema",
        ],
    )
    _, trained = load_run(out["job_dir"], device="cpu")
    for (name, a), b in zip(trained.net.named_parameters(), donor.net.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
