"""LoRA vs full fine-tuning on CPU, measured in one run (tiny net of ``experiments/tiny_cpu.py``).

1. Step time: a full fine-tuning model and a LoRA model (same base, same batch, AdamW, EMA) take
   steps alternately after a warm-up; the LoRA/full ratio is the median of the per-pair ratios.
2. Memory: training-state bytes (parameters, gradients, AdamW moments, EMA) counted from the
   tensors, and the peak RSS of a fresh process running each case alone.
3. Trainable fraction of the tiny net (this rank) and of Cosmos's 2B recipe (rank 32 on
   q/k/v/o + MLP; net built on ``meta``).
4. Quality: the default experiment trains a base for ``--base-steps``; a LoRA run starts from that
   base's DCP checkpoint and trains ``--lora-steps`` on the same synthetic set; validation loss
   before (= the base: LoRA's B starts at zero) and after. A full fine-tuning continuation of
   the same length is the reference.

Usage::

    python tools/bench_lora.py [--rank 8] [--pairs 20] [--base-steps 500] [--lora-steps 300]
                               [--no-write] [--output docs/benchmarks.md]

Writes its section of ``docs/benchmarks.md`` (between the ``bench_lora`` markers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _docs_section import markers, replace_section  # noqa: E402  (tools/ is on sys.path when run)

import lazycfg  # noqa: E402

START, END = markers("bench_lora")
TINY_CPU = str(ROOT / "experiments" / "tiny_cpu.py")
QUIET = [
    "~trainer.callbacks.every_n_sample_reg",
    "~trainer.callbacks.every_n_sample_ema",
    "job.wandb_mode=disabled",
]


def _lora_overrides(rank: int) -> list[str]:
    return [
        "model.config.use_lora=true",
        f"model.config.lora_rank={rank}",
        f"model.config.lora_alpha={rank}",
    ]


# ---- step time and memory ------------------------------------------------------------------------


def _build(case: str, base: Path, rank: int) -> tuple[Any, torch.optim.Optimizer, dict]:
    """The model, its AdamW and a fixed training batch of the tiny_cpu recipe."""
    from cosmos_train.checkpoint.consolidated import load_consolidated

    overrides = _lora_overrides(rank) if case == "lora" else []
    cfg = lazycfg.load(TINY_CPU, overrides)
    extra = {"base_checkpoint": str(base)} if case == "lora" else {}
    model = lazycfg.instantiate(cfg.model, device="cpu", seed=0, **extra)
    if case == "full":
        load_consolidated(base, net=model.net, net_ema=model.net_ema)
    model.on_train_start()
    opt = lazycfg.instantiate(cfg.optimizer, params=model.optimizer_parameters())
    batch = next(iter(lazycfg.instantiate(cfg.dataloader_train)))
    return model, opt, batch


def _step(model: Any, opt: torch.optim.Optimizer, batch: dict, it: int) -> float:
    t0 = time.perf_counter()
    _, loss = model.training_step(batch, it)
    loss.backward()
    opt.step()
    model.on_before_zero_grad(opt, None, it)
    opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def _state_bytes(model: Any, opt: torch.optim.Optimizer) -> dict[str, int]:
    params = sum(p.numel() * p.element_size() for p in model.net.parameters())
    trainable = [p for p in model.net.parameters() if p.requires_grad]
    grads = sum(p.numel() * p.element_size() for p in trainable)  # one gradient per trainable param
    moments = sum(
        t.numel() * t.element_size()
        for s in opt.state.values()
        for t in s.values()
        if torch.is_tensor(t) and t.dim() > 0
    )
    ema = (
        sum(p.numel() * p.element_size() for p in model.net_ema.parameters())
        if model.net_ema is not None
        else 0
    )
    return {
        "params": params,
        "grads": grads,
        "adam": moments,
        "ema": ema,
        "total": params + grads + moments + ema,
    }


def measure_speed(base: Path, rank: int, pairs: int) -> dict[str, Any]:
    from cosmos_train.model.lora import count_parameters

    full = _build("full", base, rank)
    lora = _build("lora", base, rank)
    for it in range(3):  # warm-up
        _step(*full, it)
        _step(*lora, it)
    ratios, t_full, t_lora = [], [], []
    for i in range(pairs):
        a = _step(*full, 3 + i)
        b = _step(*lora, 3 + i)
        t_full.append(a)
        t_lora.append(b)
        ratios.append(b / a)
    count = count_parameters(lora[0].net)
    full_count = count_parameters(full[0].net)
    return {
        "full_trainable": full_count.trainable,
        "full_step_ms": 1000 * statistics.median(t_full),
        "lora_step_ms": 1000 * statistics.median(t_lora),
        "ratio": statistics.median(ratios),
        "full_state": _state_bytes(*full[:2]),
        "lora_state": _state_bytes(*lora[:2]),
        "trainable": count.trainable,
        "total": count.total,
    }


def peak_rss_mb(case: str, base: Path, rank: int, steps: int = 10) -> float:
    """Peak RSS of a fresh process building ``case`` and taking ``steps`` steps (MiB)."""
    cmd = [
        sys.executable,
        __file__,
        "--rss-case",
        case,
        "--rss-base",
        str(base),
        "--rank",
        str(rank),
        "--rss-steps",
        str(steps),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = (
        subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    return float(out)


def _rss_child(case: str, base: Path, rank: int, steps: int) -> None:
    model, opt, batch = _build(case, base, rank)
    for it in range(steps):
        _step(model, opt, batch, it)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # Linux: KiB


def cosmos_2b_fraction() -> dict[str, int]:
    from cosmos_train.model import lora

    cfg = lazycfg.load(str(ROOT / "experiments" / "2b_nemo_lora.py"))
    with torch.device("meta"):
        net = lazycfg.instantiate(cfg.model.config.net)
        lora.inject_lora(net, lora.LoraSpec.from_config(cfg.model.config))
    count = lora.count_parameters(net)
    return {"trainable": count.trainable, "total": count.total}


# ---- quality --------------------------------------------------------------------------------


def _run(overrides: list[str]) -> list[dict]:
    from cosmos_train.launch import launch

    cfg = lazycfg.load(TINY_CPU, overrides + QUIET)
    launch(cfg)
    rows = [
        json.loads(line)
        for line in (Path(cfg.job.path_local) / "metrics.jsonl").read_text().splitlines()
    ]
    return [r for r in rows if r.get("split") == "val"]


def measure_quality(out: Path, base_steps: int, steps: int, rank: int) -> dict[str, Any]:
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(out)
    t0 = time.perf_counter()
    base_val = _run(
        [
            "job.name=base",
            f"trainer.max_iter={base_steps}",
            f"checkpoint.save_iter={base_steps}",
            f"trainer.validation_iter={base_steps}",
        ]
    )
    t_base = time.perf_counter() - t0
    base_ckpt = out / "cosmos_train" / "cpu" / "base" / "checkpoints"
    common = [
        f"trainer.max_iter={steps}",
        f"checkpoint.save_iter={steps}",
        f"trainer.validation_iter={steps}",
    ]
    t0 = time.perf_counter()
    lora_val = _run(
        ["job.name=lora", f"checkpoint.load_path={base_ckpt}", *common, *_lora_overrides(rank)]
    )
    t_lora = time.perf_counter() - t0
    t0 = time.perf_counter()
    full_val = _run(["job.name=full", f"checkpoint.load_path={base_ckpt}", *common])
    t_full = time.perf_counter() - t0
    return {
        "base_steps": base_steps,
        "steps": steps,
        "base_val": base_val[-1]["val_loss"],
        "lora_val0": lora_val[0]["val_loss"],
        "lora_val": lora_val[-1]["val_loss"],
        "lora_val_ema": lora_val[-1].get("val_loss_ema"),
        "full_val0": full_val[0]["val_loss"],
        "full_val": full_val[-1]["val_loss"],
        "full_val_ema": full_val[-1].get("val_loss_ema"),
        "seconds": {"base": t_base, "lora": t_lora, "full": t_full},
    }


# ---- report ---------------------------------------------------------------------------------


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB"


def render(
    speed: dict, rss: dict, frac2b: dict, quality: dict, args: argparse.Namespace, command: str
) -> str:
    fs, ls = speed["full_state"], speed["lora_state"]
    q = quality
    lines = [
        START,
        "## LoRA vs full fine-tuning (`tools/bench_lora.py`)",
        "",
        f"Measured on {platform.machine()} CPU, {torch.get_num_threads()} torch threads, torch "
        f"{torch.__version__}, "
        f"`{command}` (one run; the machine is shared, so absolute times are noisy: compare the "
        "ratios).",
        "",
        "Tiny net of `experiments/tiny_cpu.py` (batch 8, 17x64x64 clips, fp32, AdamW, EMA), LoRA "
        f"rank {args.rank} "
        f"(alpha {args.rank}) on q/k/v/o + MLP, {args.pairs} alternating step pairs after a "
        "warm-up:",
        "",
        "| case | step (median) | trainable params | state: params + grads + AdamW + EMA | peak "
        "RSS (fresh process) |",
        "|---|---|---|---|---|",
        f"| full fine-tuning | {speed['full_step_ms']:.1f} ms | {speed['full_trainable']:,} | "
        f"{_mib(fs['total'])} ({_mib(fs['params'])} + {_mib(fs['grads'])} + {_mib(fs['adam'])} + "
        f"{_mib(fs['ema'])}) | "
        f"{rss['full']:.0f} MiB |",
        f"| LoRA | {speed['lora_step_ms']:.1f} ms ({speed['ratio']:.2f}x full) | "
        f"{speed['trainable']:,} "
        f"({100 * speed['trainable'] / speed['total']:.2f}% of {speed['total']:,}) | "
        f"{_mib(ls['total'])} ({_mib(ls['params'])} + {_mib(ls['grads'])} + {_mib(ls['adam'])} + "
        f"{_mib(ls['ema'])}) | "
        f"{rss['lora']:.0f} MiB |",
        "",
        "Cosmos's 2B recipe (`experiments/2b_nemo_lora.py`: rank 32 on q/k/v/o + MLP of the 28 "
        "blocks): "
        f"{frac2b['trainable']:,} trainable of {frac2b['total']:,} parameters "
        f"({100 * frac2b['trainable'] / frac2b['total']:.2f}%).",
        "",
        f"LoRA's step takes {speed['ratio']:.2f}x full fine-tuning's here: the backward still runs "
        "through every frozen layer (only the frozen weights' own gradients are skipped) and the "
        "adapters add small matmuls, which on a net this small weigh as much as what is saved. "
        "What LoRA saves is gradient, AdamW and EMA state (and checkpoint size), which grows with "
        "the net; the peak RSS of the tiny runs is the torch runtime's, the same for both.",
        "",
        "Quality on the synthetic set: the default experiment trained a base for "
        f"{q['base_steps']} steps "
        f"({q['seconds']['base']:.0f} s); from its DCP checkpoint, {q['steps']} more steps:",
        "",
        "| run | val loss at start | val loss after | EMA val loss after | wall time |",
        "|---|---|---|---|---|",
        f"| LoRA rank {args.rank} (base frozen) | {q['lora_val0']:.4f} | {q['lora_val']:.4f} | "
        f"{q['lora_val_ema']:.4f} | {q['seconds']['lora']:.0f} s |",
        f"| full fine-tuning (reference) | {q['full_val0']:.4f} | {q['full_val']:.4f} | "
        f"{q['full_val_ema']:.4f} | {q['seconds']['full']:.0f} s |",
        "",
        f"The base's own final validation loss was {q['base_val']:.4f}; the LoRA run starts "
        "exactly there "
        "(B = 0 at init). GPU (2B at 480p/720p): `tools/bench_lora_gpu.py`, not measured yet (no "
        "GPU here).",
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--pairs", type=int, default=20)
    p.add_argument("--base-steps", type=int, default=500)
    p.add_argument("--lora-steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--rss-case", help=argparse.SUPPRESS)
    p.add_argument("--rss-base", help=argparse.SUPPRESS)
    p.add_argument("--rss-steps", type=int, default=10, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rss_case:
        _rss_child(args.rss_case, Path(args.rss_base), args.rank, args.rss_steps)
        return 0
    import logging

    logging.disable(logging.WARNING)  # the runs' INFO chatter; results are printed below
    from cosmos_train.checkpoint.consolidated import save_consolidated

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        net = lazycfg.instantiate(lazycfg.load(TINY_CPU).model.config.net)  # the recipe's net
        net.init_weights()
        base = save_consolidated(tmp / "base.pt", net=net, dtype=None)
        speed = measure_speed(base, args.rank, args.pairs)
        rss = {case: peak_rss_mb(case, base, args.rank) for case in ("full", "lora")}
        frac2b = cosmos_2b_fraction()
        quality = measure_quality(tmp / "runs", args.base_steps, args.lora_steps, args.rank)
    command = "python tools/bench_lora.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(speed, rss, frac2b, quality, args, command.strip())
    print(text)
    if not args.no_write:
        replace_section(args.output, "bench_lora", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
