"""Helpers shared by the gpu_check parts (and tools/bench_lora_gpu.py): devices, memory, mock data,
trainer runs through the launcher."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.utils.data

import lazycfg

ROOT = Path(__file__).resolve().parents[2]

#: Smoke mode: the same code paths at toy sizes on CPU (to test the script without a GPU).
SMOKE_NET = dict(
    model_channels=64, num_blocks=2, num_heads=4, adaln_lora_dim=16, crossattn_proj_in_channels=96
)


def no_device_error(args: argparse.Namespace) -> bool:
    """Prints the error line and returns True when a real (non-smoke) run has no CUDA device."""
    import torch

    if args.smoke or torch.cuda.is_available():
        return False
    print("error: no CUDA device (use --smoke to test the script on CPU)", file=sys.stderr)
    return True


def run_header(args: argparse.Namespace) -> dict[str, Any]:
    """Device, torch version, date, step counts and the FLOP peak of a benchmark run."""
    import torch

    return {
        "device": "CPU (smoke)" if args.smoke else torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "steps": args.steps,
        "warmup": args.warmup,
        "peak_tflops": peak_flops(args) / 1e12,
    }


def device(args: argparse.Namespace):
    import torch

    return torch.device("cpu" if args.smoke else "cuda")


def sync(args: argparse.Namespace) -> None:
    import torch

    if not args.smoke:
        torch.cuda.synchronize()


def reset_peak(args: argparse.Namespace) -> None:
    import torch

    if not args.smoke:
        torch.cuda.reset_peak_memory_stats()


def peak_gib(args: argparse.Namespace, rows: list[dict[str, Any]] | None = None) -> float | None:
    """Peak allocated GPU memory since the last reset, in GiB.

    For trainer runs pass their metrics rows: the trainer's MemoryStats callback resets the peak
    counter after every logged step (so each row holds its own window's peak), and the counter
    alone would only cover the window after the last log.
    """
    import torch

    if args.smoke:
        return None
    peaks = [torch.cuda.max_memory_allocated() / 2**30]
    peaks += [
        r["mem_peak_alloc_gib"] for r in rows or () if r.get("mem_peak_alloc_gib") is not None
    ]
    return round(max(peaks), 1)


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    with contextlib.suppress(Exception):
        torch._dynamo.reset()  # drop compiled graphs (they reference the freed modules)


def peak_flops(args: argparse.Namespace) -> float:
    if args.smoke:
        return 989e12
    import torch

    from cosmos_train.trainer.callbacks import peak_flops as device_peak_flops

    return device_peak_flops(torch.device("cuda")) or 989e12


def clip_shape(args: argparse.Namespace, which: str) -> tuple[int, int, int]:
    """(frames, height, width) of the clips of a part."""
    if args.smoke:
        return (9, 32, 32)
    return {"480": (93, 480, 832), "720": (93, 704, 1280)}[which]


def latent_shape(args: argparse.Namespace, which: str) -> tuple[int, int, int]:
    """(t, h, w) latent shape of the 4x8x8 tokenizers for :func:`clip_shape`."""
    frames, height, width = clip_shape(args, which)
    return 1 + (frames - 1) // 4, height // 8, width // 8


def text_len(args: argparse.Namespace) -> int:
    return 8 if args.smoke else 512


def job_root(args: argparse.Namespace) -> str:
    root = Path(tempfile.gettempdir()) / f"gpu_check_{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(root)
    return str(root)


def shrink_for_smoke(cfg: Any, args: argparse.Namespace) -> None:
    if not args.smoke:
        return
    net = cfg.model.config.net
    for k, v in SMOKE_NET.items():
        net[k] = v
    cfg.model.config.precision = "float32"
    cfg.trainer.parallelism.compile_blocks = False
    cfg.optimizer.fused = False


def net_kwargs(cfg: Any) -> dict[str, Any]:
    net = cfg.model.config.net
    return {k: net[k] for k in net}


def mock_data(cfg: Any, args: argparse.Namespace, which: str) -> None:
    """Replaces the training data (a local mp4 folder) by deterministic mock clips of that shape."""
    frames, height, width = clip_shape(args, which)
    lazycfg.select(cfg, "data_train", "mock")
    loader = cfg.dataloader_train
    ds = loader.dataset
    ds.num_frames, ds.height, ds.width = frames, height, width
    ds.text_len = text_len(args)
    ds.text_dim = cfg.model.config.net.crossattn_proj_in_channels
    ds.length = 64
    loader.batch_size = 1
    loader.shuffle = False
    cfg.model.config.state_t = 1 + (frames - 1) // 4
    # A random 93-frame clip plus a [512, 100352] fp32 embedding is ~0.3 GB and ~0.5 s of CPU:
    # keep that off the step's critical path with worker processes, which pass batches through
    # /dev/shm. Where /dev/shm is small (a container default), generate two items once in this
    # process and repeat them instead.
    use_cache = args.data == "cached" or (
        args.data == "auto" and (args.smoke or shm_free_gib() < 8)
    )
    if use_cache:
        loader.dataset = lazycfg.L(RepeatItems)(dataset=ds, distinct=2)
        loader.num_workers = 0
        loader.pin_memory = False
        args.data_note = f"data: 2 cached items in-process (/dev/shm {shm_free_gib():.1f} GiB free)"
    else:
        loader.num_workers = 4
        loader.pin_memory = not args.smoke
        loader.persistent_workers = True
        args.data_note = "data: 4 loader workers"


class RepeatItems(torch.utils.data.Dataset):
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


def shm_free_gib() -> float:
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return 0.0
    return st.f_bavail * st.f_frsize / 2**30


def train_rows(job_dir: Path) -> list[dict[str, Any]]:
    path = job_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [
        r
        for r in (json.loads(line) for line in path.read_text().splitlines())
        if r.get("split") == "train"
    ]


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def row(part: str, **values: Any) -> dict[str, Any]:
    return {"part": part, "status": "ok", **values}


def dynamo_stats() -> str:
    """Compiled-graph counters (recompiles would distort the measured steps)."""
    try:
        from torch._dynamo.utils import counters

        stats = counters["stats"]
        graphs, captures = stats.get("unique_graphs", 0), stats.get("calls_captured", 0)
        return f"dynamo: {graphs} graphs, {captures} captures"
    except Exception:  # noqa: BLE001 - diagnostics only
        return "dynamo: n/a"


def trainer_run(
    args: argparse.Namespace, experiment: str, which: str, steps: int, extra: list[str]
) -> tuple[Any, list[dict], float]:
    """Runs an experiment through the launcher on mock data.

    Returns:
        (config, train rows, wall seconds).
    """
    from cosmos_train.launch import launch

    job_root(args)
    overrides = [
        # Timing only: random net weights (no released checkpoint) and mock clips that carry their
        # text embeddings (no online text encoder).
        "tokenizer=standin",
        "text_encoder=precomputed",
        "ckpt_type=disabled",
        "checkpoint.load_path=''",
        f"trainer.max_iter={steps}",
        "trainer.logging_iter=1",
        "trainer.run_validation=false",
        f"job.name=gpu_check_{which}_{os.getpid()}",
        "~trainer.callbacks.every_n_sample_reg",
        "~trainer.callbacks.every_n_sample_ema",
        "~trainer.callbacks.progress_bar",
        "model.config.fsdp_shard_size=1",
        *extra,
    ]
    cfg = lazycfg.load(str(ROOT / "experiments" / experiment), overrides)
    shrink_for_smoke(cfg, args)
    mock_data(cfg, args, which)
    if args.no_compile:
        cfg.trainer.parallelism.compile_blocks = False
    reset_peak(args)
    t0 = time.perf_counter()
    launch(cfg)
    wall = time.perf_counter() - t0
    return cfg, train_rows(Path(cfg.job.path_local)), wall
