"""MetricsWriter: metrics.jsonl rows, rank-0 only, non-finite values; TensorBoard events when
installed."""

from __future__ import annotations

import json

import pytest

from cosmos_train.data.loader import build_dataloader
from cosmos_train.model.toy import ToyVideoDataset, toy_components
from cosmos_train.trainer.metrics import MetricsWriter
from cosmos_train.trainer.trainer import Trainer


def test_jsonl_rows_and_nonfinite_values(tmp_path):
    writer = MetricsWriter(tmp_path / "job", tensorboard=False)
    writer.write({"iteration": 1, "loss": float("nan"), "lr": 0.5})
    writer.close()
    writer.write(
        {"iteration": 2, "loss": float("inf")}
    )  # reopened after close (validate() after fit)
    writer.close()
    rows = [
        json.loads(line) for line in (tmp_path / "job" / "metrics.jsonl").read_text().splitlines()
    ]
    assert rows == [{"iteration": 1, "loss": "nan", "lr": 0.5}, {"iteration": 2, "loss": "inf"}]
    assert not (tmp_path / "job" / "tensorboard").exists()


def test_non_main_rank_writes_nothing(tmp_path):
    writer = MetricsWriter(tmp_path / "job", enabled=False)
    writer.write({"iteration": 1, "loss": 1.0})
    writer.close()
    assert not (tmp_path / "job").exists()


def _scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_trainer_writes_tensorboard_events_under_the_job_dir(tmp_path):
    pytest.importorskip("tensorboard")
    model, opt, sched, loader = toy_components(batch_size=2, dataset_length=8)
    val = build_dataloader(
        dataset=ToyVideoDataset(length=2, seed=1), batch_size=2, shuffle=False, rank=0, world_size=1
    )
    trainer = Trainer(
        max_iter=4, job_dir=tmp_path / "job", logging_iter=2, run_validation=True, validation_iter=4
    )
    trainer.fit(model, opt, sched, loader, val_loader=val)
    log_dir = tmp_path / "job" / "tensorboard"
    assert list(log_dir.glob("events.out.tfevents.*")), (
        "no TensorBoard event file under <job>/tensorboard"
    )
    scalars = _scalars(log_dir)
    rows = [
        json.loads(line) for line in (tmp_path / "job" / "metrics.jsonl").read_text().splitlines()
    ]
    train = [r for r in rows if r["split"] == "train"]
    assert [step for step, _ in scalars["train/loss"]] == [2, 4]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([r["loss"] for r in train])
    assert {"train/lr", "train/grad_norm", "val/val_loss", "val/val_loss_ema"} <= set(scalars)
    assert [step for step, _ in scalars["val/val_loss"]] == [0, 4]
    assert (
        "train/split" not in scalars and "train/iteration" not in scalars
    )  # strings and the step are not scalars
