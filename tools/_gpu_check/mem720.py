"""Part ``mem720``: one unsharded 720p step of experiments/2b_nemo.py (peak memory)."""

from __future__ import annotations

import argparse
from typing import Any

from . import common

PART = "mem720 (trainer, 2b_nemo 720p, 1 GPU)"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Tries the AC modes of ``--ac720`` in order until one fits."""
    import torch

    attempts = []
    for mode in [m for m in args.ac720.split(",") if m]:
        extra = [f"trainer.parallelism.activation_checkpointing={mode}"]
        if args.compile720 and not args.no_compile:
            extra.append("trainer.parallelism.compile_blocks=true")
        oom = None
        try:
            cfg, rows, wall = common.trainer_run(args, "2b_nemo.py", "720", 1, extra)
        except torch.OutOfMemoryError as exc:
            oom = str(exc).splitlines()[0][:80]
        if oom is not None:
            # Outside the except block: the failed attempt's frames (and its tensors) are gone.
            attempts.append(f"{mode}: OOM ({oom})")
            common.free_memory()
            continue
        reserved = (
            "" if args.smoke else f" (reserved {torch.cuda.max_memory_reserved() / 2**30:.1f} GiB)"
        )
        return common.row(
            PART,
            steps=1,
            s_per_step=round(rows[-1]["step_time_s"], 2) if rows else None,
            peak_gib=common.peak_gib(args, rows),
            warmup_s=round(wall, 1),
            notes="; ".join(attempts + [f"AC {mode} fits{reserved}"]),
        )
    return {"part": PART, "status": "FAILED: OOM in every AC mode", "notes": "; ".join(attempts)}
