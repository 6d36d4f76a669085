"""tools/bench_text_encoder.py: the CPU run measures what it says; the docs section renders."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    "bench_text_encoder", ROOT / "tools" / "bench_text_encoder.py"
)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_bytes_per_caption_is_the_real_layout():
    b = bench.bench_bytes()
    assert b["tensor_bytes"] == 512 * 100352 * 2
    # small torch.save header
    assert b["tensor_bytes"] < b["file_bytes"] < b["tensor_bytes"] + 64 * 1024
    assert b["hard_linked"] is True


def test_cpu_run_and_docs_section(tmp_path, monkeypatch):
    cpu = bench.bench_cpu(runs=1)
    assert [r["tokens"] for r in cpu["rows"]] == [32, 512]
    assert all(
        r["bare_s"] > 0 and r["encode_s"] > 0 and r["cache_hit_s"] < r["encode_s"]
        for r in cpu["rows"]
    )
    gpu = json.loads((ROOT / "docs" / "gpu_runs" / "reason1_gpu_h100.json").read_text())
    text = bench.render(cpu, gpu, threads=1)
    assert text.startswith(bench.START) and text.endswith(bench.END)
    assert "| 32 |" in text and "| 512 |" in text and "102,7" in text
    assert "NVIDIA H100" in text and "13.2 GiB" in text and "offload_to_cpu=True" in text
    assert "not measured" in bench.render(cpu, None, threads=1)
