"""Watchdog: fires without progress, stays quiet while kicked."""

from __future__ import annotations

import threading
import time

import pytest

from cosmos_train.trainer.watchdog import Watchdog


def test_fires_when_not_kicked():
    fired = threading.Event()
    messages = []
    wd = Watchdog(
        timeout_s=0.05, poll_s=0.01, on_timeout=lambda m: (messages.append(m), fired.set())
    ).start()
    wd.kick("iteration 7")
    assert fired.wait(5.0)
    wd.stop()
    assert wd.fired and "iteration 7" in messages[0] and "trainer.timeout_period" in messages[0]


def test_quiet_while_kicked_then_stopped():
    wd = Watchdog(timeout_s=0.5, poll_s=0.01, on_timeout=lambda m: None).start()
    for _ in range(5):
        wd.kick()
        time.sleep(0.01)
    wd.stop()
    assert not wd.fired


def test_first_period_is_longer_then_the_regular_one_applies():
    fired = threading.Event()
    messages = []
    wd = Watchdog(
        timeout_s=0.1,
        first_timeout_s=0.6,
        poll_s=0.01,
        on_timeout=lambda m: (messages.append(m), fired.set()),
    ).start()
    assert not fired.wait(0.3)  # past timeout_s, within the first period
    wd.kick("iteration 1")
    start = time.monotonic()
    assert fired.wait(5.0)
    wd.stop()
    assert time.monotonic() - start < 0.6 and "limit 0.1s" in messages[0]


def test_rejects_nonpositive_timeout():
    with pytest.raises(ValueError, match="timeout_s must be > 0.*trainer.timeout_period"):
        Watchdog(timeout_s=0)


_HANGING_CHILD = """
import sys, time
from cosmos_train.model.toy import toy_components
from cosmos_train.trainer.callbacks import Callback
from cosmos_train.trainer.trainer import Trainer

class Hang(Callback):
    def on_training_step_end(self, model, data_batch, output_batch, loss, iteration=0):
        if iteration == 2:
            time.sleep(60)  # a stuck step (e.g. a collective that never returns)

model, opt, sched, loader = toy_components()
Trainer(max_iter=5, job_dir=sys.argv[1], logging_iter=1, tensorboard=False, timeout_s=1.0,
        callbacks={"hang": Hang()}).fit(model, opt, sched, loader)
"""


def test_trainer_watchdog_ends_a_stuck_run_with_stacks(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from cosmos_train.trainer.watchdog import WATCHDOG_EXIT_CODE

    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _HANGING_CHILD, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert proc.returncode == WATCHDOG_EXIT_CODE, proc.stderr[-2000:]
    # The last progress mark is the end of step 2, before its step-end callbacks (where it hangs).
    assert "no training progress" in proc.stderr and "after 'iteration 2'" in proc.stderr
    assert "in on_training_step_end" in proc.stderr  # the stack dump shows where it hung


_STOP_EXPERIMENT = """
from lazycfg import L, load

from tests.cosmos_train.trainer._stop_rank import StopRankAt


def make_config():
    config = load({tiny!r})
    config.trainer.callbacks["stop"] = L(StopRankAt)(rank=1, iteration=3)
    return config
"""


@pytest.mark.slow
def test_a_stopped_rank_ends_the_two_rank_job(tmp_path):
    """Rank 1 SIGSTOPs itself; rank 0 blocks in DDP's all-reduce until its watchdog (5 s here)
    ends it, and torchrun then ends the job: minutes at most, not gloo's 30-minute timeout."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    experiment = tmp_path / "stop_rank.py"
    experiment.write_text(_STOP_EXPERIMENT.format(tiny=str(root / "experiments" / "tiny_cpu.py")))
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which(
        "torchrun"
    )
    env = dict(
        os.environ,
        IMAGINAIRE_OUTPUT_ROOT=str(tmp_path / "out"),
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(root),
    )
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node=2",
        str(root / "tools" / "train.py"),
        str(experiment),
        "trainer.timeout_period=5",
        "trainer.max_iter=1000",
        "trainer.run_validation=false",
        "~trainer.callbacks.every_n_sample_reg",
        "~trainer.callbacks.every_n_sample_ema",
        "job.name=stopped",
    ]
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=240)
    finally:
        pid_file = tmp_path / "out" / "cosmos_train" / "cpu" / "stopped" / "stopped_pid"
        stopped = int(pid_file.read_text()) if pid_file.is_file() else None
        if stopped is not None:
            try:  # never leave a stopped process behind, whatever happened
                os.kill(stopped, signal.SIGKILL)
                left_behind = True
            except ProcessLookupError:
                left_behind = False
    assert stopped is not None, proc.stderr[-3000:]
    assert proc.returncode != 0
    assert "watchdog: no training progress for" in proc.stderr and "limit 5s" in proc.stderr, (
        proc.stderr[-3000:]
    )
    assert not left_behind, "torchrun left the stopped rank running"
