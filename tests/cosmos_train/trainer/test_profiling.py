"""Profiler window: a Chrome trace is written for the active steps."""

from __future__ import annotations

import pytest

from cosmos_train.model.toy import toy_components
from cosmos_train.trainer.profiling import ProfilerConfig
from cosmos_train.trainer.trainer import Trainer


def test_profiler_writes_trace(tmp_path):
    model, opt, sched, loader = toy_components()
    trainer = Trainer(
        max_iter=4,
        job_dir=tmp_path,
        logging_iter=10,
        tensorboard=False,
        profiling={"start_iter": 1, "warmup": 1, "active": 1},
    )
    trainer.fit(model, opt, sched, loader)
    traces = list((tmp_path / "torch_trace").glob("rank0_step*.json"))
    assert len(traces) == 1 and traces[0].stat().st_size > 0


@pytest.mark.parametrize(
    "kwargs",
    [{"active": 0}, {"warmup": -1}, {"start_iter": -2}],
    ids=["active", "warmup", "start_iter"],
)
def test_bad_window_names_the_config_key(kwargs):
    with pytest.raises(
        ValueError, match=r"ProfilerConfig: need .*trainer\.profiling\.profile_freq"
    ):
        ProfilerConfig(**kwargs)
