#!/usr/bin/env python
"""Export time and peak memory: tools/export_checkpoint.py against Cosmos's converter, in one run.

    python tools/bench_export.py --workdir /tmp/bench_export [--blocks 28] [--baseline-blocks 4]

Builds the released Predict2.5-2B net (``predict2_5_2B``) on the meta device, materialises it on
the CPU (``to_empty``, then filled), saves it as a DCP training checkpoint holding ``net.*``
and ``net_ema.*`` (as our trainer writes them), then exports it in a fresh process and records
the wall time and the process's peak memory (sampled ``/proc/<pid>/status``: peak RSS, and its
anonymous part, i.e. excluding file pages of the memory-mapped outputs that the kernel can drop).

The baseline is Cosmos's ``scripts/convert_distcp_to_pt.py`` recipe (``dcp_to_torch_save``, then
``torch.load`` of the whole ``model.pt``, an EMA dict and a bf16 dict, each ``torch.save``-d). It
holds the full checkpoint in memory (~2.3x the model.pt size), which a 24 GB machine cannot do
for the 2B, so baseline and ours are compared on the same net cut to ``--baseline-blocks``
blocks; the full 2B runs ours only. Writes a docs/benchmarks.md section with ``--doc``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

_OURS = """
import sys
from cosmos_train.checkpoint.export import export_checkpoint
export_checkpoint(sys.argv[1], sys.argv[2], chunk_bytes=int(sys.argv[3]) << 20)
"""
# Cosmos's convert_distcp_to_pt.py steps (facts of its recipe, written out here).
_COSMOS = """
import sys, torch
from pathlib import Path
from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
src, out = Path(sys.argv[1]) / "model", Path(sys.argv[2])
out.mkdir(parents=True)
dcp_to_torch_save(src, out / "model.pt")
sd = torch.load(out / "model.pt", map_location="cpu", weights_only=False)
ema = {k.replace("net_ema.", "net.", 1): v for k, v in sd.items() if k.startswith("net_ema.")}
torch.save(ema, out / "model_ema_fp32.pt")
bf16 = {k: (v.bfloat16() if v.dtype == torch.float32 else v) for k, v in ema.items()}
torch.save(bf16, out / "model_ema_bf16.pt")
"""


def _status_kib(pid: int) -> dict[str, int]:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                values[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return values


def _measure(code: str, *args: str) -> dict[str, float]:
    """Runs ``code`` in a fresh interpreter; wall time and peak memory (sampled every 20 ms)."""
    env = {**os.environ, "PYTHONPATH": str(_ROOT), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env)
    peak = {"VmRSS": 0, "RssAnon": 0, "VmHWM": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            now = _status_kib(proc.pid)
            for key in peak:
                peak[key] = max(peak[key], now.get(key, 0))
            time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    rc = proc.wait()
    stop.set()
    thread.join()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"export process failed with exit code {rc}")
    gib = 1 << 20
    return {
        "wall_s": round(wall, 1),
        "peak_rss_gib": round(max(peak["VmRSS"], peak["VmHWM"]) / gib, 2),
        "peak_anon_gib": round(peak["RssAnon"] / gib, 2),
    }


def _make_checkpoint(root: Path, blocks: int) -> dict[str, float]:
    """A DCP checkpoint (net.* and net_ema.*) of the predict2_5_2B net with ``blocks`` blocks."""
    import torch
    import torch.distributed.checkpoint as dcp

    from cosmos_train.nets import presets

    t0 = time.perf_counter()
    with torch.device("meta"):
        net = presets.predict2_5_2B(num_blocks=blocks)
    net.to_empty(device="cpu")
    with torch.no_grad():  # values do not change the export's cost; a fill is fast on a busy CPU
        for i, t in enumerate(net.state_dict().values()):
            t.fill_(i % 7) if not t.is_floating_point() else t.fill_(0.01 * (i % 13))
    t_init = time.perf_counter() - t0
    state = net.state_dict()
    params = sum(p.numel() for p in net.parameters())
    ckpt = root / "job" / "checkpoints" / "iter_000000001"
    t0 = time.perf_counter()
    dcp.save(
        {
            **{f"net.{k}": v for k, v in state.items()},
            **{f"net_ema.{k}": v for k, v in state.items()},
        },
        checkpoint_id=str(ckpt / "model"),
        no_dist=True,
    )
    (root / "job" / "checkpoints" / "latest_checkpoint.txt").write_text(ckpt.name)
    t_save = time.perf_counter() - t0
    del net, state
    return {"params": params, "init_s": round(t_init, 1), "dcp_save_s": round(t_save, 1)}


def _size_gib(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / (1 << 30), 2)


def run(workdir: Path, blocks: int, baseline_blocks: int, chunk_mb: int) -> dict:
    results: dict = {}
    for label, n, with_baseline in (
        ("baseline_net", baseline_blocks, True),
        ("full_net", blocks, False),
    ):
        root = workdir / label
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        info = _make_checkpoint(root, n)
        info["blocks"] = n
        ckpt = root / "job" / "checkpoints" / "iter_000000001"
        info["dcp_gib"] = _size_gib(ckpt)
        info["ours"] = _measure(_OURS, str(ckpt), str(root / "ours"), str(chunk_mb))
        info["out_gib"] = _size_gib(root / "ours")
        if with_baseline:
            info["cosmos"] = _measure(_COSMOS, str(ckpt), str(root / "cosmos"))
            for name in ("model.pt", "model_ema_fp32.pt", "model_ema_bf16.pt"):
                import torch

                a = torch.load(root / "ours" / name, mmap=True, weights_only=True)
                b = torch.load(root / "cosmos" / name, mmap=True, weights_only=True)
                same = list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
                info.setdefault("same_tensors_as_cosmos", {})[name] = same
        shutil.rmtree(root, ignore_errors=True)  # tens of GB: never leave them behind
        results[label] = info
        print(json.dumps({label: info}), flush=True)
    return results


def _row(label: str, info: dict, who: str, name: str) -> str:
    m = info[who]
    return (
        f"| {label} | {info['params']:,} | {info['dcp_gib']} GiB | {name} | {m['wall_s']} s | "
        f"{m['peak_rss_gib']} GiB | {m['peak_anon_gib']} GiB |"
    )


def _doc(results: dict, chunk_mb: int, cmd: str) -> str:
    b, f = results["baseline_net"], results["full_net"]
    ratio_mem = b["cosmos"]["peak_rss_gib"] / max(b["ours"]["peak_rss_gib"], 1e-9)
    ratio_t = b["cosmos"]["wall_s"] / max(b["ours"]["wall_s"], 1e-9)
    rows = "\n".join(
        [
            "| net | params | DCP checkpoint | exporter | wall | peak RSS | peak anon |",
            "|---|---|---|---|---|---|---|",
            _row(f"2B, {f['blocks']} blocks", f, "ours", "ours"),
            _row(f"2B cut to {b['blocks']} blocks", b, "ours", "ours"),
            _row(f"2B cut to {b['blocks']} blocks", b, "cosmos", "Cosmos's converter"),
        ]
    )
    head = textwrap.dedent(f"""\
        ## Export (`tools/bench_export.py`, CPU, this 2-core / 24 GB machine, shared)

        `{cmd}`, chunk {chunk_mb} MiB. The net is the released Predict2.5-2B layout built on the
        meta device, then materialised on the CPU (`to_empty`, then filled); the checkpoint
        holds `net.*` and `net_ema.*` in fp32 as our DCP checkpoints do. Each export runs in a
        fresh process; peak memory is sampled from `/proc/<pid>/status` (peak RSS includes the
        pages of the memory-mapped output files; "anon" is the part that is not file-backed).

        """)
    tail = textwrap.dedent(f"""\

        - Output of the full export: {f["out_gib"]} GiB (model.pt, EMA fp32, EMA bf16,
          manifest with SHA-256s). Materialising the net took {f["init_s"]} s, the DCP save
          {f["dcp_save_s"]} s.
        - Same net, same run: Cosmos's recipe needs {ratio_mem:.1f}x our peak memory and
          {ratio_t:.2f}x our wall time; its files hold the same tensors under the same keys
          ({b["same_tensors_as_cosmos"]}). It holds the whole checkpoint plus the EMA copies.
        - Ours reads the shards a chunk at a time into files whose space was reserved up front
          (`torch.serialization.skip_data`), through shared memory maps: its anonymous memory
          is the chunk plus about two copies of the largest tensor (DCP's reader), whatever
          the model size.
        """)
    return head + rows + "\n" + tail


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tools/bench_export.py", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--workdir", default="/tmp/bench_export", help="scratch directory (needs ~50 GB free)"
    )
    p.add_argument(
        "--blocks", type=int, default=28, help="blocks of the full net (28: the released 2B)"
    )
    p.add_argument(
        "--baseline-blocks", type=int, default=4, help="blocks of the net both exporters run on"
    )
    p.add_argument("--chunk-mb", type=int, default=512)
    p.add_argument("--doc", help="write the docs/benchmarks.md section to this file")
    args = p.parse_args(argv)
    results = run(Path(args.workdir), args.blocks, args.baseline_blocks, args.chunk_mb)
    if args.doc:
        from _docs_section import replace_section

        cmd = "python tools/bench_export.py " + " ".join(argv if argv is not None else sys.argv[1:])
        replace_section(args.doc, "bench_export", _doc(results, args.chunk_mb, cmd.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
