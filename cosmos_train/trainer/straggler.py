"""A cheap straggler monitor: all-gather each rank's mean step time and flag slow ranks.

Replaces Cosmos's CUPTI-based ``StragglerDetectorV2`` with one ``all_gather`` of a float every
``report_every`` steps.
"""

from __future__ import annotations

import logging
import statistics
import time

import torch

from cosmos_train.distributed.env import get_world_size, is_dist

__all__ = ["StragglerMonitor", "find_stragglers"]

log = logging.getLogger(__name__)


def find_stragglers(step_times: list[float], max_ratio: float) -> list[int]:
    """Ranks whose step time exceeds ``max_ratio`` times the median step time."""
    median = statistics.median(step_times)
    return [r for r, t in enumerate(step_times) if median > 0 and t > max_ratio * median]


class StragglerMonitor:
    """Flags ranks whose mean step time exceeds ``max_ratio`` times the median.

    Args:
        report_every: steps between all-gathers.
        max_ratio: a rank slower than ``max_ratio * median`` is a straggler.
        raise_after: raise ``RuntimeError`` after this many consecutive reports with stragglers
            (``None``: only log).
    """

    def __init__(
        self, *, report_every: int = 100, max_ratio: float = 2.0, raise_after: int | None = None
    ) -> None:
        if report_every < 1 or max_ratio <= 1.0:
            raise ValueError(
                f"StragglerMonitor: need report_every >= 1 and max_ratio > 1, got {report_every}, "
                f"{max_ratio}; in a config set trainer.straggler_detection.report_freq >= 1 and "
                "trainer.straggler_detection.max_diff > 1"
            )
        self.report_every, self.max_ratio, self.raise_after = (
            int(report_every),
            float(max_ratio),
            raise_after,
        )
        self._t = time.perf_counter()
        self._n = 0
        self._total = 0.0
        self._bad_reports = 0
        self.last_report: dict | None = None

    def step_start(self) -> None:
        self._t = time.perf_counter()

    def step_end(self, iteration: int, device: torch.device) -> dict | None:
        """Accumulates this step's time; every ``report_every`` steps returns a report (all
        ranks)."""
        self._total += time.perf_counter() - self._t
        self._n += 1
        if iteration % self.report_every:
            return None
        mean = self._total / max(self._n, 1)
        self._total, self._n = 0.0, 0
        times = [mean]
        if is_dist():
            buf = torch.zeros(get_world_size(), dtype=torch.float64, device=device)
            mine = torch.tensor([mean], dtype=torch.float64, device=device)
            torch.distributed.all_gather_into_tensor(buf, mine)
            times = buf.tolist()
        median = statistics.median(times)
        slow = find_stragglers(times, self.max_ratio)
        self.last_report = {
            "iteration": iteration,
            "step_times": times,
            "median": median,
            "stragglers": slow,
        }
        if slow:
            self._bad_reports += 1
            log.warning(
                "straggler ranks %s at iteration %d: step times %s (median %.4fs)",
                slow,
                iteration,
                times,
                median,
            )
            if self.raise_after is not None and self._bad_reports >= self.raise_after:
                raise RuntimeError(
                    f"ranks {slow} were stragglers in {self._bad_reports} consecutive reports: "
                    f"{self.last_report}"
                )
        else:
            self._bad_reports = 0
        return self.last_report
