#!/usr/bin/env python
"""Data-path benchmark on CPU: training from video vs from the latent cache, and loader throughput.

One run builds, in a temporary folder, a folder dataset of real mp4 clips (the synthetic
moving shapes of the tiny experiment: 21 frames of 64x64, 17-frame windows), tar shards of it
(``tools/make_shards.py``'s code) and its latent cache (``tools/cache_latents.py``'s code), then
measures, alternating the cases so that a busy shared machine hurts all of them alike:

1. steps/s of ``experiments/tiny_cpu.py`` trained from the mp4 folder (decode + stand-in tokenizer
   encode every step, loader in the main process) and from the latent cache, same batches; the
   median ``step_time_s`` of the trainer's metrics rows after warm-up;
2. loader throughput in clips/s per worker (``num_workers=0``: the main process is the one worker)
   for the folder, the shards (``sampling="shards"``) and the cache.

Usage::

    python tools/bench_data.py [--clips 48] [--steps 25] [--rounds 2] [--no-write]

Writes its section of ``docs/benchmarks.md`` (between the ``bench_data`` markers). Timings are
never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "tools"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from _docs_section import replace_section  # noqa: E402

TINY = str(ROOT / "experiments" / "tiny_cpu.py")


def make_folder(root: Path, clips: int) -> Path:
    """``videos/*.mp4``, ``metas/*.txt``, ``emb/*.pt`` from tiny_cpu's synthetic clips."""
    import torch

    from cosmos_train.data.synthetic import SyntheticVideoDataset
    from cosmos_train.data.video_io import write_mp4

    source = SyntheticVideoDataset(
        num_frames=21, height=64, width=64, length=clips, text_len=8, text_dim=32
    )
    for i in range(clips):
        item = source[i]
        write_mp4(root / "videos" / f"clip{i:04d}.mp4", item["video"], fps=16)
        (root / "metas").mkdir(exist_ok=True)
        (root / "metas" / f"clip{i:04d}.txt").write_text(item["ai_caption"])
        (root / "emb").mkdir(exist_ok=True)
        tokens = int(item["t5_text_mask"].sum())
        torch.save(item["t5_text_embeddings"][:tokens].clone(), root / "emb" / f"clip{i:04d}.pt")
    return root


def video_overrides(folder: Path) -> list[str]:
    return [
        "data_train=local_video",
        f"dataloader_train.dataset.dataset_dir={folder}",
        "dataloader_train.dataset.num_frames=17",
        "dataloader_train.dataset.video_size=[64,64]",
        "dataloader_train.dataset.text_embeddings_subdir=emb",
        "dataloader_train.dataset.text_len=8",
        "dataloader_train.dataset.text_dim=32",
        "dataloader_train.num_workers=0",
        "dataloader_train.pin_memory=false",
    ]


def cache_overrides(cache: Path) -> list[str]:
    return [
        "data_train=latent_cache",
        f"dataloader_train.dataset.cache_dir={cache}",
        "dataloader_train.sampling=distributed",
        "dataloader_train.num_workers=0",
        "dataloader_train.pin_memory=false",
    ]


def train_step_times(overrides: list[str], steps: int, out: Path, name: str) -> list[float]:
    """``step_time_s`` of every step of a tiny_cpu run (logging every step)."""
    import lazycfg
    from cosmos_train.launch import launch

    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(out)
    config = lazycfg.load(
        TINY,
        overrides
        + [
            f"job.name={name}",
            f"trainer.max_iter={steps}",
            "trainer.logging_iter=1",
            "trainer.run_validation=false",
            f"checkpoint.save_iter={steps + 1}",
            "job.wandb_mode=disabled",
            "ckpt_type=disabled",
        ],
    )
    launch(config)
    rows = (Path(config.job.path_local) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(r)["step_time_s"] for r in rows if json.loads(r).get("split") == "train"]


def loader_rate(dataset, sampling: str, clips: int) -> float:
    """Clips per second through ``build_dataloader(num_workers=0, batch_size=1)``."""
    from cosmos_train.data.loader import build_dataloader

    loader = build_dataloader(
        dataset=dataset, batch_size=1, num_workers=0, sampling=sampling, shuffle=True, seed=0
    )
    start, n = time.perf_counter(), 0
    for _ in loader:
        n += 1
        if n >= clips:
            break
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/bench_data.py", description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=48, help="clips in the generated dataset")
    parser.add_argument("--steps", type=int, default=25, help="training steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="steps left out of the medians")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of every case")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: stable on shared CPUs)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)

    import logging

    import torch

    import lazycfg
    from cosmos_train.data.latent_cache import LatentCacheDataset, build_cache
    from cosmos_train.data.local_video import LocalVideoDataset
    from cosmos_train.data.sharded import ShardedVideoDataset, write_clip_shards

    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)  # the runs' INFO/progress lines would drown the table
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        tmp_path = Path(tmp)
        folder = make_folder(tmp_path / "folder", args.clips)
        t0 = time.perf_counter()
        write_clip_shards(
            folder,
            tmp_path / "shards",
            samples_per_shard=16,
            text_embeddings_subdir="emb",
            log=lambda _: None,
        )
        shard_s = time.perf_counter() - t0
        config = lazycfg.resolve(lazycfg.load(TINY, video_overrides(folder)))
        t0 = time.perf_counter()
        build_cache(config, tmp_path / "cache", samples_per_shard=16, log=lambda _: None)
        cache_s = time.perf_counter() - t0

        kw = dict(num_frames=17, video_size=(64, 64), text_len=8, text_dim=32)
        sources = {
            "folder (mp4 decode)": (
                LocalVideoDataset(dataset_dir=folder, text_embeddings_subdir="emb", **kw),
                "distributed",
            ),
            "tar shards (mp4 decode)": (
                ShardedVideoDataset(shards_dir=tmp_path / "shards", **kw),
                "shards",
            ),
            "latent cache": (LatentCacheDataset(cache_dir=tmp_path / "cache", **kw), "shards"),
        }
        rates: dict[str, list[float]] = {k: [] for k in sources}
        steps: dict[str, list[float]] = {"video": [], "cache": []}
        for r in range(args.rounds):
            for name, (dataset, sampling) in sources.items():
                rates[name].append(loader_rate(dataset, sampling, args.clips))
            for case, overrides in (
                ("video", video_overrides(folder)),
                ("cache", cache_overrides(tmp_path / "cache")),
            ):
                times = train_step_times(overrides, args.steps, tmp_path / "out", f"{case}{r}")
                steps[case].extend(times[args.warmup :])
                print(
                    f"round {r}: {case} median step "
                    f"{statistics.median(times[args.warmup :]):.4f} s",
                    flush=True,
                )

    med = {k: statistics.median(v) for k, v in steps.items()}
    rate = {k: statistics.median(v) for k, v in rates.items()}
    base = rate["folder (mp4 decode)"]
    lines = [
        "## Data path on CPU (`tools/bench_data.py`)",
        "",
        f"`python tools/bench_data.py --clips {args.clips} --steps {args.steps} --rounds "
        f"{args.rounds} --threads {args.threads}` on {platform.machine()} "
        f"({os.cpu_count()} CPUs, shared with other jobs), torch {torch.__version__}. The tiny "
        "experiment (`experiments/tiny_cpu.py`, batch 8, 17 frames of 64x64, stand-in tokenizer) "
        "on "
        f"{args.clips} real mp4 clips; cases alternate, medians after {args.warmup} warm-up steps.",
        "",
        "| training step | median step | steps/s | vs from video |",
        "|---|---|---|---|",
        f"| from video (mp4 decode + encode, loader in-process) | {med['video'] * 1e3:.1f} ms | "
        f"{1 / med['video']:.2f} | 1.00x |",
        f"| from the latent cache | {med['cache'] * 1e3:.1f} ms | {1 / med['cache']:.2f} | "
        f"{med['video'] / med['cache']:.2f}x faster |",
        "",
        "| loader source (`num_workers=0`, batch 1) | clips/s per worker | vs folder |",
        "|---|---|---|",
        *[f"| {k} | {v:.1f} | {v / base:.2f}x |" for k, v in rate.items()],
        "",
        f"One-time costs: packing {args.clips} clips into shards {shard_s:.2f} s; caching their "
        f"latents {cache_s:.2f} s. The stand-in tokenizer is a few pooling ops, so here the "
        "cache saves mostly mp4 decoding; the Wan2.1 VAE encoder's share of a real step is what "
        "`tools/bench_e2e_gpu.py` measures on a GPU.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        replace_section(args.output, "bench_data", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
