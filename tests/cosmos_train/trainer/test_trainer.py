"""Trainer loop: exact hook order and iteration numbers, accumulation, non-finite policy,
metrics."""

from __future__ import annotations

import json

import pytest
import torch

from cosmos_train.checkpoint.dcp import DCPCheckpointer
from cosmos_train.data.loader import build_dataloader
from cosmos_train.model.toy import ToyVideoDataset, toy_components
from cosmos_train.trainer.callbacks import Callback, EveryN, GradClip, RecordingCallback
from cosmos_train.trainer.trainer import NonFiniteError, Trainer


def _rows(job_dir, split):
    return [
        r
        for r in map(json.loads, (job_dir / "metrics.jsonl").read_text().splitlines())
        if r.get("split") == split
    ]


class _LogRecorder(EveryN):
    def __init__(self, every_n: int) -> None:
        super().__init__(every_n=every_n)
        self.iterations: list[int] = []

    def every_n_impl(self, model, data_batch, output_batch, loss, iteration: int) -> None:
        self.iterations.append(iteration)


def _expected_events(*, max_iter, accum, save_iter, val_iter, val_batches, ema):
    """The Cosmos hook sequence, written out from reference/trainer_spec.md §1.2."""
    ev = [("on_optimizer_init_start", None), ("on_optimizer_init_end", None), ("on_train_start", 0)]

    def validation(it):
        out = [("on_validation_start", it)]
        for _ in range(2 if ema else 1):
            out += [("on_validation_step_start", it), ("on_validation_step_end", it)] * val_batches
        return out + [("on_validation_end", it)]

    def save(it):
        return [
            ("on_save_checkpoint_start", it),
            ("on_save_checkpoint", None),
            ("on_save_checkpoint_end", it),
            ("on_save_checkpoint_success", it),
        ]

    ev += validation(0)
    for i in range(max_iter):  # i is the pre-increment iteration
        for micro in range(accum):
            ev += [
                ("on_before_dataloading", i),
                ("on_after_dataloading", i),
                ("on_training_step_start", i),
                ("on_training_step_batch_start", i),
                ("on_before_forward", i),
                ("on_after_forward", i),
                ("on_before_backward", i),
                ("on_after_backward", i),
            ]
            if micro == accum - 1:
                ev += [("on_before_optimizer_step", i), ("on_before_zero_grad", i)]
            ev += [("on_training_step_batch_end", i)]
        n = i + 1  # post-increment
        if n % save_iter == 0:
            ev += save(n)
        ev += [("on_training_step_end", n)]
        if n % val_iter == 0:
            ev += validation(n)
    if max_iter % save_iter:
        ev += save(max_iter)
    return ev + [("on_train_end", max_iter), ("on_app_end", None)]


def test_hook_order_and_iterations_exact(tmp_path):
    model, opt, sched, loader = toy_components(batch_size=2, dataset_length=8)
    val_loader = build_dataloader(
        dataset=ToyVideoDataset(length=4, seed=1), batch_size=2, shuffle=False
    )
    rec, logs = RecordingCallback(), _LogRecorder(every_n=2)
    trainer = Trainer(
        max_iter=10,
        job_dir=tmp_path,
        logging_iter=2,
        grad_accum_iter=2,
        run_validation=True,
        validation_iter=5,
        callbacks={"rec": rec, "logs": logs},
        tensorboard=False,
    )
    trainer.fit(
        model,
        opt,
        sched,
        loader,
        val_loader=val_loader,
        checkpointer=DCPCheckpointer(job_dir=tmp_path, save_iter=3),
    )
    expected = _expected_events(
        max_iter=10, accum=2, save_iter=3, val_iter=5, val_batches=2, ema=True
    )
    assert rec.events == expected
    assert logs.iterations == [2, 4, 6, 8, 10]
    assert [r["iteration"] for r in _rows(tmp_path, "train")] == [2, 4, 6, 8, 10]
    assert [r["iteration"] for r in _rows(tmp_path, "val")] == [0, 5, 10]
    saved = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert saved == [
        "iter_000000003",
        "iter_000000006",
        "iter_000000009",
        "iter_000000010",
        "latest_checkpoint.txt",
    ]
    assert sched.last_epoch == 10  # one scheduler step per optimizer step, not per micro-batch


def test_metrics_rows_have_required_fields(tmp_path):
    model, opt, sched, loader = toy_components(batch_size=2)
    trainer = Trainer(
        max_iter=4,
        job_dir=tmp_path,
        logging_iter=2,
        callbacks={"grad_clip": GradClip(clip_norm=0.5)},
        tensorboard=False,
    )
    trainer.fit(model, opt, sched, loader)
    rows = _rows(tmp_path, "train")
    assert len(rows) == 2
    for row in rows:
        assert {"iteration", "loss", "lr", "grad_norm", "samples_per_s"} <= row.keys()
        assert row["grad_norm"] > 0 and row["samples_per_s"] > 0
    assert rows[-1]["lr"] == pytest.approx(1e-3 * min(1.0, 5 / 5))


@pytest.mark.parametrize("steps", [1, 3], ids=["one-step", "three-steps"])
def test_accumulating_two_batches_of_one_equals_one_batch_of_two(tmp_path, steps):
    def run(batch_size, accum, job):
        model, opt, sched, loader = toy_components(
            batch_size=batch_size, dataset_length=12, shuffle=True
        )
        trainer = Trainer(
            max_iter=steps,
            job_dir=tmp_path / job,
            logging_iter=1,
            grad_accum_iter=accum,
            tensorboard=False,
            callbacks={"grad_clip": GradClip(clip_norm=None)},
        )
        trainer.fit(model, opt, sched, loader)
        return model, _rows(tmp_path / job, "train")

    big, big_rows = run(2, 1, "big")
    acc, acc_rows = run(1, 2, "acc")
    for (name, a), b in zip(big.net.named_parameters(), acc.net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    for ra, rb in zip(big_rows, acc_rows):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-6)
        assert ra["grad_norm"] == pytest.approx(rb["grad_norm"], rel=1e-5)


def test_nonfinite_raise_names_the_iteration(tmp_path):
    model, opt, sched, loader = toy_components(nonfinite_at=(2,))
    trainer = Trainer(
        max_iter=5, job_dir=tmp_path, logging_iter=1, nonfinite="raise", tensorboard=False
    )
    with pytest.raises(
        NonFiniteError,
        match=r"iteration 2: loss=nan.*trainer\.nonfinite='raise' stopped the run.*optimizer\.lr"
        r".*trainer\.callbacks\.grad_clip\.clip_norm.*trainer\.nonfinite='skip'",
    ):
        trainer.fit(model, opt, sched, loader)


class _Snapshots(Callback):
    """Copies net and EMA weights after every optimizer step."""

    def __init__(self) -> None:
        self.net: dict[int, list[torch.Tensor]] = {}
        self.ema: dict[int, list[torch.Tensor]] = {}

    def on_training_step_end(
        self, model, data_batch, output_batch, loss, iteration: int = 0
    ) -> None:
        self.net[iteration] = [p.detach().clone() for p in model.net.parameters()]
        self.ema[iteration] = [p.detach().clone() for p in model.net_ema.parameters()]


def test_nonfinite_skip_does_not_step_optimizer_scheduler_or_ema(tmp_path):
    model, opt, sched, loader = toy_components(nonfinite_at=(2,))
    snaps = _Snapshots()
    trainer = Trainer(
        max_iter=5,
        job_dir=tmp_path,
        logging_iter=1,
        nonfinite="skip",
        tensorboard=False,
        callbacks={"snaps": snaps},
    )
    summary = trainer.fit(model, opt, sched, loader)
    assert summary["skipped_steps"] == 1 and summary["iteration"] == 5
    # Iteration 2 (0-based) is the third step: weights after it equal those after the second.
    for a, b in zip(snaps.net[2], snaps.net[3]):
        assert torch.equal(a, b)
    for a, b in zip(snaps.ema[2], snaps.ema[3]):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(snaps.net[3], snaps.net[4]))
    assert all(torch.isfinite(p).all() for p in model.net.parameters())
    assert sched.last_epoch == 4
    assert opt.state[next(iter(model.net.parameters()))]["step"].item() == 4
    skipped = [r for r in _rows(tmp_path, "train") if r.get("skipped_nonfinite")]
    assert [r["iteration"] for r in skipped] == [3]


def test_validation_is_deterministic_and_logs_regular_and_ema(tmp_path):
    model, opt, sched, loader = toy_components()
    val_loader = build_dataloader(
        dataset=ToyVideoDataset(length=4, seed=1), batch_size=2, shuffle=False
    )
    trainer = Trainer(
        max_iter=2,
        job_dir=tmp_path,
        logging_iter=1,
        run_validation=True,
        validation_iter=2,
        tensorboard=False,
    )
    trainer.fit(model, opt, sched, loader, val_loader=val_loader)
    again = trainer.validate(val_loader)
    rows = _rows(tmp_path, "val")
    assert [r["iteration"] for r in rows] == [0, 2, 2]
    assert (
        rows[1]["val_loss"] == again["val_loss"]
        and rows[1]["val_loss_ema"] == again["val_loss_ema"]
    )
    assert rows[0]["val_loss"] == rows[0]["val_loss_ema"]  # the EMA starts as a copy of the net
    assert rows[1]["val_loss"] != rows[1]["val_loss_ema"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"nonfinite": "zero"},
            r"trainer\.nonfinite='zero' is not a policy; set trainer\.nonfinite='raise' .* or "
            r"'skip'",
        ),
        ({"grad_accum_iter": 0}, r"trainer\.grad_accum_iter must be >= 1"),
        ({"logging_iter": 0}, r"trainer\.logging_iter must be >= 1"),
        (
            {"distributed_parallelism": "tp"},
            r"trainer\.distributed_parallelism must be one of .*'tp'",
        ),
        ({"job_dir": None}, r"needs job_dir.*job\.path_local.*set job\.name"),
        ({"job_dir": ""}, r"needs job_dir.*job\.path_local.*set job\.name"),
    ],
    ids=[
        "nonfinite",
        "grad_accum_iter",
        "logging_iter",
        "parallelism",
        "job_dir-none",
        "job_dir-empty",
    ],
)
def test_bad_arguments_name_the_config_path(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Trainer(**{"max_iter": 1, "job_dir": tmp_path, **kwargs})


def test_fit_without_train_loader_names_dataloader_train(tmp_path):
    model, opt, sched, _ = toy_components()
    with pytest.raises(ValueError, match="dataloader_train"):
        Trainer(max_iter=1, job_dir=tmp_path, tensorboard=False).fit(model, opt, sched, None)


def test_seeds_differ_per_rank_offset(tmp_path):
    """The trainer seeds seed + rank; with rank 0 the global RNG is the plain seed."""
    model, opt, sched, loader = toy_components()
    trainer = Trainer(max_iter=0, job_dir=tmp_path, seed=123, tensorboard=False, logging_iter=1)
    trainer.fit(model, opt, sched, loader)
    draw = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(draw, torch.rand(3))


def test_validation_with_max_val_iter_sees_the_same_batches_every_time(tmp_path):
    model, opt, sched, loader = toy_components()
    val_loader = build_dataloader(
        dataset=ToyVideoDataset(length=6, seed=1), batch_size=2, shuffle=True
    )
    seen: list[list[int]] = []

    class _Ids(Callback):
        def on_validation_step_start(self, model, data_batch, iteration=0):
            seen.append(data_batch["sample_idx"].tolist())

    trainer = Trainer(
        max_iter=0,
        job_dir=tmp_path,
        logging_iter=1,
        tensorboard=False,
        max_val_iter=1,
        run_validation=True,
        callbacks={"ids": _Ids()},
    )
    trainer.fit(model, opt, sched, loader, val_loader=val_loader)
    first = trainer.validate(val_loader)
    second = trainer.validate(val_loader)
    assert first["val_loss"] == second["val_loss"]
    assert len(seen) == 6 and all(ids == seen[0] for ids in seen)  # 3 validations x (regular, EMA)
