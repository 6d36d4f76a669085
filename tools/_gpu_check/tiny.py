"""Part ``tiny``: the CPU-default experiment (experiments/tiny_cpu.py) on CUDA for a few steps."""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

import lazycfg

from . import common


def run(args: argparse.Namespace) -> dict[str, Any]:
    """experiments/tiny_cpu.py for ``--tiny-steps`` steps: loss, checkpoint, validation, samples."""
    from cosmos_train.launch import launch

    common.job_root(args)
    n = args.tiny_steps
    overrides = [
        f"trainer.max_iter={n}",
        f"trainer.logging_iter={min(5, n)}",
        f"trainer.validation_iter={n}",
        f"checkpoint.save_iter={n}",
        f"job.name=gpu_check_tiny_{os.getpid()}",
        f"trainer.callbacks.every_n_sample_reg.every_n={n}",
        f"trainer.callbacks.every_n_sample_ema.every_n={n}",
        "trainer.callbacks.every_n_sample_reg.num_steps=10",
        "trainer.callbacks.every_n_sample_ema.num_steps=10",
    ]
    has_av = importlib.util.find_spec("av") is not None
    if not has_av:  # the sample writer needs PyAV
        overrides += [
            "~trainer.callbacks.every_n_sample_reg",
            "~trainer.callbacks.every_n_sample_ema",
        ]
    cfg = lazycfg.load(str(common.ROOT / "experiments" / "tiny_cpu.py"), overrides)
    common.reset_peak(args)
    t0 = time.perf_counter()
    summary = launch(cfg)
    wall = time.perf_counter() - t0
    job = Path(cfg.job.path_local)
    rows = common.train_rows(job)
    losses = [r["loss"] for r in rows]
    samples = (
        "skipped (no PyAV)"
        if not has_av
        else "written"
        if (job / "samples").is_dir()
        else "MISSING"
    )
    return common.row(
        "tiny (CPU default on CUDA)",
        steps=summary["iteration"],
        s_per_step=round(rows[-1]["step_time_s"], 4) if rows else None,
        peak_gib=common.peak_gib(args, rows),
        warmup_s=round(wall, 1),
        notes=f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; checkpoint "
        f"{'ok' if (job / 'checkpoints').is_dir() else 'MISSING'}; samples {samples}",
    )
