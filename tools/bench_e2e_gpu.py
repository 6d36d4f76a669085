#!/usr/bin/env python
"""End-to-end 2B 480p training step on one GPU: online VAE encoding vs the latent cache vs DiT-only.

    PYTHONPATH=. python tools/bench_e2e_gpu.py                  # ~5-8 minutes on an H100
    PYTHONPATH=. python tools/bench_e2e_gpu.py --vae-ckpt Wan2.1/vae --text online
    python tools/bench_e2e_gpu.py --smoke                       # tiny CPU dry run of the script

It writes ``--clips`` real mp4 clips (93 frames of 480x832, moving shapes) and their caption
embeddings into a temporary folder, then runs ``experiments/2b_nemo_480p.py`` through the launcher
(the real trainer, model, loader, AC and per-block compile settings of that experiment) in three
cases, each ``--warmup`` + ``--steps`` steps:

* ``online``: the mp4 folder (``data_train=local_video``, 4 loader workers): decode, Wan2.1 VAE
  encode of the 93 frames and the DiT step, every step;
* ``cached``: the same clips encoded once by ``tools/cache_latents.py``'s code
  (``data_train=latent_cache``, 2 workers); the model skips the VAE's encoder;
* ``dit_only``: two cached items repeated in-process (no loader cost): the DiT step alone.

MFU counts only the DiT's training FLOPs (``cosmos_train.utils.flops``, attention included).
A fourth run repeats ``online`` with synchronising timers around the data wait, the VAE encode
and the text encoder (``--text online``: the experiment's Reason1 encoder; ``precomputed``: the
embedding files, no encoder) and reports each one's share of the step time.

The VAE is randomly initialised unless ``--vae-ckpt`` names its weights (timing is the same);
``--text online`` needs the Reason1 weights in the Hugging Face cache. Results are printed as a
table, written to ``$OUT/bench_e2e_gpu.{md,json}`` when ``$OUT`` is set, and to the
``bench_e2e_gpu`` section of docs/benchmarks.md with ``--write-doc``. Goal (issue 16): the cached
step within 3% of the DiT-only step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tools"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import lazycfg  # noqa: E402

SMOKE_NET = dict(
    model_channels=64,
    num_blocks=2,
    num_heads=2,
    crossattn_emb_channels=32,
    crossattn_proj_in_channels=48,
)


def _shape(args: argparse.Namespace) -> tuple[int, int, int, int, int]:
    """(frames, height, width, text_len, text_dim) of the clips."""
    if args.smoke:
        return 9, 32, 32, 8, SMOKE_NET["crossattn_proj_in_channels"]
    return 93, 480, 832, 512, 100352


def make_clips(root: Path, args: argparse.Namespace) -> Path:
    """``videos/*.mp4``, ``metas/*.txt``, ``emb/*.pt`` (one caption embedding, hard-linked)."""
    import torch

    from cosmos_train.data.video_io import write_mp4

    frames, height, width, text_len, text_dim = _shape(args)
    (root / "metas").mkdir(parents=True, exist_ok=True)
    (root / "emb").mkdir(exist_ok=True)
    emb = root / "emb" / "clip000.pt"
    torch.save(
        torch.randn(text_len, text_dim, generator=torch.Generator().manual_seed(0)).to(
            torch.bfloat16
        ),
        emb,
    )
    for i in range(args.clips):
        video = torch.full((3, frames, height, width), 30, dtype=torch.uint8)
        size = height // 4
        for t in range(frames):  # a square crossing the frame
            x = (i * 37 + t * 5) % (width - size)
            video[i % 3, t, size : 2 * size, x : x + size] = 220
        write_mp4(root / "videos" / f"clip{i:03d}.mp4", video, fps=16)
        (root / "metas" / f"clip{i:03d}.txt").write_text("A video of a moving square.")
        if i:
            os.link(emb, root / "emb" / f"clip{i:03d}.pt")
    return root


def overrides(args: argparse.Namespace, folder: Path, name: str) -> list[str]:
    frames, height, width, text_len, text_dim = _shape(args)
    out = [
        "ckpt_type=disabled",
        f"trainer.max_iter={args.warmup + args.steps}",
        "trainer.logging_iter=1",
        "trainer.run_validation=false",
        f"job.name=bench_e2e_{name}_{os.getpid()}",
        "~trainer.callbacks.every_n_sample_reg",
        "~trainer.callbacks.every_n_sample_ema",
        "model.config.fsdp_shard_size=1",
        "job.wandb_mode=disabled",
        "checkpoint.load_path=''",
        f"dataloader_train.dataset.dataset_dir={folder}",
        f"dataloader_train.dataset.num_frames={frames}",
        f"dataloader_train.dataset.video_size=[{height},{width}]",
        f"dataloader_train.dataset.text_len={text_len}",
        f"dataloader_train.dataset.text_dim={text_dim}",
        "dataloader_train.dataset.text_embeddings_subdir=emb",
        "dataloader_train.dataset.start=first",
        "dataloader_train.num_workers=4",
        f"dataloader_train.pin_memory={not args.smoke}",
        f"model.config.state_t={1 + (frames - 1) // 4}",
        "model.config.tokenizer.allow_random=true",
        f"model.config.tokenizer.ckpt_path={args.vae_ckpt or 'null'}",
    ]
    if args.text == "precomputed":
        out.append("text_encoder=precomputed")
    if args.smoke:
        out += [
            "tokenizer=standin",
            "model.config.precision=float32",
            "optimizer.fused=false",
            "trainer.parallelism.compile_blocks=false",
            "trainer.parallelism.activation_checkpointing=none",
            "dataloader_train.num_workers=0",
            "text_encoder=precomputed",
        ]
        out = [o for o in out if not o.startswith("model.config.tokenizer.")]
        out += [f"model.config.net.{k}={v}" for k, v in SMOKE_NET.items()]
    return out


_FOLDER_ONLY = (
    "dataloader_train.dataset.dataset_dir",
    "dataloader_train.dataset.text_embeddings_subdir",
    "dataloader_train.dataset.start",
)


def load(args: argparse.Namespace, folder: Path, name: str, extra: list[str] = ()) -> Any:
    base = overrides(args, folder, name)
    if "data_train=latent_cache" in extra:  # the cache dataset has no folder arguments
        base = [o for o in base if not o.startswith(_FOLDER_ONLY)]
    return lazycfg.load(str(ROOT / "experiments" / "2b_nemo_480p.py"), base + list(extra))


def run(config: Any) -> list[dict[str, Any]]:
    """Trains ``config`` through the launcher; its train rows from metrics.jsonl."""
    from cosmos_train.launch import launch

    launch(config)
    path = Path(config.job.path_local) / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in rows if r.get("split") == "train"]


class _Timers:
    """Synchronised wall time spent in a few methods, per training step."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.total: dict[str, float] = {}

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    @contextlib.contextmanager
    def patch(self, owner: Any, attr: str, label: str) -> Iterator[None]:
        original = getattr(owner, attr)
        timers = self

        def timed(*a: Any, **kw: Any) -> Any:
            timers._sync()
            t0 = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                timers._sync()
                timers.total[label] = timers.total.get(label, 0.0) + time.perf_counter() - t0

        setattr(owner, attr, timed)
        try:
            yield
        finally:
            setattr(owner, attr, original)


def shares(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Step-time shares of the data wait, the VAE encode and the text encoder (online case)."""
    import torch

    from cosmos_train.model import video2world
    from cosmos_train.trainer import data_stream

    timers = _Timers(torch.cuda.is_available())
    config = load(args, folder, "shares")
    with contextlib.ExitStack() as stack:
        stack.enter_context(timers.patch(data_stream.DataStream, "next", "data"))
        stack.enter_context(timers.patch(video2world._Video2WorldBase, "_encode", "vae"))
        stack.enter_context(
            timers.patch(video2world._Video2WorldBase, "_with_text_embeddings", "text")
        )
        rows = run(config)
    total = sum(r["step_time_s"] for r in rows)
    # The first warm-up steps (compile) are inside the totals too: report shares of the whole run.
    return {k: v / total for k, v in timers.total.items()} | {"steps": len(rows)}


def _table_row(name: str, result: dict[str, Any], base: float) -> str:
    mfu = "-" if result["mfu"] is None else f"{100 * result['mfu']:.1f}%"
    return (
        f"| {name} | {result['s_per_step']:.3f} | {result['tflops']:.1f} | {mfu} | "
        f"{result['s_per_step'] / base:.3f}x |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/bench_e2e_gpu.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=5, help="steps left out (compile warm-up)")
    parser.add_argument(
        "--vae-ckpt", default=None, help="Wan2.1 VAE weights (default: random, timing only)"
    )
    parser.add_argument("--text", choices=("precomputed", "online"), default="precomputed")
    parser.add_argument("--smoke", action="store_true", help="tiny CPU dry run of this script")
    parser.add_argument(
        "--write-doc", action="store_true", help="write the docs/benchmarks.md section"
    )
    args = parser.parse_args(argv)

    import torch

    if not args.smoke and not torch.cuda.is_available():
        print("error: no CUDA device (use --smoke for a CPU dry run)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench_e2e_"))
    try:
        return _bench(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bench(args: argparse.Namespace, tmp: Path) -> int:
    import torch

    from cosmos_train.data.latent_cache import build_cache
    from cosmos_train.trainer.callbacks import peak_flops
    from cosmos_train.utils.flops import dit_train_flops_per_sample

    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(tmp / "jobs")
    t0 = time.perf_counter()
    folder = make_clips(tmp / "clips", args)
    prep_s = time.perf_counter() - t0
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.perf_counter()
    build_cache(
        lazycfg.resolve(load(args, folder, "cache")),
        tmp / "cache",
        samples_per_shard=4,
        device=device,
        log=lambda _: None,
    )
    cache_s = time.perf_counter() - t0
    cache = [
        "data_train=latent_cache",
        f"dataloader_train.dataset.cache_dir={tmp / 'cache'}",
        "dataloader_train.num_workers=" + ("0" if args.smoke else "2"),
    ]
    cases = {
        "online (mp4 + VAE encode every step)": load(args, folder, "online"),
        "cached (latent cache)": load(args, folder, "cached", cache),
    }
    dit_only = load(args, folder, "dit_only", cache)
    from _gpu_check.common import RepeatItems  # items repeated in-process (named by config.yaml)

    dit_only.dataloader_train.dataset = lazycfg.L(RepeatItems)(
        dataset=dit_only.dataloader_train.dataset, distinct=2
    )
    dit_only.dataloader_train.num_workers = 0
    dit_only.dataloader_train.sampling = "distributed"
    cases["DiT only (latents in memory)"] = dit_only

    frames, height, width, text_len, _ = _shape(args)
    device_name = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    net = cases["cached (latent cache)"].model.config.net
    flops = dit_train_flops_per_sample(
        {k: net[k] for k in net},
        (1 + (frames - 1) // 4, height // 8, width // 8),
        text_len=text_len,
    )
    peak = peak_flops(torch.device("cuda")) if torch.cuda.is_available() else None
    results: dict[str, dict[str, Any]] = {}
    for name, config in cases.items():
        rows = run(config)
        measured = [r["step_time_s"] for r in rows if r["iteration"] > args.warmup]
        dt = statistics.median(measured)
        results[name] = {
            "s_per_step": dt,
            "tflops": flops / dt / 1e12,
            "mfu": flops / dt / peak if peak else None,
            "steps": len(measured),
        }
    share = shares(args, folder)
    base = results["DiT only (latents in memory)"]["s_per_step"]
    lines = [
        "## End-to-end 2B 480p step (`tools/bench_e2e_gpu.py`)",
        "",
        f"`python tools/bench_e2e_gpu.py{' --smoke' if args.smoke else ''} --clips {args.clips} "
        f"--steps {args.steps} --text {args.text}` on {device_name}, "
        f"torch {torch.__version__}; {'random' if not args.vae_ckpt else 'released'} VAE weights. "
        "MFU counts the DiT's FLOPs only.",
        "",
        "| case | s/step | DiT TFLOP/s | MFU | vs DiT only |",
        "|---|---|---|---|---|",
        *[_table_row(k, v, base) for k, v in results.items()],
        "",
        f"Online step shares (synchronised timers, whole run incl. warm-up): data wait "
        f"{100 * share.get('data', 0):.1f}%, VAE encode {100 * share.get('vae', 0):.1f}%, text "
        f"encoder {100 * share.get('text', 0):.1f}% ({args.text}). One-time: clips {prep_s:.0f} s, "
        f"latent cache {cache_s:.0f} s for {args.clips} clips.",
    ]
    text = "\n".join(lines)
    print(text)
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "bench_e2e_gpu.md").write_text(text + "\n")
        (Path(out) / "bench_e2e_gpu.json").write_text(
            json.dumps({"results": results, "shares": share}, indent=1)
        )
    if args.write_doc:
        from _docs_section import replace_section

        replace_section(ROOT / "docs" / "benchmarks.md", "bench_e2e_gpu", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
