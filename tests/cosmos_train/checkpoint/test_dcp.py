"""DCP checkpoints: layout, exact resume, resume priority, strict checks, async, atomicity,
export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from cosmos_train.checkpoint.dcp import (
    CheckpointError,
    DCPCheckpointer,
    disallowed_config_changes,
    latest_checkpoint,
)
from cosmos_train.model.toy import toy_components
from cosmos_train.trainer.callbacks import GradClip
from cosmos_train.trainer.trainer import Trainer

ROOT = Path(__file__).resolve().parents[3]


def _train(job, max_iter, save_iter=100, ckpt_kwargs=None, **model_kwargs):
    model, opt, sched, loader = toy_components(batch_size=2, dataset_length=10, **model_kwargs)
    trainer = Trainer(
        max_iter=max_iter,
        job_dir=job,
        logging_iter=1,
        tensorboard=False,
        callbacks={"clip": GradClip(clip_norm=1.0)},
    )
    ckpt = DCPCheckpointer(job_dir=job, save_iter=save_iter, **(ckpt_kwargs or {}))
    trainer.fit(model, opt, sched, loader, checkpointer=ckpt)
    return model, opt, sched, trainer


def _losses(job):
    return [
        r["loss"]
        for r in map(json.loads, (Path(job) / "metrics.jsonl").read_text().splitlines())
        if r.get("split") == "train"
    ]


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_layout_latest_and_trainer_state(tmp_path):
    _train(tmp_path, max_iter=4, save_iter=2)
    ckpts = tmp_path / "checkpoints"
    assert (ckpts / "latest_checkpoint.txt").read_text() == "iter_000000004"
    for it in ("iter_000000002", "iter_000000004"):
        for key in ("model", "optim", "scheduler", "trainer"):
            assert (ckpts / it / key / ".metadata").is_file(), (it, key)
    assert latest_checkpoint(ckpts) == ckpts / "iter_000000004"
    assert not [p for p in ckpts.iterdir() if ".tmp-" in p.name]


def test_exact_resume_six_equals_three_plus_three(tmp_path):
    full_model, full_opt, _, _ = _train(tmp_path / "full", max_iter=6)
    _train(tmp_path / "split", max_iter=3, save_iter=3)
    split_model, split_opt, split_sched, trainer = _train(
        tmp_path / "split", max_iter=6, save_iter=3
    )
    assert _losses(tmp_path / "full") == _losses(tmp_path / "split")  # identical floats, not approx
    _assert_same_state(full_model, split_model)
    assert split_sched.last_epoch == 6 and trainer.iteration == 6
    p = next(iter(split_model.net.parameters()))
    assert torch.equal(
        full_opt.state[next(iter(full_model.net.parameters()))]["exp_avg"],
        split_opt.state[p]["exp_avg"],
    )


def test_keep_last_k(tmp_path):
    _train(tmp_path, max_iter=5, save_iter=1, ckpt_kwargs={"keep_last_k": 2})
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "iter_000000004",
        "iter_000000005",
        "latest_checkpoint.txt",
    ]


def _fresh(**model_kwargs):
    model, opt, sched, _ = toy_components(**model_kwargs)
    return model, opt, sched


def test_load_path_model_only_then_training_state_then_scheduler_only(tmp_path):
    src_model, _, _, _ = _train(tmp_path / "src", max_iter=2, save_iter=2)
    path = str(tmp_path / "src" / "checkpoints" / "iter_000000002")

    model, opt, sched = _fresh()
    it = DCPCheckpointer(job_dir=tmp_path / "a", load_path=path).load(model, opt, sched)
    assert it == 0
    _assert_same_state(src_model, model)
    assert not opt.state and sched.last_epoch == 0

    model, opt, sched = _fresh()
    it = DCPCheckpointer(job_dir=tmp_path / "b", load_path=path, load_training_state=True).load(
        model, opt, sched
    )
    assert it == 2 and sched.last_epoch == 2
    assert opt.state[next(iter(model.net.parameters()))]["step"].item() == 2

    model, opt, sched = _fresh()
    it = DCPCheckpointer(
        job_dir=tmp_path / "c", load_path=path, only_load_scheduler_state=True
    ).load(model, opt, sched)
    assert it == 0 and sched.last_epoch == 2 and not opt.state

    # A checkpoints directory resolves to its latest checkpoint.
    model, opt, sched = _fresh()
    DCPCheckpointer(job_dir=tmp_path / "d", load_path=str(tmp_path / "src" / "checkpoints")).load(
        model, opt, sched
    )
    _assert_same_state(src_model, model)


def test_own_latest_beats_load_path_and_keys_not_to_resume(tmp_path):
    _train(tmp_path / "other", max_iter=1, save_iter=1)
    _train(tmp_path / "job", max_iter=3, save_iter=3)
    model, opt, sched = _fresh()
    ckpt = DCPCheckpointer(
        job_dir=tmp_path / "job",
        load_path=str(tmp_path / "other" / "checkpoints"),
        keys_not_to_resume=("optim",),
    )
    assert ckpt.load(model, opt, sched) == 3
    assert ckpt.loaded_from == tmp_path / "job" / "checkpoints" / "iter_000000003"
    assert not opt.state and sched.last_epoch == 3


def test_fresh_start_returns_none(tmp_path):
    model, opt, sched = _fresh()
    assert DCPCheckpointer(job_dir=tmp_path).load(model, opt, sched) is None


def test_strict_resume_fails_with_diff_and_non_strict_loads_matching(tmp_path):
    _train(tmp_path / "src", max_iter=1, save_iter=1)
    path = str(tmp_path / "src" / "checkpoints" / "iter_000000001")
    model, opt, sched = _fresh(num_blocks=3, dim=32)
    with pytest.raises(CheckpointError) as err:
        DCPCheckpointer(job_dir=tmp_path / "a", load_path=path).load(model, opt, sched)
    assert "missing in checkpoint" in str(err.value) and "net.blocks.2.qkv.weight" in str(err.value)
    for advice in (
        "checkpoint.strict_resume=False",
        "checkpoint.keys_not_to_resume=['model']",
        "checkpoint.load_path",
    ):
        assert advice in str(err.value)

    model, opt, sched = _fresh(dim=16, num_heads=2)
    with pytest.raises(
        CheckpointError,
        match=r"shape mismatch[\s\S]*net.x_embedder.weight: "
        r"checkpoint \(32, 4\) vs model \(16, 4\)",
    ):
        DCPCheckpointer(job_dir=tmp_path / "b", load_path=path).load(model, opt, sched)

    model, opt, sched = _fresh(num_blocks=3)
    before = model.net.blocks[2].qkv.weight.detach().clone()
    DCPCheckpointer(job_dir=tmp_path / "c", load_path=path, strict_resume=False).load(
        model, opt, sched
    )
    src, _, _ = _fresh()
    DCPCheckpointer(job_dir=tmp_path / "d", load_path=path).load(src, None, None)
    assert torch.equal(model.net.blocks[0].qkv.weight, src.net.blocks[0].qkv.weight)
    assert torch.equal(model.net.blocks[2].qkv.weight, before)


def _break_latest(job):
    """The pointer names a missing directory and no other checkpoint exists to fall back to."""
    import shutil

    shutil.rmtree(job / "checkpoints" / "iter_000000001")
    (job / "checkpoints" / "latest_checkpoint.txt").write_text("iter_000000099")


def _drop_scheduler(job):
    (job / "checkpoints" / "iter_000000001" / "scheduler" / ".metadata").unlink()


@pytest.mark.parametrize(
    "kwargs, damage, message",
    [
        (
            {"load_path": "missing/model.pt"},
            None,
            r"checkpoint\.load_path='missing/model\.pt' does not exist",
        ),
        (
            {"load_path": "missing/dir"},
            None,
            r"checkpoint\.load_path='missing/dir' is not a checkpoint "
            r"directory.*checkpoint\.load_path=''",
        ),
        ({}, _break_latest, r"names 'iter_000000099'[\s\S]*no iter_\* checkpoint[\s\S]*job\.name="),
        (
            {},
            _drop_scheduler,
            r"scheduler/\.metadata is "
            r"missing[\s\S]*checkpoint\.load_path[\s\S]*checkpoint\.keys_not_to_resume",
        ),
    ],
    ids=["missing-pt", "not-a-checkpoint-dir", "latest-names-missing-dir", "incomplete-key"],
)
def test_load_errors_name_the_config_path_to_change(tmp_path, kwargs, damage, message):
    job = tmp_path / "job"
    if damage is not None:
        _train(job, max_iter=1, save_iter=1)
        damage(job)
    model, opt, sched = _fresh()
    with pytest.raises(CheckpointError, match=message):
        DCPCheckpointer(job_dir=job, **kwargs).load(model, opt, sched)


@pytest.mark.parametrize("job_dir", [None, "", "  "], ids=["none", "empty", "blank"])
def test_missing_job_dir_names_job_path_local(job_dir):
    with pytest.raises(ValueError, match=r"needs job_dir.*job\.path_local.*job\.name"):
        DCPCheckpointer(job_dir=job_dir)


def test_async_save_snapshots_state_at_save_time(tmp_path):
    model, opt, sched, loader = toy_components()
    ckpt = DCPCheckpointer(job_dir=tmp_path, save_iter=1, async_mode=True)
    ckpt.save(model, opt, sched, 1)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # training continues while the background write runs
    ckpt.finalize()
    assert (tmp_path / "checkpoints" / "latest_checkpoint.txt").read_text() == "iter_000000001"
    fresh, _, _ = _fresh()
    DCPCheckpointer(job_dir=tmp_path).load(fresh, None, None)
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, expected[key]), key


def _config(lr=1e-3, name="run", max_iter=3):
    from lazycfg import L

    return {
        "job": {"name": name},
        "optimizer": L("torch.optim.AdamW")(lr=lr),
        "trainer": {"max_iter": max_iter},
    }


def test_config_saved_with_checkpoint_and_compared_on_resume(tmp_path):
    from cosmos_train.checkpoint.dcp import ConfigChangedError

    _train(tmp_path, max_iter=1, save_iter=1, ckpt_kwargs={"config": _config()})
    assert (tmp_path / "checkpoints" / "iter_000000001" / "config.yaml").is_file()

    model, opt, sched = _fresh()
    # job.* and max_iter may change.
    assert (
        DCPCheckpointer(job_dir=tmp_path, config=_config(name="renamed", max_iter=9)).load(
            model, opt, sched
        )
        == 1
    )
    with pytest.raises(ConfigChangedError, match=r"optimizer.lr=0.1[\s\S]*allowed_config_changes"):
        DCPCheckpointer(job_dir=tmp_path, config=_config(lr=0.1)).load(model, opt, sched)
    allowed = ("optimizer.lr",)
    assert (
        DCPCheckpointer(
            job_dir=tmp_path, config=_config(lr=0.1), allowed_config_changes=allowed
        ).load(model, opt, sched)
        == 1
    )
    (tmp_path / "checkpoints" / "iter_000000001" / "config.yaml").write_text(
        "not: a lazycfg file\n"
    )
    with pytest.raises(
        ConfigChangedError,
        match=r"cannot read the config saved with .*allowed_config_changes=\['\*'\]",
    ):
        DCPCheckpointer(job_dir=tmp_path, config=_config()).load(model, opt, sched)
    assert (
        DCPCheckpointer(job_dir=tmp_path, config=_config(), allowed_config_changes=("*",)).load(
            model, opt, sched
        )
        == 1
    )


class _Entry:
    def __init__(self, line):
        self.line = line

    def __str__(self):
        return self.line


@pytest.mark.parametrize(
    "line,allowed",
    [
        ("job.name=other", True),
        ("trainer.max_iter=20", True),
        ("checkpoint.save_iter=5", True),
        ("trainer.callbacks.draw.every_n=7", True),
        ("optimizer.lr=0.1", False),
        ("+model.config.net.num_blocks=3", False),
        ("~trainer.callbacks.grad_clip", False),
    ],
    ids=["job", "max_iter", "save_iter", "callback-cadence", "lr", "added-key", "removed-callback"],
)
def test_allowed_config_changes(line, allowed):
    from cosmos_train.checkpoint.dcp import DEFAULT_ALLOWED_CONFIG_CHANGES

    assert (
        disallowed_config_changes([_Entry(line)], DEFAULT_ALLOWED_CONFIG_CHANGES) == []
    ) == allowed


_KILL_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from cosmos_train.checkpoint.dcp import DCPCheckpointer
    from cosmos_train.model.toy import toy_components
    from cosmos_train.trainer.trainer import Trainer

    class KillDuringSecondSave(DCPCheckpointer):
        def _write_key(self, state, path):
            out = super()._write_key(state, path)
            if path.parent.name.startswith("iter_000000004") and path.name == "optim":
                # Model and optim written, scheduler/trainer not.
                os.kill(os.getpid(), signal.SIGKILL)
            return out

    job = sys.argv[1]
    model, opt, sched, loader = toy_components(batch_size=2, dataset_length=10)
    Trainer(max_iter=6, job_dir=job, logging_iter=1, tensorboard=False).fit(
        model, opt, sched, loader, checkpointer=KillDuringSecondSave(job_dir=job, save_iter=2))
    """
)


def test_sigkill_during_save_leaves_previous_checkpoint_loadable(tmp_path):
    job = tmp_path / "job"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_CHILD, str(job)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    ckpts = job / "checkpoints"
    assert (ckpts / "latest_checkpoint.txt").read_text() == "iter_000000002"
    stale = [p for p in ckpts.iterdir() if ".tmp-" in p.name]
    assert len(stale) == 1 and (stale[0] / "model" / ".metadata").is_file()
    assert not (ckpts / "iter_000000004").exists()

    # A fresh process resumes from iteration 2, removes the stale directory and trains on.
    model, opt, sched, loader = toy_components(batch_size=2, dataset_length=10)
    trainer = Trainer(max_iter=4, job_dir=job, logging_iter=1, tensorboard=False)
    trainer.fit(model, opt, sched, loader, checkpointer=DCPCheckpointer(job_dir=job, save_iter=2))
    assert not [p for p in ckpts.iterdir() if ".tmp-" in p.name]
    assert (ckpts / "latest_checkpoint.txt").read_text() == "iter_000000004"
    rows = [
        r
        for r in map(json.loads, (job / "metrics.jsonl").read_text().splitlines())
        if r.get("split") == "train"
    ]
    # The killed run logged 1..3 and died saving 4; the resumed run repeats 3 exactly, then 4.
    assert [r["iteration"] for r in rows] == [1, 2, 3, 3, 4]
    assert rows[2]["loss"] == rows[3]["loss"]
