#!/usr/bin/env python
"""One-shot GPU check of the whole stack (run once on an H100; prints and saves a table).

    PYTHONPATH=. python tools/gpu_check.py                      # everything, ~4-6 minutes
    PYTHONPATH=. python tools/gpu_check.py --parts bare480,train480 --steps 5
    python tools/gpu_check.py --smoke                           # tiny CPU dry run of the script

Parts (in order; each prints a row even when it fails, OOM included):

* ``tiny``     the CPU-default experiment (``experiments/tiny_cpu.py``) on CUDA for a few steps:
               loss, checkpoints, validation, samples (mp4 only when PyAV is installed).
* ``bare480``  a bare-PyTorch training step of the 2B net at 480p with the 480p experiment's
               settings (fp32 master weights, bf16 autocast, activation checkpointing mode,
               per-block compile, fused AdamW, clipping, EMA), from random latents.
* ``train480`` ``experiments/2b_nemo_480p.py`` through ``tools/train.py``'s launch path (the real
               trainer, model, conditioner, data loader) on mock data of the same shape, with the
               stand-in tokenizer (the bare step has no VAE either). Compared with ``bare480``:
               target >= 0.95x its speed and >= 45% MFU.
* ``mem720``   one 720p step of ``experiments/2b_nemo.py`` on one GPU (unsharded): peak memory.
               ``--ac720 a,b`` tries AC modes in order until one fits.
* ``vae480``   Wan2.1 VAE (random weights) encode of one 93-frame 480p clip (timing only).

Time: a global budget (``--budget``, default 400 s) skips parts whose estimate no longer fits and
an alarm stops a part that overruns; compile warm-up is timed separately from the measured steps.
Results: a markdown table printed, written to ``docs/benchmarks.md`` (section
``gpu_check``) and, when ``$OUT`` is set, to ``$OUT/gpu_check.md`` and ``$OUT/gpu_check.json``;
``--write-doc-from gpu_check.json`` puts a fetched result into this checkout's docs/benchmarks.md.
Needs only torch, attrs, pyyaml, numpy, tqdm (no PyAV, no omegaconf); runs from a source checkout.

This file is the harness (arguments, budget, alarm, one row per part, report); each part is a
module of ``tools/_gpu_check/``, and ``bare480`` times the step of ``_gpu_check/bare_step.py``,
which
``tools/bench_dit_gpu.py`` times too.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tools"):  # the repo, and tools/ for the _gpu_check package
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from _gpu_check import bare480, common, mem720, tiny, train480, vae480  # noqa: E402
from _gpu_check.report import MARK_END, MARK_START, render, write_section  # noqa: E402

__all__ = [
    "ALL_PARTS",
    "ESTIMATES",
    "MARK_END",
    "MARK_START",
    "PARTS",
    "main",
    "render",
    "write_section",
]

#: Rough wall-time estimates per part on an H100 (seconds), used to skip parts that cannot finish.
ESTIMATES = {"tiny": 40, "bare480": 110, "train480": 110, "mem720": 70, "vae480": 40}
PARTS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "tiny": tiny.run,
    "bare480": bare480.run,
    "train480": train480.run,
    "mem720": mem720.run,
    "vae480": vae480.run,
}
ALL_PARTS = tuple(PARTS)


class PartTimeout(Exception):
    """A part ran past its time slot."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise PartTimeout("time slot exceeded")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="tools/gpu_check.py", description="One-shot GPU check of cosmos_train."
    )
    p.add_argument(
        "--parts", default=",".join(ALL_PARTS), help=f"comma list of {', '.join(ALL_PARTS)}"
    )
    p.add_argument("--steps", type=int, default=3, help="measured steps of bare480/train480")
    p.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="warm-up (compile) steps of bare480/train480, timed separately",
    )
    p.add_argument("--tiny-steps", type=int, default=20, help="steps of the tiny part")
    p.add_argument("--budget", type=float, default=400.0, help="global time budget in seconds")
    p.add_argument("--ac480", default=None, help="AC mode at 480p (default: the experiment's)")
    p.add_argument(
        "--ac720",
        default="predict2_2b_720_aggressive,block",
        help="AC modes tried in order for the 720p step (default: the experiment's, then block)",
    )
    p.add_argument(
        "--compile720", action="store_true", help="compile blocks for the 720p step (+~50 s)"
    )
    p.add_argument("--no-compile", action="store_true", help="no per-block torch.compile anywhere")
    p.add_argument(
        "--doc",
        default=str(ROOT / "docs" / "benchmarks.md"),
        help="markdown file to update ('' to skip)",
    )
    p.add_argument(
        "--data",
        choices=("auto", "workers", "cached"),
        default="auto",
        help="mock data through 4 loader workers, or 2 items cached in-process (auto: workers "
        "when /dev/shm has >= 8 GiB free)",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="toy sizes on CPU (tests this script, numbers meaningless)",
    )
    p.add_argument(
        "--write-doc-from",
        metavar="JSON",
        help="only re-render a saved gpu_check.json (e.g. fetched from the GPU machine's $OUT) "
        "into --doc",
    )
    args = p.parse_args(argv)
    args.parts = [x for x in args.parts.split(",") if x]
    bad = [x for x in args.parts if x not in PARTS]
    if bad:
        p.error(f"unknown parts {bad}; choose from {', '.join(ALL_PARTS)}")
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.write_doc_from:
        saved = json.loads(Path(args.write_doc_from).read_text())
        write_section(Path(args.doc), render(saved["rows"], saved["header"]))
        print(f"wrote the gpu_check section of {args.doc} from {args.write_doc_from}")
        return 0
    start = time.perf_counter()
    if common.no_device_error(args):
        return 2
    header = common.run_header(args)
    print(
        f"gpu_check: {header['device']}, torch {header['torch']}, parts {args.parts}, "
        f"budget {args.budget:.0f} s",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    signal.signal(signal.SIGALRM, _on_alarm)
    try:
        for name in args.parts:
            left = args.budget - (time.perf_counter() - start)
            if left < ESTIMATES[name] * (0.05 if args.smoke else 1.0):
                rows.append(
                    {
                        "part": name,
                        "status": f"skipped (time budget: {left:.0f} s left, "
                        f"needs ~{ESTIMATES[name]} s)",
                    }
                )
                print(rows[-1], flush=True)
                continue
            signal.alarm(max(int(left), 1))  # a part may use what is left, never more
            t0 = time.perf_counter()
            try:
                row = PARTS[name](args)
            except BaseException as exc:  # noqa: BLE001 - every failure (OOM, timeout, bug) becomes a row
                if isinstance(exc, KeyboardInterrupt):
                    raise
                tb = traceback.format_exc().strip().splitlines()
                print("\n".join(tb[-12:]), file=sys.stderr, flush=True)
                first_line = str(exc).splitlines()[0] if str(exc) else ""
                row = {
                    "part": name,
                    "status": f"FAILED: {type(exc).__name__}: {first_line[:160]}",
                }
            finally:
                signal.alarm(0)
                common.free_memory()
            row["wall_s"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        signal.alarm(0)
        header["total_s"] = time.perf_counter() - start
        text = render(rows, header)
        print("\n" + text, flush=True)
        if args.doc:
            write_section(Path(args.doc), text)
        out = os.environ.get("OUT")
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / "gpu_check.md").write_text(text)
            (Path(out) / "gpu_check.json").write_text(
                json.dumps({"header": header, "rows": rows}, indent=1)
            )
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
