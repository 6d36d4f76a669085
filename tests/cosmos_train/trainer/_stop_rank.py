"""A callback for the watchdog test: one rank SIGSTOPs itself mid-run (a hung node)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from cosmos_train.distributed.env import get_rank
from cosmos_train.trainer.callbacks import Callback


class StopRankAt(Callback):
    """At ``iteration``, rank ``rank`` writes its pid to ``<job>/stopped_pid`` and stops itself."""

    def __init__(self, *, rank: int, iteration: int) -> None:
        self.rank = rank
        self.iteration = iteration

    def on_training_step_end(
        self, model, data_batch, output_batch, loss, iteration: int = 0
    ) -> None:
        if iteration == self.iteration and get_rank() == self.rank:
            Path(self.trainer.job_dir, "stopped_pid").write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGSTOP)
