#!/usr/bin/env python
"""Per-rank self-attention cost of a context-parallel slice vs the full sequence, on one GPU.

CP cannot run across GPUs on a one-GPU machine, so this measures what one CP rank computes:

- ``full``: one DiT self-attention layer (q/k/v/o projections, q/k RMSNorm, RoPE, SDPA) over all
  ``N`` tokens and all heads, forward + backward;
- ``cp=K``: what a Ulysses rank does for the same layer: projections/norm/RoPE on ``N/K`` tokens,
  SDPA over all ``N`` tokens for ``heads/K`` heads (the all-to-alls are not run: no peers; their
  bytes are in ``tools/plan_parallelism.py``).

It prints the time per layer, the ratio ``full / (K x slice)`` (1.0 = CP splits the work
perfectly) and writes ``$OUT/cp_attention.json`` for the planner.

    python tools/bench_cp_attention_gpu.py                     # 2B shapes, 480p and 720p, K=2,4,8
    SHAPE=14B python tools/bench_cp_attention_gpu.py
    SMOKE=1 python tools/bench_cp_attention_gpu.py             # tiny CPU run of the same code

Not measured yet: no GPU was available when it was written (numbers: none).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from cosmos_train.nets.layers import (  # noqa: E402
    Attention,
    VideoRopePosition3DEmb,
    apply_rotary_pos_emb,
    rope_cos_sin,
)

SHAPES = {"2B": (2048, 16), "14B": (5120, 40)}
GRIDS = {"480p": (24, 30, 52), "720p": (24, 44, 80)}  # token grid (T, H, W) after 2x2 patching


def _time(fn, steps: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def layer_step(attn: Attention, rope, x: torch.Tensor, *, tokens_full: int, cp: int):
    """One forward + backward of what a CP rank computes for one self-attention layer."""
    B, n_local, D = x.shape
    heads, hd = attn.n_heads, attn.head_dim

    def run() -> None:
        xx = x.detach().requires_grad_(True)
        q = attn.q_norm(attn.q_proj(xx).view(B, n_local, heads, hd))
        k = attn.k_norm(attn.k_proj(xx).view(B, n_local, heads, hd))
        v = attn.v_proj(xx).view(B, n_local, heads, hd)
        cos, sin = rope
        q, k = (
            apply_rotary_pos_emb(q, cos, sin).to(v.dtype),
            apply_rotary_pos_emb(k, cos, sin).to(v.dtype),
        )
        # Stand-in for the all-to-all: a rank holds all tokens for heads/cp heads afterwards.
        h = heads // cp
        qkv = [t[:, :, :h].repeat(1, cp, 1, 1)[:, :tokens_full] for t in (q, k, v)]
        out = torch.nn.functional.scaled_dot_product_attention(*(t.transpose(1, 2) for t in qkv))
        out = out.transpose(1, 2)[:, :n_local].repeat(1, 1, cp, 1).reshape(B, n_local, D)
        attn.output_proj(out).float().square().mean().backward()

    return run


def main() -> int:
    smoke = os.environ.get("SMOKE") == "1"
    device = torch.device("cpu" if smoke or not torch.cuda.is_available() else "cuda")
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    d_model, heads = (64, 4) if smoke else SHAPES[os.environ.get("SHAPE", "2B")]
    grids = {"tiny": (4, 4, 4)} if smoke else GRIDS
    cps = [2, 4] if smoke else [int(c) for c in os.environ.get("CPS", "2,4,8").split(",")]
    steps, warmup = (2, 1) if smoke else (10, 3)
    hd = d_model // heads
    attn = Attention(d_model, None, heads, hd).to(device, dtype)
    attn.init_weights()
    results = {
        "device": str(torch.cuda.get_device_name() if device.type == "cuda" else "cpu"),
        "torch": torch.__version__,
        "d_model": d_model,
        "heads": heads,
        "rows": [],
    }
    for name, (T, H, W) in grids.items():
        pe = VideoRopePosition3DEmb(head_dim=hd, len_h=H, len_w=W, len_t=T).to(device)
        cos, sin = rope_cos_sin(pe.angles(T, H, W))
        N = T * H * W
        x = torch.randn(1, N, d_model, device=device, dtype=dtype)
        full = _time(layer_step(attn, (cos, sin), x, tokens_full=N, cp=1), steps, warmup, device)
        row = {"grid": name, "tokens": N, "full_s": full}
        for cp in cps:
            if heads % cp or T % cp:
                continue
            n = N // cp
            t = _time(
                layer_step(attn, (cos[:n], sin[:n]), x[:, :n].contiguous(), tokens_full=N, cp=cp),
                steps,
                warmup,
                device,
            )
            row[f"cp{cp}_s"] = t
            row[f"cp{cp}_split_efficiency"] = full / (cp * t)
        results["rows"].append(row)
        print(json.dumps(row), flush=True)
    out = Path(os.environ.get("OUT", "/tmp")) / "cp_attention.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
