"""Part ``vae480``: Wan2.1 VAE (random weights) encode of one 480p clip (timing only)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from . import common


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from cosmos_train.tokenizers.wan21 import Wan21VAE

    dev = common.device(args)
    frames, height, width = common.clip_shape(args, "480")
    vae = Wan21VAE(dtype="float32" if args.smoke else "bfloat16").to(dev)
    video = torch.rand(1, 3, frames, height, width, device=dev) * 2 - 1
    common.reset_peak(args)
    t0 = time.perf_counter()
    with torch.no_grad():
        vae.encode(video)
    common.sync(args)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.no_grad():
        lat = vae.encode(video)
    common.sync(args)
    dt = time.perf_counter() - t0
    return common.row(
        "vae480 (Wan2.1 encode, random weights)",
        steps=1,
        s_per_step=round(dt, 3),
        peak_gib=common.peak_gib(args),
        warmup_s=round(warm, 1),
        notes=f"latent {tuple(lat.shape)}",
    )
