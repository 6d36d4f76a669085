"""An optional ``torch.profiler`` window over a few training steps, written as Chrome traces."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import torch

from cosmos_train.distributed.env import get_rank

__all__ = ["ProfilerConfig", "maybe_profile"]

log = logging.getLogger(__name__)


class ProfilerConfig:
    """Which steps to profile.

    Args:
        start_iter: optimizer steps to skip before warm-up (counted from the start of ``fit``).
        warmup: profiled-but-discarded steps; active: recorded steps.
        ranks: ranks that write traces; record_shapes, with_stack, profile_memory: profiler flags.
    """

    def __init__(
        self,
        *,
        start_iter: int = 5,
        warmup: int = 1,
        active: int = 2,
        ranks: tuple[int, ...] = (0,),
        record_shapes: bool = False,
        with_stack: bool = False,
        profile_memory: bool = False,
    ) -> None:
        if int(start_iter) < 0 or int(warmup) < 0 or int(active) < 1:
            raise ValueError(
                "ProfilerConfig: need start_iter >= 0, warmup >= 0 and active >= 1, got "
                f"{start_iter}, {warmup}, {active}; in a config set trainer.profiling.profile_freq "
                ">= 1 (the recorded steps)"
            )
        self.start_iter, self.warmup, self.active = int(start_iter), int(warmup), int(active)
        self.ranks, self.record_shapes, self.with_stack, self.profile_memory = (
            tuple(ranks),
            record_shapes,
            with_stack,
            profile_memory,
        )


@contextlib.contextmanager
def maybe_profile(
    config: ProfilerConfig | dict | None, trace_dir: str | Path
) -> Iterator[torch.profiler.profile | None]:
    """Yields a started profiler whose ``step()`` the loop calls once per optimizer step, or
    None."""
    if isinstance(config, dict):
        config = ProfilerConfig(**config)
    if config is None or get_rank() not in config.ranks:
        yield None
        return
    out = Path(trace_dir)
    out.mkdir(parents=True, exist_ok=True)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)

    def on_ready(prof: torch.profiler.profile) -> None:
        path = out / f"rank{get_rank()}_step{prof.step_num}.json"
        prof.export_chrome_trace(str(path))
        log.info("profiler trace written to %s", path)

    prof = torch.profiler.profile(
        activities=activities,
        schedule=torch.profiler.schedule(
            wait=config.start_iter, warmup=config.warmup, active=config.active, repeat=1
        ),
        on_trace_ready=on_ready,
        record_shapes=config.record_shapes,
        with_stack=config.with_stack,
        profile_memory=config.profile_memory,
    )
    with prof:
        yield prof
