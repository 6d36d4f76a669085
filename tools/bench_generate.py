#!/usr/bin/env python
"""Sampling speed at equal quality: flow UniPC against Euler, on a trained run, in one process.

    python tools/bench_generate.py JOB_DIR [--items 2] [--unipc-steps 5,10,20,35]
        [--euler-steps 5,10,20,35,50,70,100] [--reference-steps 100] [--doc docs/benchmarks.md]

Quality is the sampler's error: for each validation item (its caption, its first latent frame as
the condition, guidance 7, seed 1), the video from UniPC with ``--reference-steps`` steps is the
reference ODE solution, and every (solver, steps) video is scored by its RMSE to it (uint8
pixels). A second column scores the same videos against the real clip (the "validation" view;
only meaningful on a trained run). Both solvers run through ``tools/generate.py``'s job path
(``Generator.prepare`` + ``cosmos_train.inference.generate``); times are per sample, model load
excluded. Then the end-to-end ``tools/generate.py`` command (model load, 35 steps) is timed for
each solver in fresh processes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))
if str(_ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(_ROOT / "tools"))


def _rmse(a, b) -> float:
    return float((a.float() - b.float()).square().mean().sqrt())


def run(
    job_dir: Path, items: int, unipc_steps: list[int], euler_steps: list[int], ref_steps: int
) -> dict:
    import generate as tool
    import torch

    from cosmos_train.inference import generate

    args = tool.parse_args([str(job_dir), "--from-dataset", "0"])
    gen = tool.Generator(args, "cpu")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows: dict[tuple[str, int], dict[str, list[float]]] = {}
    for item in range(items):
        job = {"from_dataset": item, "num_conditional_frames": 1}
        base_batch, _, record = gen.prepare(job)
        real = base_batch["video"][0]

        def sample(solver: str, steps: int, base_batch=base_batch):
            settings = gen.model.sampler_settings(
                solver=solver,
                num_steps=steps,
                shift=tool.DEFAULTS["shift"],
                guidance=tool.DEFAULTS["guidance"],
                seed=tool.DEFAULTS["seed"],
            )
            t0 = time.perf_counter()
            video = generate(gen.model, base_batch, sampler=settings, ema=True)[0]
            return video, time.perf_counter() - t0

        reference, _ = sample("unipc", ref_steps)
        for solver, sweep in (("unipc", unipc_steps), ("euler", euler_steps)):
            for steps in sweep:
                video, seconds = sample(solver, steps)
                row = rows.setdefault((solver, steps), {"err": [], "vs_real": [], "s": []})
                row["err"].append(_rmse(video, reference))
                row["vs_real"].append(_rmse(video, real))
                row["s"].append(seconds)
                print(
                    json.dumps(
                        {
                            "item": item,
                            "solver": solver,
                            "steps": steps,
                            "err": row["err"][-1],
                            "s": round(seconds, 2),
                        }
                    ),
                    flush=True,
                )
    table = {
        f"{solver}:{steps}": {k: round(sum(v) / len(v), 3) for k, v in row.items()}
        for (solver, steps), row in rows.items()
    }
    return {
        "table": table,
        "items": items,
        "reference_steps": ref_steps,
        "caption_example": record.get("caption"),
    }


def _cli_time(job_dir: Path, solver: str, out: Path) -> float:
    cmd = [
        sys.executable,
        str(_ROOT / "tools" / "generate.py"),
        str(job_dir),
        "--from-dataset",
        "0",
        "--num-conditional-frames",
        "1",
        "--solver",
        solver,
        "-o",
        str(out),
    ]
    t0 = time.perf_counter()
    subprocess.run(
        cmd, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(_ROOT)}
    )
    return round(time.perf_counter() - t0, 1)


def _equal_quality(table: dict, unipc_steps: int) -> tuple[int | None, float]:
    """Fewest Euler steps with an error at most UniPC's at ``unipc_steps``; and that error."""
    target = table[f"unipc:{unipc_steps}"]["err"]
    euler = sorted((int(k.split(":")[1]), v) for k, v in table.items() if k.startswith("euler:"))
    for steps, row in euler:
        if row["err"] <= target:
            return steps, target
    return None, target


def _doc(res: dict, cmd: str) -> str:
    table = res["table"]
    lines = [
        "| solver | steps | RMSE to reference | RMSE to real clip | s / sample |",
        "|---|---|---|---|---|",
    ]
    for key, row in sorted(
        table.items(), key=lambda kv: (kv[0].split(":")[0], int(kv[0].split(":")[1]))
    ):
        solver, steps = key.split(":")
        lines.append(
            f"| {solver} | {steps} | {row['err']:.2f} | {row['vs_real']:.2f} | {row['s']:.2f} |"
        )
    notes = []
    for n in sorted(int(k.split(":")[1]) for k in table if k.startswith("unipc:")):
        steps, target = _equal_quality(table, n)
        u = table[f"unipc:{n}"]["s"]
        if steps is None:
            notes.append(
                f"- UniPC {n} steps (RMSE {target:.2f}): no Euler run in the sweep gets there."
            )
        else:
            e = table[f"euler:{steps}"]["s"]
            notes.append(
                f"- UniPC {n} steps (RMSE {target:.2f}) needs Euler {steps} steps "
                f"for the same error: "
                f"{e / u:.2f}x UniPC's time ({u:.2f} s vs {e:.2f} s per sample)."
            )
    cli = res.get("cli", {})
    return (
        textwrap.dedent(f"""\
        ## Sampling: UniPC against Euler (`tools/bench_generate.py`, CPU, shared 2 cores)

        `{cmd}`. Run: `experiments/tiny_cpu.py` trained {res.get("trained_iters", "?")} iterations
        (EMA weights), 64x64x17 clips, video2world from the first latent frame of {res["items"]}
        dataset item(s), guidance 7, seed 1. Quality is the sampler's error: the RMSE (uint8 pixel
        levels) of each video to the UniPC {res["reference_steps"]}-step video (the ODE solution);
        "to real clip" compares with the item's own video instead (the validation view). Times are
        per sample (tokenizer encode + sampling + decode), model load excluded, same process.

        """)
        + "\n".join(lines)
        + "\n\n"
        + "\n".join(notes)
        + textwrap.dedent(f"""

        - `tools/generate.py` end to end (fresh process, model load, 35 steps, one job):
          UniPC {cli.get("unipc", "?")} s, Euler {cli.get("euler", "?")} s.
        """)
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="tools/bench_generate.py", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("job_dir", help="a trained job directory (e.g. tiny_cpu's)")
    p.add_argument("--items", type=int, default=2)
    p.add_argument("--unipc-steps", default="5,10,20,35")
    p.add_argument("--euler-steps", default="5,10,20,35,50,70,100")
    p.add_argument("--reference-steps", type=int, default=100)
    p.add_argument("--doc", help="write the docs/benchmarks.md section to this file")
    args = p.parse_args(argv)
    steps = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    job_dir = Path(args.job_dir)
    res = run(
        job_dir, args.items, steps(args.unipc_steps), steps(args.euler_steps), args.reference_steps
    )
    latest = (job_dir / "checkpoints" / "latest_checkpoint.txt").read_text().strip()
    res["trained_iters"] = int(latest.split("_")[-1])
    out = Path("/tmp") / f"bench_generate_{os.getpid()}"
    res["cli"] = {s: _cli_time(job_dir, s, out / f"{s}.mp4") for s in ("unipc", "euler")}
    print(json.dumps(res, indent=1))
    if args.doc:
        from _docs_section import replace_section

        cmd = "python tools/bench_generate.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        replace_section(args.doc, "bench_generate", _doc(res, cmd.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
