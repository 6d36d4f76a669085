"""Trainer overhead benchmark: ``Trainer.fit`` versus a bare PyTorch loop doing the same work.

Both loops run the toy video model (``cosmos_train.model.toy``) with the same data loader,
AdamW, LambdaLR schedule, power EMA and gradient clipping; the trainer runs with no logging
callbacks (``logging_iter`` beyond the run) so what is measured is the loop's own cost: hooks,
the non-finite check, data-position tracking and bookkeeping. Runs alternate (bare, trainer,
bare, ...) after one warm-up of each; the reported number is the median of the per-pair ratios.

Usage::

    python tools/bench_train.py [--runs 7] [--steps 15] [--threads 1] [--no-write] [--output PATH]

Writes its section of ``docs/benchmarks.md`` (between the ``bench_train`` markers).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _docs_section import markers, replace_section  # noqa: E402  (tools/ is on sys.path when run or imported)

from cosmos_train.model.toy import toy_components  # noqa: E402
from cosmos_train.trainer.callbacks import GradClip  # noqa: E402
from cosmos_train.trainer.trainer import Trainer  # noqa: E402

START, END = markers("bench_train")

MODEL = dict(dim=128, num_blocks=4, num_heads=4, video_shape=(3, 4, 8, 8))
BATCH = 3
CLIP = 1.0


def _parts(model: dict[str, Any], batch: int):
    return toy_components(batch_size=batch, dataset_length=4096, **model)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(t0: tuple[float, float]) -> tuple[float, float]:
    """(wall, CPU) seconds since ``t0``; CPU time is robust to other processes on a shared box."""
    return time.perf_counter() - t0[0], time.process_time() - t0[1]


def bare_loop(steps: int, model: dict[str, Any] = MODEL, batch: int = BATCH) -> tuple[float, float]:
    """(wall, CPU) seconds for ``steps`` optimizer steps of a plain loop (same work as the
    trainer)."""
    net_model, opt, sched, loader = _parts(model, batch)
    net_model.train()
    params = [p for _, p in net_model.optimizer_parameters()]
    t0 = _clock()
    it = iter(loader)
    for i in range(steps):
        data = next(it)
        _, loss = net_model.training_step(data, i)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        sched.step()
        net_model.on_before_zero_grad(opt, sched, i)
        opt.zero_grad(set_to_none=True)
    return _since(t0)


def trainer_loop(
    steps: int, job_dir: str, model: dict[str, Any] = MODEL, batch: int = BATCH
) -> tuple[float, float]:
    """(wall, CPU) seconds for ``Trainer.fit`` over ``steps`` steps (setup inside fit included)."""
    net_model, opt, sched, loader = _parts(model, batch)
    trainer = Trainer(
        max_iter=steps,
        job_dir=job_dir,
        logging_iter=10**9,
        tensorboard=False,
        callbacks={"grad_clip": GradClip(clip_norm=CLIP)},
    )
    t0 = _clock()
    trainer.fit(net_model, opt, sched, loader)
    return _since(t0)


def measure(
    *, runs: int, steps: int, model: dict[str, Any] = MODEL, batch: int = BATCH
) -> dict[str, Any]:
    """Alternating bare/trainer runs after one warm-up of each; per-run (wall, CPU) seconds.

    Returns ``{"bare": [(wall, cpu), ...], "trainer": [...], "steps", "runs", "model", "batch"}``.
    """
    if runs < 1 or steps < 1:
        raise ValueError(f"measure: runs and steps must be >= 1, got runs={runs}, steps={steps}")
    with tempfile.TemporaryDirectory() as tmp:
        bare_loop(min(steps, 2), model, batch)
        trainer_loop(min(steps, 2), os.path.join(tmp, "warm"), model, batch)
        bare, tr = [], []
        for r in range(runs):
            bare.append(bare_loop(steps, model, batch))
            tr.append(trainer_loop(steps, os.path.join(tmp, f"run{r}"), model, batch))
    return {
        "bare": bare,
        "trainer": tr,
        "steps": steps,
        "runs": runs,
        "model": dict(model),
        "batch": batch,
    }


def render(result: dict[str, Any], threads: int) -> tuple[str, float]:
    """The markdown section for a :func:`measure` result, and the bare loop's median step time
    (s)."""
    bare, tr, steps = result["bare"], result["trainer"], result["steps"]
    wall = [t[0] / b[0] for b, t in zip(bare, tr)]
    cpu = [t[1] / b[1] for b, t in zip(bare, tr)]
    ratio_wall, ratio_cpu = statistics.median(wall), statistics.median(cpu)
    step_bare = statistics.median(b[0] for b in bare) / steps
    step_tr = statistics.median(t[0] for t in tr) / steps
    cpu_bare = statistics.median(b[1] for b in bare) / steps
    cpu_tr = statistics.median(t[1] for t in tr) / steps
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "## Trainer overhead (`tools/bench_train.py`)",
        "",
        "`Trainer.fit` vs a bare PyTorch loop doing the same work (toy DiT-like model "
        f"{result['model']}, batch {result['batch']}, AdamW + LambdaLR + power EMA + clip {CLIP}; "
        f"no logging), {steps} steps per run, {result['runs']} alternating runs of each after a "
        f"warm-up; torch {torch.__version__}, {threads} thread(s), {os.cpu_count()} CPUs, load "
        f"average {load:.1f} at the end.",
        "",
        "| loop | median wall / step | median CPU / step |",
        "|---|---|---|",
        f"| bare PyTorch | {step_bare * 1e3:.1f} ms | {cpu_bare * 1e3:.1f} ms |",
        f"| Trainer.fit | {step_tr * 1e3:.1f} ms | {cpu_tr * 1e3:.1f} ms |",
        "",
        f"Median per-pair ratio, wall: **{ratio_wall:.3f}** ({(ratio_wall - 1) * 100:+.1f}%), CPU "
        f"time: **{ratio_cpu:.3f}** ({(ratio_cpu - 1) * 100:+.1f}%); target <= +5%. Pair ratios "
        f"(wall): {', '.join(f'{x:.3f}' for x in wall)}; (CPU): "
        f"{', '.join(f'{x:.3f}' for x in cpu)}.",
        "CPU time is the robust number on a shared machine (other processes inflate wall time at "
        "random).",
    ]
    return "\n".join(lines), step_bare


def write_section(path: Path, body: str) -> None:
    """Replaces (or appends) only the bench_train section of ``path``."""
    replace_section(path, "bench_train", body)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="alternating runs of each loop (>= 5)")
    ap.add_argument("--steps", type=int, default=15, help="optimizer steps per run")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument(
        "--no-write", action="store_true", help="print only; do not update docs/benchmarks.md"
    )
    ap.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args(argv)
    if args.runs < 5:
        ap.error("--runs must be >= 5 for a stable median")
    torch.set_num_threads(args.threads)
    body, step_bare = render(measure(runs=args.runs, steps=args.steps), args.threads)
    print(body)
    if step_bare < 0.05:
        print(
            f"warning: bare steps take {step_bare * 1e3:.1f} ms (< 50 ms); overhead ratios of tiny "
            "steps are noisy",
            file=sys.stderr,
        )
    if not args.no_write:
        write_section(Path(args.output), body)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
