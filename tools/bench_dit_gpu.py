#!/usr/bin/env python
"""H100 check for cosmos_train.nets: CUDA parity of the fixtures, then 2B/480p step time and MFU
per AC mode.

Usage (GPU machine, from the repo root):
`MODES=selective,selective_mlp M720=selective python tools/bench_dit_gpu.py`; `SMOKE=1` runs a tiny
CPU version. Results go to `$OUT/nets_bench.json` (runs of 2026-11-27 are in docs/gpu_runs/). The
timed step is the bare step of `tools/_gpu_check/bare_step.py` (shared with `tools/gpu_check.py`'s
bare480 part).
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tools"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import torch  # noqa: E402
import torch._dynamo  # noqa: E402
from _gpu_check.bare_step import BareStep  # noqa: E402

from cosmos_train.nets import MiniTrainDiT, presets  # noqa: E402

SMOKE_NET = dict(
    model_channels=64, num_blocks=2, num_heads=4, adaln_lora_dim=16, crossattn_proj_in_channels=96
)
PEAK_FLOPS = 989e12  # H100 dense bf16


def parity(dev: torch.device, res: dict) -> None:
    """fp32 and bf16-autocast outputs of the golden fixtures on ``dev`` (TF32 off)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    for f in sorted(glob.glob(str(ROOT / "tests/cosmos_train/nets/golden/tiny_*.pt"))):
        fx = torch.load(f, weights_only=True)
        net = MiniTrainDiT(**fx["kwargs"]).to(dev)
        net.load_state_dict(fx["state_dict"])
        inp = {k: v.to(dev) for k, v in fx["inputs"].items()}
        with torch.no_grad():
            out = net(**inp)
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                ob = net(**inp)
        res[os.path.basename(f)] = {
            "fp32_maxabs": (out.cpu() - fx["output"]).abs().max().item(),
            "bf16_maxabs": (ob.float().cpu() - fx["output"]).abs().max().item(),
            "out_absmax": fx["output"].abs().max().item(),
        }
        print(f, res[os.path.basename(f)], flush=True)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def main() -> int:
    t_start = time.time()
    torch._dynamo.config.cache_size_limit = 64
    torch._dynamo.config.accumulated_cache_size_limit = 512
    out_dir = os.environ.get("OUT", "/tmp")
    smoke = os.environ.get("SMOKE") == "1"
    budget = float(os.environ.get("BUDGET", "230"))
    res: dict = {
        "torch": torch.__version__,
        "device": "cpu" if smoke else torch.cuda.get_device_name(),
    }
    print(res, flush=True)
    dev = torch.device("cpu" if smoke else "cuda")
    sync = (lambda: None) if smoke else torch.cuda.synchronize

    if not smoke and os.environ.get("PARITY") != "0":
        parity(dev, res)

    # 2B Predict2.5 at 480p: fp32 master weights, bf16 autocast, fused AdamW, clip, EMA.
    kw = presets.preset_kwargs("predict2_5_2B", **(SMOKE_NET if smoke else {}))
    bare = BareStep(
        kw,
        device=dev,
        latent_thw=(2, 8, 8) if smoke else (24, 60, 104),
        compile_blocks=not smoke,
        fused=not smoke,
    )
    if not smoke:  # compiling on CPU would only test inductor's C++ toolchain, slowly
        bare.net.final_layer.compile(fullgraph=True)
    res["train_flops_480p"] = bare.flops

    def measure(name: str, warm: int, n: int) -> None:
        try:
            if not smoke:
                torch.cuda.reset_peak_memory_stats()
            warm_s, dt = bare.time(warmup=warm, steps=n, sync=sync)
            r = {
                "step_s": round(dt, 3),
                "tflops": round(bare.flops / dt / 1e12, 1),
                "mfu": round(bare.flops / dt / PEAK_FLOPS, 4),
                "peak_gib": 0 if smoke else round(torch.cuda.max_memory_allocated() / 2**30, 1),
                "warm_s": round(warm_s, 1),
            }
        except Exception as e:  # noqa: BLE001 - an OOM in one mode becomes its row
            r = {"error": repr(e)[:400]}
            bare.optimizer.zero_grad(set_to_none=True)
            if not smoke:
                torch.cuda.empty_cache()
        res[name] = r
        print(name, r, "elapsed", round(time.time() - t_start), flush=True)

    modes = [
        m for m in os.environ.get("MODES", "selective,selective_down,selective_mlp").split(",") if m
    ]
    for mode in modes:
        if time.time() - t_start > budget:
            break
        bare.set_ac_mode(mode)
        measure(f"480p_{mode}_compiled_ema", warm=3, n=3)
    m720 = os.environ.get("M720", "")
    if m720 and time.time() - t_start < budget:
        bare.set_ac_mode(m720)
        bare.set_latent_shape(*((2, 8, 8) if smoke else (24, 88, 160)))
        measure(f"720p_{m720}_compiled_ema", warm=1, n=1)
    with open(os.path.join(out_dir, "nets_bench.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
