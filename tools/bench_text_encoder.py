#!/usr/bin/env python
"""Reason1 text-encoder benchmark: CPU time per caption (tiny model), bytes per caption, GPU cost.

CPU (default; the tiny fixture decoder, 4 layers x 64, in Reason1's folder layout)::

    python tools/bench_text_encoder.py [--runs 7] [--threads 1] [--no-write]

measures, in one run, the CPU time per caption of ``Reason1TextEncoder.encode`` (chat template,
tokenizer, padding, decoder, normalisation) against the bare decoder forward plus normalisation on
pre-tokenised ids (the baseline), at the fixture's 32 tokens and at Cosmos's 512; a cache hit; and
the bytes ``tools/compute_text_embeddings.py`` writes per caption for the real ``[512, 100352]``
bf16 layout (one real file written and measured), and on disk for a folder whose videos share one
caption (hard links).

GPU (Reason1's real size, 28 x 3584, randomly initialised in bf16: no weights are needed and the
compute is the same)::

    python tools/bench_text_encoder.py --gpu --output reason1_gpu.json

times ``encode_ids`` on random ids ``[B, 512]`` for several ``B`` (seconds per caption, peak
memory), and the same with ``offload_to_cpu=True`` (weights moved to the GPU for each call). Pass
the JSON back with ``--gpu-results FILE`` to include it in the docs section.

Writes its section of ``docs/benchmarks.md`` (between the ``bench_text_encoder`` markers).
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
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "tools"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from _docs_section import markers, replace_section  # noqa: E402

START, END = markers("bench_text_encoder")
FIXTURE = ROOT / "tests" / "cosmos_train" / "text_encoders" / "fixtures"
REAL_SHAPE = (512, 100352)
#: 2B DiT training step, 480p, eager, one H100 (DESIGN.md section 8): the yardstick.
_DIT_STEP_480P_S = 4.38


def _cpu_seconds(fn, runs: int) -> float:
    """Median CPU seconds of ``fn()`` over ``runs`` (after one warm-up); robust to a shared box."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def bench_cpu(runs: int) -> dict[str, Any]:
    from cosmos_train.text_encoders.toy_tokenizer import write_tiny_reason1_folder

    cases = torch.load(FIXTURE / "cases.pt", weights_only=True)["cases"]
    captions = [c["caption"] for c in cases]
    out: dict[str, Any] = {"captions": len(captions), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_tiny_reason1_folder(Path(tmp) / "tiny", FIXTURE, captions)
        for length in (32, 512):
            out["rows"].append(_time_length(folder, captions, length, runs))
        out["bytes"] = bench_bytes()
    return out


def _time_length(folder: Path, captions: list[str], length: int, runs: int) -> dict[str, Any]:
    """CPU seconds per caption at ``length`` tokens: bare forward, ``encode``, a cache hit."""
    from cosmos_train.text_encoders.reason1 import Reason1TextEncoder, mean_normalize

    enc = Reason1TextEncoder(weights=str(folder), max_length=length, dtype="float32")
    ids = enc.tokenize(captions)

    @torch.no_grad()
    def bare() -> torch.Tensor:
        hs = enc.model(input_ids=ids, output_hidden_states=True, use_cache=False).hidden_states
        return torch.cat([mean_normalize(h) for h in hs[1:]], dim=-1)

    cached = Reason1TextEncoder(
        weights=str(folder), max_length=length, dtype="float32", cache_size=8
    )
    cached.encode(captions)
    n = len(captions)
    return {
        "tokens": length,
        "bare_s": _cpu_seconds(bare, runs) / n,
        "encode_s": _cpu_seconds(lambda: enc.encode(captions), runs) / n,
        "cache_hit_s": _cpu_seconds(lambda: cached.encode(captions), runs) / n,
    }


def bench_bytes() -> dict[str, Any]:
    """Bytes of one real-layout file (the tool's own writer); disk use of a shared caption."""
    sys.path.insert(0, str(ROOT / "tools"))
    import compute_text_embeddings as tool

    with tempfile.TemporaryDirectory() as tmp:
        first, second = Path(tmp) / "a.pt", Path(tmp) / "b.pt"
        emb = torch.zeros(REAL_SHAPE, dtype=torch.bfloat16)
        tool._save(
            first,
            tool._record(
                emb,
                "A video of sks teal robot.",
                "reason1",
                "nvidia/Cosmos-Reason1.1-7B",
                torch.bfloat16,
            ),
            "pt",
        )
        tool._link_or_copy(first, second)
        size = first.stat().st_size
        inodes = {p.stat().st_ino for p in (first, second)}
        disk = sum(os.stat(p).st_blocks * 512 for p in (first,)) if len(inodes) == 1 else None
    return {
        "file_bytes": size,
        "tensor_bytes": emb.numel() * 2,
        "hard_linked": len(inodes) == 1,
        "disk_bytes_two_videos_one_caption": disk,
    }


def bench_gpu(batches: list[int], iters: int) -> dict[str, Any]:
    from cosmos_train.text_encoders.reason1 import Reason1TextEncoder

    assert torch.cuda.is_available(), "--gpu needs CUDA"
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device("cuda")
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    enc = Reason1TextEncoder(weights=None, allow_random=True, device="cuda", dtype="bfloat16")
    torch.cuda.synchronize()
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in enc.model.parameters())
    weights_gib = torch.cuda.memory_allocated() / 2**30
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "params": params,
        "weights_gib": weights_gib,
        "build_s": build_s,
        "embed_dim": enc.embed_dim,
        "rows": [],
    }
    gen = torch.Generator(device="cpu").manual_seed(0)
    for b in batches:
        ids = torch.randint(0, 152064, (b, 512), generator=gen)
        for _ in range(2):
            enc.encode_ids(ids)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(iters):
            out = enc.encode_ids(ids)
        torch.cuda.synchronize()
        sec = (time.perf_counter() - t0) / iters
        assert out.shape == (b, 512, 100352) and torch.isfinite(out).all()
        result["rows"].append(
            {
                "batch": b,
                "s_per_call": sec,
                "s_per_caption": sec / b,
                "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
            }
        )
        del out
    # Offload: weights on the host, moved to the GPU for each call (and back).
    enc.model.to("cpu")
    torch.cuda.empty_cache()
    enc.offload_to_cpu = True
    ids = torch.randint(0, 152064, (1, 512), generator=gen)
    enc.encode_ids(ids)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(2):
        enc.encode_ids(ids)
    torch.cuda.synchronize()
    result["offload"] = {
        "batch": 1,
        "s_per_call": (time.perf_counter() - t0) / 2,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
        "resident_between_calls_gib": torch.cuda.memory_allocated() / 2**30,
    }
    del dev
    return result


def render(cpu: dict[str, Any] | None, gpu: dict[str, Any] | None, threads: int) -> str:
    lines = [START, "## Reason1 text encoder (`tools/bench_text_encoder.py`)", ""]
    if cpu is not None:
        lines += [
            f"CPU time per caption, tiny fixture decoder (4 layers x 64), {cpu['captions']} "
            "captions per call, "
            f"float32, {threads} thread(s), median of the run's repeats "
            f"({platform.processor() or platform.machine()}, "
            f"torch {torch.__version__}). Baseline: the bare decoder forward + normalisation on "
            "pre-tokenised ids.",
            "",
            "| tokens | bare forward | `encode` (template, tokenizer, pad, forward, normalise) | "
            "ratio | cache hit |",
            "|---|---|---|---|---|",
        ]
        for r in cpu["rows"]:
            lines.append(
                f"| {r['tokens']} | {r['bare_s'] * 1e3:.2f} ms | {r['encode_s'] * 1e3:.2f} ms | "
                f"{r['encode_s'] / r['bare_s']:.2f}x | {r['cache_hit_s'] * 1e6:.0f} us |"
            )
        b = cpu["bytes"]
        lines += [
            "",
            "Bytes per caption (`compute_text_embeddings.py --encoder reason1`, `[512, 100352]` "
            "bf16, one real file "
            f"written and measured): **{b['file_bytes']:,} bytes** "
            f"({b['file_bytes'] / 2**20:.2f} MiB; the tensor "
            f"alone is {b['tensor_bytes']:,}). Videos sharing a caption are hard links of one file "
            f"(hard-linked here: {b['hard_linked']}), so the nemo folder (one caption) costs one "
            "file on disk.",
        ]
    lines.append("")
    if gpu is None:
        lines.append(
            "GPU (Reason1's real size, bf16, random init): not measured in this run "
            "(`python tools/bench_text_encoder.py --gpu`)."
        )
    else:
        lines += [
            f"GPU: {gpu['device']}, torch {gpu['torch']}, transformers {gpu['transformers']}; "
            "Reason1's real size "
            f"({gpu['params'] / 1e9:.2f}B decoder parameters, randomly initialised, bf16, SDPA "
            "attention), "
            f"random ids at 512 tokens. Weights: {gpu['weights_gib']:.1f} GiB on the GPU.",
            "",
            "| captions per call | s per call | s per caption | peak memory |",
            "|---|---|---|---|",
        ]
        for r in gpu["rows"]:
            lines.append(
                f"| {r['batch']} | {r['s_per_call']:.4f} | {r['s_per_caption']:.4f} | "
                f"{r['peak_gib']:.1f} GiB |"
            )
        o = gpu.get("offload")
        if o:
            lines.append(
                f"| 1, `offload_to_cpu=True` | {o['s_per_call']:.3f} | {o['s_per_call']:.3f} | "
                f"{o['peak_gib']:.1f} GiB ({o['resident_between_calls_gib']:.1f} GiB between "
                "calls) |"
            )
        one = gpu["rows"][0]["s_per_caption"]
        lines += [
            "",
            f"Online against precomputed: one caption costs {one * 1e3:.0f} ms of GPU time per "
            "step, against "
            f"{_DIT_STEP_480P_S} s for a 2B DiT training step at 480p on an H100 (DESIGN.md "
            "section 8, not this run): "
            f"{one / _DIT_STEP_480P_S:.1%} of the step, and nothing for a repeated caption (the "
            "encoder's cache). "
            f"The price is memory: {gpu['weights_gib']:.1f} GiB of weights resident on every "
            "GPU. Offloading "
            "the weights to the host between calls frees that memory but, as implemented "
            "(pageable copies both "
            "ways), costs more than a whole DiT step: use it only for sampling on small GPUs. So "
            "`text_encoder=reason1_online` (resident, bf16) is the default of the nemo recipes, "
            "and precomputed "
            "files (98 MiB per distinct caption) are for runs that need the 13 GiB back.",
        ]
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=7, help="timed repeats per CPU measurement")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument(
        "--gpu", action="store_true", help="time Reason1's real size on CUDA (random init)"
    )
    p.add_argument("--batches", default="1,4,8", help="--gpu: captions per call")
    p.add_argument("--iters", type=int, default=5, help="--gpu: timed calls per batch size")
    p.add_argument(
        "--gpu-results",
        type=Path,
        help="JSON of an earlier --gpu run to include in the docs section",
    )
    p.add_argument("--output", type=Path, help="write the results as JSON here")
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.gpu:
        result = bench_gpu([int(b) for b in args.batches.split(",")], args.iters)
        print(json.dumps(result, indent=1))
        if args.output:
            args.output.write_text(json.dumps(result, indent=1))
        print(render(None, result, args.threads))
        return 0
    cpu = bench_cpu(args.runs)
    gpu = json.loads(args.gpu_results.read_text()) if args.gpu_results else None
    text = render(cpu, gpu, args.threads)
    print(text)
    if args.output:
        args.output.write_text(json.dumps({"cpu": cpu, "gpu": gpu}, indent=1))
    if not args.no_write:
        replace_section(ROOT / "docs" / "benchmarks.md", "bench_text_encoder", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
