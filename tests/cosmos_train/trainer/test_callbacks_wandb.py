"""WandbLogger: the rows of metrics.jsonl go to W&B through a fake ``wandb`` module (W&B is not
reachable here)."""

from __future__ import annotations

import json
import logging
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

import lazycfg
from cosmos_train.trainer.callbacks import LoggedRowCallback, WandbLogger

ROOT = Path(__file__).resolve().parents[3]


class _FakeRun:
    def __init__(self, calls: list) -> None:
        self.calls = calls

    def log(self, values, step=None):
        self.calls.append(("log", step, dict(values)))

    def finish(self):
        self.calls.append(("finish",))


@pytest.fixture
def fake_wandb(monkeypatch):
    """Installs a ``wandb`` module that records init/log/finish; returns the call list."""
    calls: list = []
    module = types.ModuleType("wandb")

    def init(**kwargs):
        calls.append(("init", kwargs))
        return _FakeRun(calls)

    module.init = init
    monkeypatch.setitem(sys.modules, "wandb", module)
    return calls


class _AddsField(LoggedRowCallback):
    """Adds a field to the row after WandbLogger has seen it (order must not matter)."""

    def add_metrics(self, model, data_batch, metrics):
        metrics["late_field"] = 7


def _trainer(tmp_path, mode="offline"):
    job = SimpleNamespace(project="p", group="g", name="n", wandb_mode=mode)
    trainer = SimpleNamespace(
        config=SimpleNamespace(job=job, to_dict=lambda: {"job": {"name": "n"}}),
        job_dir=tmp_path,
        env=SimpleNamespace(is_main=True),
        pending_metrics={},
        val_history=[],
        is_log_step=lambda it: it % 2 == 0,
    )
    return trainer


def _drive(trainer, callbacks, iterations):
    """The trainer's hook order for ``iterations`` steps, a validation at the end, then train
    end."""
    for cb in callbacks:
        cb.on_train_start(None, 0)
    for it in range(iterations):
        for cb in callbacks:
            cb.on_training_step_start(None, {}, it)
        if trainer.is_log_step(it + 1):
            trainer.pending_metrics = {
                "iteration": it + 1,
                "split": "train",
                "loss": 0.5 / (it + 1),
            }
        for cb in callbacks:
            cb.on_training_step_end(None, {}, None, None, it + 1)
        if trainer.is_log_step(it + 1):
            trainer.pending_metrics = {}
    for cb in callbacks:
        cb.on_validation_start(None, None, iterations)
    trainer.val_history.append(
        {"iteration": iterations, "split": "val", "val_loss": 0.25, "val_loss_ema": 0.5}
    )
    for cb in callbacks:
        cb.on_train_end(None, iterations)


def test_logs_complete_train_rows_and_validation_rows_then_finishes(fake_wandb, tmp_path):
    trainer = _trainer(tmp_path)
    logger, late = WandbLogger(), _AddsField()
    logger.trainer = late.trainer = trainer
    _drive(trainer, [logger, late], iterations=4)
    init = fake_wandb[0]
    assert init[0] == "init"
    assert {k: init[1][k] for k in ("project", "group", "name", "mode", "dir")} == {
        "project": "p",
        "group": "g",
        "name": "n",
        "mode": "offline",
        "dir": str(tmp_path),
    }
    assert init[1]["config"] == {"job": {"name": "n"}}
    assert fake_wandb[1:] == [
        ("log", 2, {"train/loss": 0.25, "train/late_field": 7}),
        ("log", 4, {"train/loss": 0.125, "train/late_field": 7}),
        ("log", 4, {"val/val_loss": 0.25, "val/val_loss_ema": 0.5}),
        ("finish",),
    ]


@pytest.mark.parametrize(
    "job_mode, arg_mode, expected",
    [
        pytest.param("online", None, "online", id="from-job"),
        pytest.param("online", "offline", "offline", id="argument-wins"),
    ],
)
def test_mode_comes_from_the_job_unless_given(fake_wandb, tmp_path, job_mode, arg_mode, expected):
    logger = WandbLogger(mode=arg_mode)
    logger.trainer = _trainer(tmp_path, mode=job_mode)
    logger.on_train_start(None, 0)
    assert fake_wandb[0][1]["mode"] == expected


def test_disabled_mode_and_non_main_ranks_never_call_wandb(fake_wandb, tmp_path):
    disabled = WandbLogger()
    disabled.trainer = _trainer(tmp_path, mode="disabled")
    _drive(disabled.trainer, [disabled], iterations=2)
    other_rank = WandbLogger()
    other_rank.trainer = _trainer(tmp_path)
    other_rank.trainer.env.is_main = False
    _drive(other_rank.trainer, [other_rank], iterations=2)
    assert fake_wandb == []


def test_without_wandb_warns_once_and_does_nothing(monkeypatch, tmp_path, caplog):
    monkeypatch.setitem(sys.modules, "wandb", None)  # makes `import wandb` raise ImportError
    logger = WandbLogger()
    logger.trainer = _trainer(tmp_path)
    with caplog.at_level(logging.WARNING, logger="cosmos_train.trainer.callbacks"):
        _drive(logger.trainer, [logger], iterations=4)
    warnings = [r for r in caplog.records if "wandb" in r.getMessage()]
    assert len(warnings) == 1 and "not installed" in warnings[0].getMessage()
    assert logger.run is None


def test_bad_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="online, offline, disabled"):
        WandbLogger(mode="cloud")


def test_real_run_sends_the_rows_of_metrics_jsonl(fake_wandb, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    from cosmos_train.launch import launch

    overrides = [
        "trainer.max_iter=4",
        "trainer.logging_iter=2",
        "trainer.validation_iter=2",
        "checkpoint.save_iter=4",
        "trainer.callbacks.every_n_sample_reg.every_n=100",
        "trainer.callbacks.every_n_sample_ema.every_n=100",
        "job.wandb_mode=offline",
    ]
    config = lazycfg.load(str(ROOT / "experiments" / "tiny_cpu.py"), overrides)
    lazycfg.select(
        config, "callbacks", ["basic", "wandb"]
    )  # the registered option, as on the command line
    launch(config)
    rows = [
        json.loads(line)
        for line in (Path(config.job.path_local) / "metrics.jsonl").read_text().splitlines()
    ]
    expected = []
    for row in rows:
        prefix = row["split"]
        values = {
            f"{prefix}/{k}": v
            for k, v in row.items()
            if k not in ("iteration", "split") and isinstance(v, (int, float))
        }
        expected.append(("log", row["iteration"], values))
    assert [c for c in fake_wandb if c[0] == "log"] == expected
    assert (
        fake_wandb[0][0] == "init"
        and fake_wandb[0][1]["mode"] == "offline"
        and fake_wandb[-1] == ("finish",)
    )
