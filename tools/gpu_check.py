#!/usr/bin/env python
"""One-shot GPU check of the whole stack (run once on an H100; prints and saves a table).

    PYTHONPATH=. python tools/gpu_check.py                      # everything, ~4-6 minutes
    PYTHONPATH=. python tools/gpu_check.py --parts bare480,train480 --steps 5
    python tools/gpu_check.py --smoke                           # tiny CPU dry run of the script itself

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
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tools"):  # the repo, and this file as the module ``gpu_check``
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import lazycfg  # noqa: E402

#: Rough wall-time estimates per part on an H100 (seconds), used to skip parts that cannot finish.
ESTIMATES = {"tiny": 40, "bare480": 110, "train480": 110, "mem720": 70, "vae480": 40}
ALL_PARTS = ("tiny", "bare480", "train480", "mem720", "vae480")
from _docs_section import markers, replace_section  # noqa: E402  (tools/ is on sys.path when run or imported)
MARK_START, MARK_END = markers("gpu_check")

#: Smoke mode: the same code paths at toy sizes on CPU (to test this script without a GPU).
SMOKE_NET = dict(model_channels=64, num_blocks=2, num_heads=4, adaln_lora_dim=16, crossattn_proj_in_channels=96)


class PartTimeout(Exception):
    """A part ran past its time slot."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise PartTimeout("time slot exceeded")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _device(args: argparse.Namespace):
    import torch

    return torch.device("cpu" if args.smoke else "cuda")


def _sync(args: argparse.Namespace) -> None:
    import torch

    if not args.smoke:
        torch.cuda.synchronize()


def _reset_peak(args: argparse.Namespace) -> None:
    import torch

    if not args.smoke:
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(args: argparse.Namespace, rows: list[dict[str, Any]] | None = None) -> float | None:
    """Peak allocated GPU memory since the last reset, in GiB.

    For trainer runs pass their metrics rows: the trainer's MemoryStats callback resets the peak
    counter after every logged step (so each row holds its own window's peak), and the counter
    alone would only cover the window after the last log.
    """
    import torch

    if args.smoke:
        return None
    peaks = [torch.cuda.max_memory_allocated() / 2**30]
    peaks += [r["mem_peak_alloc_gib"] for r in rows or () if r.get("mem_peak_alloc_gib") is not None]
    return round(max(peaks), 1)


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    with contextlib.suppress(Exception):
        torch._dynamo.reset()  # drop compiled graphs (they reference the freed modules)


def _peak_flops(args: argparse.Namespace) -> float:
    if args.smoke:
        return 989e12
    import torch

    from cosmos_train.trainer.callbacks import peak_flops

    return peak_flops(torch.device("cuda")) or 989e12


def _res(args: argparse.Namespace, which: str) -> tuple[int, int, int]:
    """(frames, height, width) of the clips of a part."""
    if args.smoke:
        return (9, 32, 32)
    return {"480": (93, 480, 832), "720": (93, 704, 1280)}[which]


def _job_root(args: argparse.Namespace) -> str:
    root = Path(tempfile.gettempdir()) / f"gpu_check_{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(root)
    return str(root)


def _shrink_for_smoke(cfg: Any, args: argparse.Namespace) -> None:
    if not args.smoke:
        return
    net = cfg.model.config.net
    for k, v in SMOKE_NET.items():
        net[k] = v
    cfg.model.config.precision = "float32"
    cfg.trainer.parallelism.compile_blocks = False
    cfg.optimizer.fused = False


def _mock_data(cfg: Any, args: argparse.Namespace, which: str) -> None:
    """Replaces the (local mp4 folder) training data by deterministic mock clips of the same shape."""
    frames, height, width = _res(args, which)
    lazycfg.select(cfg, "data_train", "mock")
    loader = cfg.dataloader_train
    ds = loader.dataset
    ds.num_frames, ds.height, ds.width = frames, height, width
    ds.text_len = 8 if args.smoke else 512
    ds.text_dim = cfg.model.config.net.crossattn_proj_in_channels
    ds.length = 64
    loader.batch_size = 1
    loader.shuffle = False
    cfg.model.config.state_t = 1 + (frames - 1) // 4
    # A random 93-frame clip plus a [512, 100352] fp32 embedding is ~0.3 GB and ~0.5 s of CPU:
    # keep that off the step's critical path with worker processes, which pass batches through
    # /dev/shm. Where /dev/shm is small (a container default), generate two items once in this
    # process and repeat them instead.
    use_cache = args.data == "cached" or (args.data == "auto" and (args.smoke or _shm_free_gib() < 8))
    if use_cache:
        import gpu_check as this  # the importable name of this file, so config.yaml can name the class

        loader.dataset = lazycfg.L(this.RepeatItems)(dataset=ds, distinct=2)
        loader.num_workers = 0
        loader.pin_memory = False
        args.data_note = f"data: 2 cached items in-process (/dev/shm {_shm_free_gib():.1f} GiB free)"
    else:
        loader.num_workers = 4
        loader.pin_memory = not args.smoke
        loader.persistent_workers = True
        args.data_note = "data: 4 loader workers"


try:  # a Dataset subclass, so lazycfg's check accepts it as build_dataloader's dataset
    from torch.utils.data import Dataset as _Dataset
except ImportError:  # pragma: no cover - torch is a dependency
    _Dataset = object


class RepeatItems(_Dataset):
    """A map-style dataset repeating the first ``distinct`` items of ``dataset`` (built once)."""

    def __init__(self, *, dataset: Any, distinct: int = 2) -> None:
        self.length = len(dataset)
        self.items = [dataset[i] for i in range(distinct)]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.items[index % len(self.items)])
        item["sample_idx"] = index
        return item


def _shm_free_gib() -> float:
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return 0.0
    return st.f_bavail * st.f_frsize / 2**30


def _train_rows(job_dir: Path) -> list[dict[str, Any]]:
    path = job_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [r for r in (json.loads(line) for line in path.read_text().splitlines()) if r.get("split") == "train"]


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def _row(part: str, **values: Any) -> dict[str, Any]:
    return {"part": part, "status": "ok", **values}


# ---------------------------------------------------------------------------------------------
# parts
# ---------------------------------------------------------------------------------------------


def part_tiny(args: argparse.Namespace) -> dict[str, Any]:
    """experiments/tiny_cpu.py on CUDA for ``--tiny-steps`` steps."""
    import importlib.util

    from cosmos_train.launch import launch

    _job_root(args)
    n = args.tiny_steps
    overrides = [
        f"trainer.max_iter={n}", f"trainer.logging_iter={min(5, n)}", f"trainer.validation_iter={n}",
        f"checkpoint.save_iter={n}", f"job.name=gpu_check_tiny_{os.getpid()}",
        f"trainer.callbacks.every_n_sample_reg.every_n={n}", f"trainer.callbacks.every_n_sample_ema.every_n={n}",
        "trainer.callbacks.every_n_sample_reg.num_steps=10", "trainer.callbacks.every_n_sample_ema.num_steps=10",
    ]
    has_av = importlib.util.find_spec("av") is not None
    if not has_av:  # the sample writer needs PyAV
        overrides += ["~trainer.callbacks.every_n_sample_reg", "~trainer.callbacks.every_n_sample_ema"]
    cfg = lazycfg.load(str(ROOT / "experiments" / "tiny_cpu.py"), overrides)
    _reset_peak(args)
    t0 = time.perf_counter()
    summary = launch(cfg)
    wall = time.perf_counter() - t0
    job = Path(cfg.job.path_local)
    rows = _train_rows(job)
    losses = [r["loss"] for r in rows]
    return _row(
        "tiny (CPU default on CUDA)",
        steps=summary["iteration"],
        s_per_step=round(rows[-1]["step_time_s"], 4) if rows else None,
        peak_gib=_peak_gib(args, rows),
        warmup_s=round(wall, 1),
        notes=f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; checkpoint {'ok' if (job / 'checkpoints').is_dir() else 'MISSING'}; "
        f"samples {'written' if has_av and (job / 'samples').is_dir() else 'skipped (no PyAV)' if not has_av else 'MISSING'}",
    )


def part_bare480(args: argparse.Namespace) -> dict[str, Any]:
    """A bare PyTorch step of the 480p experiment's net with its settings (no trainer, no model class)."""
    import torch

    from cosmos_train.distributed.parallelize import apply_compile
    from cosmos_train.nets.checkpointing import apply_activation_checkpointing, normalize_ac_mode
    from cosmos_train.nets.dit import MiniTrainDiT
    from cosmos_train.optim.optimizers import build_adamw
    from cosmos_train.utils.flops import dit_train_flops_per_sample

    cfg = lazycfg.load(str(ROOT / "experiments" / "2b_nemo_480p.py"))
    _shrink_for_smoke(cfg, args)
    _ac_override(cfg, args.ac480)
    if args.no_compile:
        cfg.trainer.parallelism.compile_blocks = False
    dev = _device(args)
    # The trainer's numeric flags (TF32 matters for the fp32 modulation matmuls).
    torch.backends.cuda.matmul.allow_tf32 = cfg.trainer.allow_tf32
    torch.backends.cudnn.allow_tf32 = cfg.trainer.allow_tf32
    torch.backends.cudnn.benchmark = not cfg.trainer.cudnn.deterministic
    kw = {k: cfg.model.config.net[k] for k in cfg.model.config.net}
    with torch.device("meta"):
        net = MiniTrainDiT(**kw)
    net = net.to_empty(device=dev)
    torch.manual_seed(0)
    with torch.no_grad():
        net.init_weights()
    ac = normalize_ac_mode(cfg.trainer.parallelism.activation_checkpointing)
    net = apply_activation_checkpointing(net, mode=ac)
    if cfg.trainer.parallelism.compile_blocks:
        apply_compile(net)
    opt_cfg = cfg.optimizer
    opt = build_adamw(params=list(net.named_parameters()), lr=opt_cfg.lr, weight_decay=opt_cfg.weight_decay,
                      betas=opt_cfg.betas, fused=opt_cfg.fused)
    params = [p for p in net.parameters()]
    ema = [p.detach().clone() for p in params]
    clip = cfg.trainer.callbacks.grad_clip.clip_norm
    frames, height, width = _res(args, "480")
    t, h, w = 1 + (frames - 1) // 4, height // 8, width // 8
    text_len = 8 if args.smoke else 512
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(1, 16, t, h, w, device=dev, generator=g)
    mask = torch.zeros(1, 1, t, h, w, device=dev)
    mask[:, :, :1] = 1.0
    inputs = dict(
        x_B_C_T_H_W=x,
        timesteps_B_T=torch.full((1, 1), 500.0, device=dev),
        crossattn_emb=torch.randn(1, text_len, kw["crossattn_proj_in_channels"], device=dev, generator=g),
        condition_video_input_mask_B_C_T_H_W=mask,
        fps=torch.full((1,), 16.0, device=dev),
        padding_mask=torch.zeros(1, 1, height, width, device=dev),
    )
    target = torch.randn_like(x)
    dtype = torch.bfloat16 if cfg.model.config.precision == "bfloat16" else torch.float32

    def step() -> None:
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype != torch.float32):
            out = net(**inputs)
        loss = (out.float() - target).square().mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
        opt.step()
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            torch._foreach_lerp_(ema, params, 0.01)

    _reset_peak(args)
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    _sync(args)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    _sync(args)
    dt = (time.perf_counter() - t0) / args.steps
    flops = dit_train_flops_per_sample(kw, (t, h, w), text_len=text_len)
    return _row(
        "bare480 (bare PyTorch step, 2B 480p)",
        steps=args.steps,
        s_per_step=round(dt, 3),
        tflops=round(flops / dt / 1e12, 1),
        mfu=round(flops / dt / _peak_flops(args), 4),
        peak_gib=_peak_gib(args),
        warmup_s=round(warm, 1),
        notes=f"AC {ac}, compile {'on' if cfg.trainer.parallelism.compile_blocks else 'off'}, "
        f"{t * (h // 2) * (w // 2)} tokens; {_dynamo_stats()}",
    )


def _dynamo_stats() -> str:
    """Compiled-graph counters (recompiles would distort the measured steps)."""
    try:
        from torch._dynamo.utils import counters

        stats = counters["stats"]
        return f"dynamo: {stats.get('unique_graphs', 0)} graphs, {stats.get('calls_captured', 0)} captures"
    except Exception:  # noqa: BLE001 - diagnostics only
        return "dynamo: n/a"


def _ac_override(cfg: Any, value: str | None) -> None:
    if value:
        cfg.trainer.parallelism.activation_checkpointing = value


def _trainer_run(args: argparse.Namespace, experiment: str, which: str, steps: int, extra: list[str]) -> tuple[Any, list[dict], float]:
    """Runs an experiment through the launcher on mock data; returns (config, train rows, wall seconds)."""
    from cosmos_train.launch import launch

    _job_root(args)
    overrides = [
        "tokenizer=standin", "ckpt_type=disabled", f"trainer.max_iter={steps}", "trainer.logging_iter=1",
        "trainer.run_validation=false", f"job.name=gpu_check_{which}_{os.getpid()}",
        "~trainer.callbacks.every_n_sample_reg", "~trainer.callbacks.every_n_sample_ema",
        "~trainer.callbacks.progress_bar", "model.config.fsdp_shard_size=1",
        # Mock clips carry their text embeddings; no released weights (nothing to download).
        "text_encoder=precomputed", "checkpoint.load_path=''", *extra,
    ]
    cfg = lazycfg.load(str(ROOT / "experiments" / experiment), overrides)
    _shrink_for_smoke(cfg, args)
    _mock_data(cfg, args, which)
    if args.no_compile:
        cfg.trainer.parallelism.compile_blocks = False
    _reset_peak(args)
    t0 = time.perf_counter()
    launch(cfg)
    wall = time.perf_counter() - t0
    return cfg, _train_rows(Path(cfg.job.path_local)), wall


def part_train480(args: argparse.Namespace) -> dict[str, Any]:
    """experiments/2b_nemo_480p.py through the launcher: trainer speed vs the bare step."""
    from cosmos_train.utils.flops import dit_train_flops_per_sample

    extra = [f"trainer.parallelism.activation_checkpointing={args.ac480}"] if args.ac480 else []
    cfg, rows, wall = _trainer_run(args, "2b_nemo_480p.py", "480", args.warmup + args.steps, extra)
    measured = [r for r in rows if r["iteration"] > args.warmup]
    if not measured:
        raise RuntimeError(f"no measured steps in metrics.jsonl ({len(rows)} rows)")
    dt = _median([r["step_time_s"] for r in measured])
    warm = sum(r["step_time_s"] for r in rows if r["iteration"] <= args.warmup)
    frames, height, width = _res(args, "480")
    t, h, w = 1 + (frames - 1) // 4, height // 8, width // 8
    kw = {k: cfg.model.config.net[k] for k in cfg.model.config.net}
    flops = dit_train_flops_per_sample(kw, (t, h, w), text_len=8 if args.smoke else 512)
    return _row(
        "train480 (trainer, 2b_nemo_480p)",
        steps=len(measured),
        s_per_step=round(dt, 3),
        tflops=round(flops / dt / 1e12, 1),
        mfu=round(flops / dt / _peak_flops(args), 4),
        peak_gib=_peak_gib(args, rows),
        warmup_s=round(warm, 1),
        notes=f"AC {cfg.trainer.parallelism.activation_checkpointing}, compile "
        f"{'on' if cfg.trainer.parallelism.compile_blocks else 'off'}; trainer MFU "
        f"{measured[-1].get('mfu', float('nan')):.3f}; loss {measured[-1]['loss']:.3f}; total {wall:.0f} s; "
        f"{getattr(args, 'data_note', '')}; {_dynamo_stats()}",
    )


def part_mem720(args: argparse.Namespace) -> dict[str, Any]:
    """One unsharded 720p step of experiments/2b_nemo.py; tries the AC modes of --ac720 in order."""
    import torch

    attempts = []
    for mode in [m for m in args.ac720.split(",") if m]:
        extra = [f"trainer.parallelism.activation_checkpointing={mode}"]
        if args.compile720 and not args.no_compile:
            extra.append("trainer.parallelism.compile_blocks=true")
        oom = None
        try:
            cfg, rows, wall = _trainer_run(args, "2b_nemo.py", "720", 1, extra)
        except torch.OutOfMemoryError as exc:
            oom = str(exc).splitlines()[0][:80]
        if oom is not None:
            # Outside the except block: the failed attempt's frames (and its tensors) are gone.
            attempts.append(f"{mode}: OOM ({oom})")
            _free_memory()
            continue
        return _row(
            "mem720 (trainer, 2b_nemo 720p, 1 GPU)",
            steps=1,
            s_per_step=round(rows[-1]["step_time_s"], 2) if rows else None,
            peak_gib=_peak_gib(args, rows),
            warmup_s=round(wall, 1),
            notes="; ".join(attempts + [f"AC {mode} fits" + ("" if args.smoke else
                    f" (reserved {torch.cuda.max_memory_reserved() / 2**30:.1f} GiB)")]),
        )
    return {"part": "mem720 (trainer, 2b_nemo 720p, 1 GPU)", "status": "FAILED: OOM in every AC mode", "notes": "; ".join(attempts)}


def part_vae480(args: argparse.Namespace) -> dict[str, Any]:
    """Wan2.1 VAE (random init) encode of one 480p clip."""
    import torch

    from cosmos_train.tokenizers.wan21 import Wan21VAE

    dev = _device(args)
    frames, height, width = _res(args, "480")
    vae = Wan21VAE(dtype="float32" if args.smoke else "bfloat16").to(dev)
    video = torch.rand(1, 3, frames, height, width, device=dev) * 2 - 1
    _reset_peak(args)
    t0 = time.perf_counter()
    with torch.no_grad():
        vae.encode(video)
    _sync(args)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.no_grad():
        lat = vae.encode(video)
    _sync(args)
    dt = time.perf_counter() - t0
    return _row("vae480 (Wan2.1 encode, random weights)", steps=1, s_per_step=round(dt, 3), peak_gib=_peak_gib(args),
                warmup_s=round(warm, 1), notes=f"latent {tuple(lat.shape)}")


PARTS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "tiny": part_tiny,
    "bare480": part_bare480,
    "train480": part_train480,
    "mem720": part_mem720,
    "vae480": part_vae480,
}


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1%}" if v < 1.0 and v > 0 and False else f"{v:g}"
    return str(v)


def render(rows: list[dict[str, Any]], header: dict[str, Any]) -> str:
    lines = [
        "## GPU check (`tools/gpu_check.py`)",
        "",
        f"{header['device']}, torch {header['torch']}, {header['date']}; {header['steps']} measured steps after "
        f"{header['warmup']} warm-up steps (warm-up, which includes compilation, timed separately); MFU against "
        f"{header['peak_tflops']:.0f} TFLOP/s dense bf16; FLOPs count attention (trainer_spec §2.5). Total "
        f"{header['total_s']:.0f} s." + (f" {header['note']}." if header.get("note") else ""),
        "",
        "| part | status | s/step | TFLOP/s | MFU | peak GiB | warm-up s | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mfu = f"{r['mfu']:.1%}" if isinstance(r.get("mfu"), float) else "-"
        lines.append(
            f"| {r['part']} | {r['status']} | {_fmt(r.get('s_per_step'))} | {_fmt(r.get('tflops'))} | {mfu} | "
            f"{_fmt(r.get('peak_gib'))} | {_fmt(r.get('warmup_s'))} | {r.get('notes', '')} |"
        )
    bare = next((r for r in rows if r["part"].startswith("bare480") and r["status"] == "ok"), None)
    train = next((r for r in rows if r["part"].startswith("train480") and r["status"] == "ok"), None)
    mem = next((r for r in rows if r["part"].startswith("mem720")), None)
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    if bare and train:
        ratio = bare["s_per_step"] / train["s_per_step"]
        lines.append(f"| trainer speed >= 0.95x the bare step (480p) | {ratio:.3f}x | {'yes' if ratio >= 0.95 else 'no'} |")
    else:
        lines.append("| trainer speed >= 0.95x the bare step (480p) | not measured | - |")
    if train:
        lines.append(f"| MFU >= 45% at 480p (trainer) | {train['mfu']:.1%} | {'yes' if train['mfu'] >= 0.45 else 'no'} |")
    if mem is not None:
        fits = mem["status"] == "ok"
        lines.append(f"| 2B fits one 80 GB GPU at 720p | {mem.get('peak_gib', '-')} GiB peak allocated | {'yes' if fits else 'no'} |")
    return "\n".join(lines) + "\n"


def write_section(doc: Path, text: str) -> None:
    """Replaces the gpu_check section of ``doc`` (created if missing), leaving other sections alone."""
    replace_section(doc, "gpu_check", text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tools/gpu_check.py", description="One-shot GPU check of cosmos_train.")
    p.add_argument("--parts", default=",".join(ALL_PARTS), help=f"comma list of {', '.join(ALL_PARTS)}")
    p.add_argument("--steps", type=int, default=3, help="measured steps of bare480/train480")
    p.add_argument("--warmup", type=int, default=2, help="warm-up (compile) steps of bare480/train480, timed separately")
    p.add_argument("--tiny-steps", type=int, default=20, help="steps of the tiny part")
    p.add_argument("--budget", type=float, default=400.0, help="global time budget in seconds")
    p.add_argument("--ac480", default=None, help="AC mode at 480p (default: the experiment's)")
    p.add_argument("--ac720", default="predict2_2b_720_aggressive,block",
                   help="AC modes tried in order for the 720p step (default: the experiment's, then block)")
    p.add_argument("--compile720", action="store_true", help="compile blocks for the 720p step (+~50 s)")
    p.add_argument("--no-compile", action="store_true", help="no per-block torch.compile anywhere")
    p.add_argument("--doc", default=str(ROOT / "docs" / "benchmarks.md"), help="markdown file to update ('' to skip)")
    p.add_argument("--data", choices=("auto", "workers", "cached"), default="auto",
                   help="mock data through 4 loader workers, or 2 items cached in-process (auto: workers "
                   "when /dev/shm has >= 8 GiB free)")
    p.add_argument("--smoke", action="store_true", help="toy sizes on CPU (tests this script, numbers meaningless)")
    p.add_argument("--write-doc-from", metavar="JSON",
                   help="only re-render a saved gpu_check.json (e.g. fetched from the GPU machine's $OUT) into --doc")
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
    import torch

    start = time.perf_counter()
    if not args.smoke and not torch.cuda.is_available():
        print("error: no CUDA device (use --smoke to test the script on CPU)", file=sys.stderr)
        return 2
    header = {
        "device": "CPU (smoke)" if args.smoke else torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "steps": args.steps,
        "warmup": args.warmup,
        "peak_tflops": _peak_flops(args) / 1e12,
    }
    print(f"gpu_check: {header['device']}, torch {header['torch']}, parts {args.parts}, budget {args.budget:.0f} s", flush=True)
    rows: list[dict[str, Any]] = []
    signal.signal(signal.SIGALRM, _on_alarm)
    try:
        for name in args.parts:
            left = args.budget - (time.perf_counter() - start)
            if left < ESTIMATES[name] * (0.05 if args.smoke else 1.0):
                rows.append({"part": name, "status": f"skipped (time budget: {left:.0f} s left, needs ~{ESTIMATES[name]} s)"})
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
                row = {"part": name, "status": f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"}
            finally:
                signal.alarm(0)
                _free_memory()
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
            (Path(out) / "gpu_check.json").write_text(json.dumps({"header": header, "rows": rows}, indent=1))
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
