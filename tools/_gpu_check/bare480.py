"""Part ``bare480``: the bare PyTorch step (``bare_step.py``) of the 480p experiment's net."""

from __future__ import annotations

import argparse
from typing import Any

import lazycfg

from . import common


def run(args: argparse.Namespace) -> dict[str, Any]:
    """A bare step of 2b_nemo_480p's net with its settings (no trainer, no model class)."""
    import torch

    from .bare_step import BareStep

    cfg = lazycfg.load(str(common.ROOT / "experiments" / "2b_nemo_480p.py"))
    common.shrink_for_smoke(cfg, args)
    if args.ac480:
        cfg.trainer.parallelism.activation_checkpointing = args.ac480
    if args.no_compile:
        cfg.trainer.parallelism.compile_blocks = False
    # The trainer's numeric flags (TF32 matters for the fp32 modulation matmuls).
    torch.backends.cuda.matmul.allow_tf32 = cfg.trainer.allow_tf32
    torch.backends.cudnn.allow_tf32 = cfg.trainer.allow_tf32
    torch.backends.cudnn.benchmark = not cfg.trainer.cudnn.deterministic
    par, opt = cfg.trainer.parallelism, cfg.optimizer
    bare = BareStep(
        common.net_kwargs(cfg),
        device=common.device(args),
        latent_thw=common.latent_shape(args, "480"),
        text_len=common.text_len(args),
        precision=cfg.model.config.precision,
        ac_mode=par.activation_checkpointing,
        compile_blocks=par.compile_blocks,
        lr=opt.lr,
        weight_decay=opt.weight_decay,
        betas=opt.betas,
        fused=opt.fused,
        clip_norm=cfg.trainer.callbacks.grad_clip.clip_norm,
    )
    common.reset_peak(args)
    warm, dt = bare.time(warmup=args.warmup, steps=args.steps, sync=lambda: common.sync(args))
    return common.row(
        "bare480 (bare PyTorch step, 2B 480p)",
        steps=args.steps,
        s_per_step=round(dt, 3),
        tflops=round(bare.flops / dt / 1e12, 1),
        mfu=round(bare.flops / dt / common.peak_flops(args), 4),
        peak_gib=common.peak_gib(args),
        warmup_s=round(warm, 1),
        notes=f"AC {bare.ac_mode}, compile {'on' if bare.compiled else 'off'}, "
        f"{bare.tokens} tokens; "
        f"{common.dynamo_stats()}",
    )
