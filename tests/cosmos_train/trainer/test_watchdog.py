"""Watchdog: fires without progress, stays quiet while kicked."""

from __future__ import annotations

import threading
import time

import pytest

from cosmos_train.trainer.watchdog import Watchdog


def test_fires_when_not_kicked():
    fired = threading.Event()
    messages = []
    wd = Watchdog(timeout_s=0.05, poll_s=0.01, on_timeout=lambda m: (messages.append(m), fired.set())).start()
    wd.kick("iteration 7")
    assert fired.wait(5.0)
    wd.stop()
    assert wd.fired and "iteration 7" in messages[0] and "timeout_s" in messages[0]


def test_quiet_while_kicked_then_stopped():
    wd = Watchdog(timeout_s=0.5, poll_s=0.01, on_timeout=lambda m: None).start()
    for _ in range(5):
        wd.kick()
        time.sleep(0.01)
    wd.stop()
    assert not wd.fired


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
    proc = subprocess.run([sys.executable, "-c", _HANGING_CHILD, str(tmp_path)], env=env, capture_output=True, text=True, timeout=50)
    assert proc.returncode == WATCHDOG_EXIT_CODE, proc.stderr[-2000:]
    assert "no training progress" in proc.stderr and "after 'iteration 1'" in proc.stderr
    assert "in on_training_step_end" in proc.stderr  # the stack dump shows where it hung
