"""A step watchdog: if no training step finishes within ``timeout_s``, dump stacks and act.

A thread instead of Cosmos's ``SIGALRM`` so it works off the main thread and on every OS. A
rank stuck in a collective cannot be interrupted from Python, so the default action is to dump
every thread's stack (to find the hang) and exit the process, letting ``torchrun`` tear down
the job instead of waiting for the 30-minute collective timeout.

The trainer kicks it after every step and around the long phases (checkpoint saves, validation,
the step-end callbacks that draw samples), so the period only has to cover the longest single
phase; the first period (compile, first validation) gets a longer allowance.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["Watchdog", "WATCHDOG_EXIT_CODE"]

log = logging.getLogger(__name__)

#: Exit status used when the watchdog ends the process (matches ``timeout(1)``).
WATCHDOG_EXIT_CODE = 124


class Watchdog:
    """Fires ``on_timeout`` when :meth:`kick` is not called for ``timeout_s`` seconds.

    Args:
        timeout_s: allowed seconds between kicks.
        first_timeout_s: allowed seconds from :meth:`start` to the first kick (the first step
            compiles and validates); defaults to ``timeout_s``.
        on_timeout: called with a message; default dumps stacks and ``os._exit(124)``.
        poll_s: how often the thread checks.
    """

    def __init__(
        self,
        *,
        timeout_s: float,
        first_timeout_s: float | None = None,
        on_timeout: Callable[[str], None] | None = None,
        poll_s: float | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(
                f"Watchdog: timeout_s must be > 0, got {timeout_s}; set "
                "trainer.timeout_period to a "
                "positive number of seconds"
            )
        self.timeout_s = float(timeout_s)
        self.first_timeout_s = float(first_timeout_s) if first_timeout_s else self.timeout_s
        self._period = self.first_timeout_s
        self.on_timeout = on_timeout or self._exit
        self.poll_s = poll_s if poll_s is not None else min(1.0, self.timeout_s / 4)
        self._last = time.monotonic()
        self._what = "start"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = False

    def start(self) -> Watchdog:
        self._last = time.monotonic()
        self._period = self.first_timeout_s
        self._thread = threading.Thread(target=self._run, name="cosmos-train-watchdog", daemon=True)
        self._thread.start()
        return self

    def kick(self, what: str = "") -> None:
        """Marks progress (cheap: one clock read)."""
        self._last = time.monotonic()
        self._what = what
        self._period = self.timeout_s

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            idle = time.monotonic() - self._last
            if idle > self._period:
                self.fired = True
                self.on_timeout(
                    f"watchdog: no training progress for {idle:.1f}s (limit {self._period:g}s) "
                    f"after {self._what!r}; a rank is probably stuck in a collective or the data "
                    "loader. If "
                    "steps, saves or samples are really this slow, raise trainer.timeout_period "
                    "(seconds; 0 turns the watchdog off)"
                )
                return

    @staticmethod
    def _exit(message: str) -> None:
        log.error(message)
        print(message, file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(WATCHDOG_EXIT_CODE)
