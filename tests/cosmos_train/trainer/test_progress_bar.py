"""ProgressBar: a bar with loss/lr in a terminal, plain lines elsewhere, a summary, a finished-job
notice."""

from __future__ import annotations

import json
import logging
import re

import pytest

from cosmos_train.model.toy import toy_components
from cosmos_train.trainer.callbacks import ProgressBar, format_duration
from cosmos_train.trainer.trainer import Trainer


def _fit(tmp_path, *, mode: str, max_iter: int = 4, **kwargs):
    model, opt, sched, loader = toy_components()
    trainer = Trainer(
        max_iter=max_iter,
        job_dir=tmp_path,
        logging_iter=2,
        tensorboard=False,
        callbacks={"bar": ProgressBar(mode=mode)},
        **kwargs,
    )
    trainer.fit(
        model, opt, sched, loader, val_loader=loader if kwargs.get("run_validation") else None
    )
    return trainer


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cosmos_train.progress"]


def test_lines_mode_writes_one_plain_line_per_log_step_and_validation(tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO, logger="cosmos_train.progress")
    _fit(tmp_path, mode="lines", run_validation=True, validation_iter=4, max_val_iter=1)
    lines = _lines(caplog)
    steps = [line for line in lines if line.startswith("iter ")]
    assert len(steps) == 2
    for line, it in zip(steps, (2, 4)):
        assert re.fullmatch(
            rf"iter {it}/4  loss [0-9.e+-]+  lr [0-9.e+-]+  [0-9.]+ it/s  ETA \d+:\d\d", line
        ), line
    vals = [line for line in lines if line.startswith("validation at iter")]
    assert [v.split(":")[0] for v in vals] == ["validation at iter 0", "validation at iter 4"]
    assert "val_loss " in vals[-1]
    assert "\r" not in capsys.readouterr().err  # no bar redraws when not a terminal


def test_lines_carry_the_logged_loss_of_that_step(tmp_path, caplog):
    """Regression: the bar read ``last_logged`` before the trainer set it, so no loss was shown."""
    caplog.set_level(logging.INFO, logger="cosmos_train.progress")
    _fit(tmp_path, mode="lines")
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    shown = [
        float(re.search(r"loss (\S+)", line).group(1))
        for line in _lines(caplog)
        if line.startswith("iter ")
    ]
    assert shown == pytest.approx([r["loss"] for r in rows if r["split"] == "train"], rel=1e-3)


def test_bar_mode_shows_loss_and_keeps_rows_out_of_the_console(tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO, logger="cosmos_train.progress")
    _fit(tmp_path, mode="bar")
    err = capsys.readouterr().err
    assert "4/4" in err and "loss=" in err and "lr=" in err and "it/s" in err
    rows = [r for r in caplog.records if r.getMessage().startswith("iter ")]
    assert len(rows) == 2 and all(getattr(r, "console", True) is False for r in rows)  # file-only


def test_summary_names_losses_and_every_output(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="cosmos_train.progress")
    _fit(tmp_path, mode="lines")
    text = "\n".join(_lines(caplog))
    assert "training done: iteration 4/4 (4 this run) in " in text
    assert re.search(r"final train loss [0-9.e+-]+ \(iter 4\)", text)
    for what in ("config.yaml", "metrics.jsonl", "stdout.log"):
        assert str(tmp_path / what) in text
    assert "checkpoints: none saved" in text and "samples:     none written" in text


def test_a_finished_job_says_so_and_how_to_go_on(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="cosmos_train.progress")
    _fit(tmp_path, mode="lines")
    caplog.clear()
    model, opt, sched, loader = toy_components()
    trainer = Trainer(
        max_iter=4,
        job_dir=tmp_path,
        logging_iter=2,
        tensorboard=False,
        callbacks={"bar": ProgressBar(mode="lines")},
    )

    class _Done:  # a checkpointer whose latest checkpoint is at max_iter
        def load(self, model, optimizer, scheduler, trainer, callbacks):
            trainer.iteration = 4

        def should_save(self, iteration):
            return False

        should_save_final = should_save

        def poll(self, callbacks):
            pass

        finalize = poll

    trainer.fit(model, opt, sched, loader, checkpointer=_Done())
    text = "\n".join(_lines(caplog))
    assert f"job {tmp_path.name} is already complete" in text
    assert "trainer.max_iter=8" in text and f"job.name={tmp_path.name}_2" in text
    assert re.search(
        r"final train loss [0-9.e+-]+ \(iter 4\)", text
    )  # read back from metrics.jsonl


def test_bad_mode_names_the_choices():
    with pytest.raises(ValueError, match="mode='x'.*'auto', 'bar' or 'lines'"):
        ProgressBar(mode="x")


@pytest.mark.parametrize(
    "seconds, text", [(0, "0:00"), (61.4, "1:01"), (3725, "1:02:05"), (float("inf"), "?")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
