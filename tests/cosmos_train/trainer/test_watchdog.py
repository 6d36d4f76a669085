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
    with pytest.raises(ValueError, match="timeout_s"):
        Watchdog(timeout_s=0)
