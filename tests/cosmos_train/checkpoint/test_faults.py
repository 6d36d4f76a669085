"""Fault injection on checkpoints: damaged files, bad pointers, garbage load paths, failed saves.

Each case damages a real checkpoint written by a real (toy) training run, then resumes or saves
and checks the contract: a damaged checkpoint is never trusted and never deleted, resume falls
back to the newest one that verifies (loudly), and anything unrecoverable is one
``CheckpointError`` naming the files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from cosmos_train.checkpoint.dcp import CheckpointError, CheckpointSaveError, DCPCheckpointer
from cosmos_train.checkpoint.verify import MANIFEST_FILE, verify_checkpoint
from cosmos_train.model.toy import toy_components
from cosmos_train.trainer.trainer import Trainer

ROOT = Path(__file__).resolve().parents[3]
KEYS = ("model", "optim", "scheduler", "trainer")
NEWEST, PREVIOUS = "iter_000000004", "iter_000000002"


def _fit(job: Path, max_iter: int, **ckpt_kwargs) -> Trainer:
    model, opt, sched, loader = toy_components(batch_size=2, dataset_length=10)
    trainer = Trainer(max_iter=max_iter, job_dir=job, logging_iter=1, tensorboard=False)
    trainer.fit(
        model,
        opt,
        sched,
        loader,
        checkpointer=DCPCheckpointer(job_dir=job, save_iter=2, **ckpt_kwargs),
    )
    return trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A job with checkpoints at iterations 2 and 4."""
    job = tmp_path_factory.mktemp("faults") / "job"
    _fit(job, max_iter=4)
    return job


@pytest.fixture
def job(trained, tmp_path) -> Path:
    copy = tmp_path / "job"
    shutil.copytree(trained, copy)
    return copy


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zero(path: Path) -> None:
    path.write_bytes(bytes(path.stat().st_size))


def _delete(path: Path) -> None:
    path.unlink()


def _resume(job: Path, **kwargs) -> tuple[DCPCheckpointer, int | None]:
    model, opt, sched, _ = toy_components(batch_size=2, dataset_length=10)
    ck = DCPCheckpointer(job_dir=job, **kwargs)
    return ck, ck.load(model, opt, sched)


FILES = [
    "model/__0_0.distcp",
    "optim/__0_0.distcp",
    "scheduler/__0_0.distcp",
    "trainer/__0_0.distcp",
    "model/.metadata",
    "optim/.metadata",
]
DAMAGE = {"truncate": _truncate, "zero": _zero, "delete": _delete}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("relative", FILES)
def test_damaged_latest_falls_back_to_the_previous_checkpoint(job, caplog, relative, damage):
    DAMAGE[damage](job / "checkpoints" / NEWEST / relative)
    with caplog.at_level(logging.WARNING, logger="cosmos_train.checkpoint.dcp"):
        ck, iteration = _resume(job)
    assert iteration == 2 and ck.loaded_from.name == PREVIOUS
    warning = caplog.text
    assert "CHECKPOINT FALLBACK" in warning and NEWEST in warning and relative in warning
    assert (job / "checkpoints" / NEWEST / "model").is_dir()  # kept for inspection
    assert ck.rejected == [job / "checkpoints" / NEWEST]


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_checkpoints_without_a_manifest_are_checked_against_dcp_metadata(job, damage):
    """Checkpoints written before manifests existed: .metadata must cover the data files."""
    for name in (NEWEST, PREVIOUS):
        (job / "checkpoints" / name / MANIFEST_FILE).unlink()
    assert verify_checkpoint(job / "checkpoints" / NEWEST, KEYS) == []
    DAMAGE[damage](job / "checkpoints" / NEWEST / "model" / "__0_0.distcp")
    problems = verify_checkpoint(job / "checkpoints" / NEWEST, KEYS)
    assert len(problems) == 1 and problems[0].startswith("model/__0_0.distcp")
    assert _resume(job)[1] == 2


def test_no_checkpoint_verifies_names_every_file(job):
    _zero(job / "checkpoints" / NEWEST / "model" / "__0_0.distcp")
    _truncate(job / "checkpoints" / PREVIOUS / "optim" / ".metadata")
    with pytest.raises(CheckpointError) as err:
        _resume(job)
    text = str(err.value)
    assert f"{NEWEST} does not verify: model/__0_0.distcp has a different checksum" in text
    assert f"{PREVIOUS} does not verify: optim/.metadata" in text
    assert "keys_not_to_resume" in text and "job.name=" in text
    assert (job / "checkpoints" / NEWEST).is_dir() and (job / "checkpoints" / PREVIOUS).is_dir()


def test_a_damaged_key_left_out_is_not_checked(job):
    _zero(job / "checkpoints" / NEWEST / "optim" / "__0_0.distcp")
    ck, iteration = _resume(job, keys_not_to_resume=["optim"])
    assert iteration == 4 and ck.loaded_from.name == NEWEST


@pytest.mark.parametrize(
    "pointer, message",
    [("", "is empty"), ("iter_000000099", "names 'iter_000000099'"), ("   \n", "is empty")],
    ids=["empty", "missing-dir", "blank"],
)
def test_a_bad_latest_pointer_falls_back_to_the_newest_checkpoint(job, caplog, pointer, message):
    (job / "checkpoints" / "latest_checkpoint.txt").write_text(pointer)
    with caplog.at_level(logging.WARNING, logger="cosmos_train.checkpoint.dcp"):
        ck, iteration = _resume(job)
    assert iteration == 4 and ck.loaded_from.name == NEWEST
    assert message in caplog.text


def test_resaving_over_a_damaged_checkpoint_keeps_it(job):
    """The fallback run saves iteration 4 again: the damaged one is renamed, never deleted."""
    _zero(job / "checkpoints" / NEWEST / "model" / "__0_0.distcp")
    _fit(job, max_iter=4)
    ckpts = job / "checkpoints"
    (kept,) = ckpts.glob(f"{NEWEST}.damaged-*")
    assert verify_checkpoint(kept, KEYS) != []
    assert verify_checkpoint(ckpts / NEWEST, KEYS) == []
    assert (ckpts / "latest_checkpoint.txt").read_text() == NEWEST


def _pt_random(path: Path) -> None:
    path.write_bytes(os.urandom(4096))


def _pt_truncated(path: Path) -> None:
    model, _, _, _ = toy_components()
    torch.save({f"net.{k}": v for k, v in model.net.state_dict().items()}, path)
    _truncate(path)


def _pt_not_a_state_dict(path: Path) -> None:
    torch.save([1, 2, 3], path)


def _pt_trainer_pickle(path: Path) -> None:
    torch.save({"iteration": 3, "optimizer": {"lr": 0.1}}, path)


@pytest.mark.parametrize(
    "write",
    [_pt_random, _pt_truncated, _pt_not_a_state_dict, _pt_trainer_pickle],
    ids=["random-bytes", "truncated", "a-list", "non-tensor-dict"],
)
def test_garbage_load_path_is_a_checkpoint_error(tmp_path, write):
    path = tmp_path / "weights.pt"
    write(path)
    with pytest.raises(
        CheckpointError, match=r"checkpoint\.load_path='.*weights\.pt' cannot be loaded: "
    ):
        _resume(tmp_path / "job", load_path=str(path))


def test_load_path_iter_dir_that_does_not_verify(job, tmp_path):
    _truncate(job / "checkpoints" / PREVIOUS / "model" / "__0_0.distcp")
    with pytest.raises(
        CheckpointError, match=r"does not verify: model/__0_0\.distcp has \d+ bytes"
    ):
        _resume(tmp_path / "other", load_path=str(job / "checkpoints" / PREVIOUS))


# ---- save failures ---------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import resource, sys
    from cosmos_train.checkpoint.dcp import DCPCheckpointer
    from cosmos_train.launch import run_cli
    from cosmos_train.model.toy import toy_components
    from cosmos_train.trainer.trainer import Trainer

    job, max_iter, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[4])
    async_mode = sys.argv[3] == "1"

    def body():
        model, opt, sched, loader = toy_components(batch_size=2, dataset_length=10)
        if limit:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        ckpt = DCPCheckpointer(job_dir=job, save_iter=2, async_mode=async_mode)
        Trainer(max_iter=max_iter, job_dir=job, logging_iter=1, tensorboard=False).fit(
            model, opt, sched, loader, checkpointer=ckpt)

    sys.exit(run_cli(body))
    """
)


def _child(
    job: Path, max_iter: int, *, async_mode: bool = False, limit: int = 0
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    args = [
        sys.executable,
        "-c",
        _CHILD,
        str(job),
        str(max_iter),
        "1" if async_mode else "0",
        str(limit),
    ]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("async_mode", [False, True], ids=["sync", "async"])
def test_file_size_limit_during_save(job, async_mode):
    """A full disk (RLIMIT_FSIZE below one data file): one error line, exit 2, iter 4 intact."""
    proc = _child(job, max_iter=6, async_mode=async_mode, limit=100_000)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    (line,) = _error_lines(proc.stderr)
    assert (
        "cannot save checkpoint iter_000000006" in line
        and "file-size limit of 100000 bytes" in line
    )
    assert f"the previous checkpoint {job / 'checkpoints' / NEWEST} is untouched" in line
    ckpts = job / "checkpoints"
    assert not [p for p in ckpts.iterdir() if ".tmp-" in p.name]
    assert (ckpts / "latest_checkpoint.txt").read_text() == NEWEST
    assert verify_checkpoint(ckpts / NEWEST, KEYS) == []
    assert _resume(job)[1] == 4


def test_async_failure_is_reported_at_the_next_step(job, monkeypatch):
    """A background write that fails surfaces at the next step's poll, not at exit."""
    from concurrent.futures import Future

    class FailingAsync(DCPCheckpointer):
        def _write_key(self, state, path):
            future: Future = Future()
            future.set_exception(OSError(28, "No space left on device"))
            return future

    model, opt, sched, loader = toy_components(batch_size=2, dataset_length=10)
    trainer = Trainer(max_iter=10, job_dir=job, logging_iter=1, tensorboard=False)
    with pytest.raises(
        CheckpointSaveError,
        match=r"cannot save checkpoint iter_000000006 .*No space left on device",
    ):
        trainer.fit(
            model,
            opt,
            sched,
            loader,
            checkpointer=FailingAsync(job_dir=job, save_iter=6, async_mode=True),
        )
    assert trainer.iteration == 6  # raised by the poll right after the save was started
    assert not [p for p in (job / "checkpoints").iterdir() if ".tmp-" in p.name]


def _chattr(flag: str, path: Path) -> bool:
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    return subprocess.run([chattr, flag, str(path)], capture_output=True).returncode == 0


def test_immutable_checkpoints_dir_fails_before_training(job):
    ckpts = job / "checkpoints"
    if not _chattr("+i", ckpts):
        pytest.skip("chattr +i is not available or not supported on this file system")
    try:
        proc = _child(job, max_iter=6)
    finally:
        _chattr("-i", ckpts)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line,) = _error_lines(proc.stderr)
    assert f"make {ckpts} writable" in line and "Traceback" not in proc.stderr
    assert not [
        r
        for r in map(json.loads, (job / "metrics.jsonl").read_text().splitlines())
        if r["iteration"] > 4
    ]
    assert _resume(job)[1] == 4


def test_checkpoints_is_a_regular_file(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    (job / "checkpoints").write_text("not a directory")
    proc = _child(job, max_iter=2)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line,) = _error_lines(proc.stderr)
    assert f"a file is in the way: {job / 'checkpoints'}" in line and "Traceback" not in proc.stderr
    assert not (job / "metrics.jsonl").exists()  # it stopped before training
