#!/usr/bin/env python
"""LoRA vs full fine-tuning of the 2B net on one GPU, at 480p and 720p, in one run.

    PYTHONPATH=. python tools/bench_lora_gpu.py                  # 480p and 720p, full and LoRA
    PYTHONPATH=. python tools/bench_lora_gpu.py --res 480 --steps 5
    python tools/bench_lora_gpu.py --smoke                       # tiny CPU run of the script

Each case runs the experiment through the launcher (the real trainer, model and FSDP-free single
GPU path) on mock clips of the recipe's shape with the stand-in tokenizer, as ``tools/gpu_check.py``
does: 480p = ``experiments/2b_nemo_480p.py``, 720p = ``experiments/2b_nemo.py`` (unsharded), each
as full fine-tuning and with Cosmos's LoRA recipe (rank 32, alpha 32, q/k/v/o + MLP). LoRA runs on
a random base (``lora_allow_random_base``): step time and memory do not depend on the weights.

Reported per case: seconds per step (median after ``--warmup`` compile steps), model TFLOP/s and
MFU with the *full fine-tuning* FLOP count (LoRA skips the frozen weights' gradient matmuls, so its
MFU by this count is a speed ratio, not hardware utilisation), peak allocated GiB, and LoRA/full
ratios. Results: printed, written to ``docs/benchmarks.md`` (section ``bench_lora_gpu``) and, with
``$OUT`` set, to ``$OUT/bench_lora_gpu.json``. Not measured yet: no GPU was available when this was
written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tools"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from _docs_section import markers, replace_section  # noqa: E402
from _gpu_check import common as gc_tools  # noqa: E402  (gpu_check's helpers: mock data, peak memory, FLOP peak)

START, END = markers("bench_lora_gpu")
EXPERIMENTS = {"480": "2b_nemo_480p.py", "720": "2b_nemo.py"}
LORA = ["model.config.use_lora=true", "model.config.lora_allow_random_base=true"]


def run_case(args: argparse.Namespace, res: str, case: str) -> dict[str, Any]:
    from cosmos_train.utils.flops import dit_train_flops_per_sample

    # Mock clips carry precomputed-shaped text embeddings: no online Reason1 encoder in the step;
    # random weights (no released files needed): speed and memory do not depend on them.
    extra = ["text_encoder=precomputed", "checkpoint.load_path=", *(LORA if case == "lora" else [])]
    if res == "720" and args.ac720:
        extra.append(f"trainer.parallelism.activation_checkpointing={args.ac720}")
    cfg, rows, wall = gc_tools.trainer_run(
        args, EXPERIMENTS[res], res, args.warmup + args.steps, extra
    )
    measured = [r for r in rows if r["iteration"] > args.warmup]
    if not measured:
        raise RuntimeError(f"no measured steps ({len(rows)} rows)")
    dt = gc_tools.median([r["step_time_s"] for r in measured])
    frames, height, width = gc_tools.clip_shape(args, res)
    kw = {k: cfg.model.config.net[k] for k in cfg.model.config.net}
    flops = dit_train_flops_per_sample(
        kw, (1 + (frames - 1) // 4, height // 8, width // 8), text_len=8 if args.smoke else 512
    )
    return {
        "res": res,
        "case": case,
        "status": "ok",
        "s_per_step": round(dt, 3),
        "tflops": round(flops / dt / 1e12, 1),
        "mfu": round(flops / dt / gc_tools.peak_flops(args), 4),
        "peak_gib": gc_tools.peak_gib(args, rows),
        "ac": cfg.trainer.parallelism.activation_checkpointing,
        "compile": bool(cfg.trainer.parallelism.compile_blocks),
        "wall_s": round(wall, 1),
    }


def render(rows: list[dict[str, Any]], header: dict[str, Any]) -> str:
    lines = [
        START,
        "## LoRA vs full fine-tuning, 2B on one GPU (`tools/bench_lora_gpu.py`)",
        "",
        f"{header['device']}, torch {header['torch']}, {header['date']}; {header['steps']} "
        "measured steps after "
        f"{header['warmup']} warm-up; MFU with the full fine-tuning FLOP count (peak "
        f"{header['peak_tflops']:.0f} TFLOP/s).",
        "",
        "| res | case | s/step | TFLOP/s | MFU | peak GiB | AC / compile | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['res']} | {r['case']} | {r.get('s_per_step', '')} | {r.get('tflops', '')} | "
            f"{r.get('mfu', '')} | "
            f"{r.get('peak_gib', '')} | {r.get('ac', '')} / {r.get('compile', '')} | "
            f"{r['status']} |"
        )
    for res in ("480", "720"):
        full = next(
            (r for r in rows if r["res"] == res and r["case"] == "full" and r["status"] == "ok"),
            None,
        )
        lora = next(
            (r for r in rows if r["res"] == res and r["case"] == "lora" and r["status"] == "ok"),
            None,
        )
        if full and lora:
            mem = (
                f", peak memory {lora['peak_gib'] / full['peak_gib']:.2f}x"
                if full.get("peak_gib") and lora.get("peak_gib")
                else ""
            )
            lines.append(
                f"\n{res}p: LoRA step time {lora['s_per_step'] / full['s_per_step']:.2f}x "
                f"full{mem}."
            )
    lines.append(END)
    return "\n".join(lines)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:120]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="tools/bench_lora_gpu.py", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--res", default="480,720", help="comma list of 480, 720")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--ac720", default=None, help="AC mode at 720p (default: the experiment's)")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--data", choices=("auto", "workers", "cached"), default="auto")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="toy sizes on CPU (tests this script; numbers meaningless)",
    )
    p.add_argument(
        "--doc",
        default=str(ROOT / "docs" / "benchmarks.md"),
        help="markdown file to update ('' to skip)",
    )
    args = p.parse_args(argv)
    args.res = [r for r in args.res.split(",") if r]
    if any(r not in EXPERIMENTS for r in args.res):
        p.error("--res takes 480 and/or 720")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if gc_tools.no_device_error(args):
        return 2
    header = gc_tools.run_header(args)
    rows = []
    for res in args.res:
        for case in ("full", "lora"):
            try:
                row = run_case(args, res, case)
            except BaseException as exc:  # noqa: BLE001 - an OOM or failure becomes a row
                if isinstance(exc, KeyboardInterrupt):
                    raise
                print(
                    "\n".join(traceback.format_exc().strip().splitlines()[-12:]),
                    file=sys.stderr,
                    flush=True,
                )
                row = {
                    "res": res,
                    "case": case,
                    "status": f"FAILED: {type(exc).__name__}: {_first_line(exc)}",
                }
            finally:
                gc_tools.free_memory()
            rows.append(row)
            print(json.dumps(row), flush=True)
    text = render(rows, header)
    print("\n" + text)
    if args.doc and not args.smoke:
        replace_section(args.doc, "bench_lora_gpu", text)
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "bench_lora_gpu.json").write_text(
            json.dumps({"header": header, "rows": rows}, indent=1)
        )
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
