"""Part ``train480``: experiments/2b_nemo_480p.py through the launcher, compared with bare480."""

from __future__ import annotations

import argparse
from typing import Any

from . import common


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The real trainer on mock data of the 480p shape: speed and MFU vs the bare step."""
    from cosmos_train.utils.flops import dit_train_flops_per_sample

    extra = [f"trainer.parallelism.activation_checkpointing={args.ac480}"] if args.ac480 else []
    cfg, rows, wall = common.trainer_run(
        args, "2b_nemo_480p.py", "480", args.warmup + args.steps, extra
    )
    measured = [r for r in rows if r["iteration"] > args.warmup]
    if not measured:
        raise RuntimeError(f"no measured steps in metrics.jsonl ({len(rows)} rows)")
    dt = common.median([r["step_time_s"] for r in measured])
    warm = sum(r["step_time_s"] for r in rows if r["iteration"] <= args.warmup)
    flops = dit_train_flops_per_sample(
        common.net_kwargs(cfg), common.latent_shape(args, "480"), text_len=common.text_len(args)
    )
    par = cfg.trainer.parallelism
    return common.row(
        "train480 (trainer, 2b_nemo_480p)",
        steps=len(measured),
        s_per_step=round(dt, 3),
        tflops=round(flops / dt / 1e12, 1),
        mfu=round(flops / dt / common.peak_flops(args), 4),
        peak_gib=common.peak_gib(args, rows),
        warmup_s=round(warm, 1),
        notes=f"AC {par.activation_checkpointing}, "
        f"compile {'on' if par.compile_blocks else 'off'}; "
        f"trainer MFU {measured[-1].get('mfu', float('nan')):.3f}; "
        f"loss {measured[-1]['loss']:.3f}; total {wall:.0f} s; "
        f"{getattr(args, 'data_note', '')}; {common.dynamo_stats()}",
    )
