"""Straggler monitor: ranks slower than k x median are flagged."""

from __future__ import annotations

import pytest
import torch

from cosmos_train.trainer.straggler import StragglerMonitor, find_stragglers


@pytest.mark.parametrize(
    "times,ratio,expected",
    [
        ([1.0, 1.0, 1.0, 1.0], 1.5, []),
        ([1.0, 1.1, 0.9, 3.0], 2.0, [3]),
        ([1.0, 1.6, 1.0], 1.5, [1]),
        ([0.0, 0.0], 2.0, []),
    ],
    ids=["even", "one-slow", "threshold-1.5", "zero-times"],
)
def test_find_stragglers(times, ratio, expected):
    assert find_stragglers(times, ratio) == expected


def test_single_process_reports_every_n():
    mon = StragglerMonitor(report_every=2, max_ratio=2.0)
    reports = []
    for it in range(1, 5):
        mon.step_start()
        reports.append(mon.step_end(it, torch.device("cpu")))
    assert reports[0] is None and reports[2] is None
    assert reports[1]["stragglers"] == [] and len(reports[3]["step_times"]) == 1


def test_rejects_bad_ratio():
    with pytest.raises(
        ValueError, match=r"max_ratio > 1.*trainer\.straggler_detection\.max_diff > 1"
    ):
        StragglerMonitor(max_ratio=1.0)
