"""tools/bench_data.py and tools/bench_e2e_gpu.py run end to end, tiny (no timing asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_data_prints_both_tables(tmp_path, capsys):
    doc = tmp_path / "benchmarks.md"
    argv = ["--clips", "8", "--steps", "3", "--warmup", "1", "--rounds", "1", "--output", str(doc)]
    assert _tool("bench_data").main(argv) == 0
    text = doc.read_text()
    assert "<!-- bench_data:start -->" in text and "| from the latent cache |" in text
    assert "| tar shards (mp4 decode) |" in text and "clips/s per worker" in text


def test_bench_e2e_gpu_smoke_runs_all_cases(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OUT", str(tmp_path))
    argv = ["--smoke", "--clips", "2", "--steps", "1", "--warmup", "1"]
    assert _tool("bench_e2e_gpu").main(argv) == 0
    table = (tmp_path / "bench_e2e_gpu.md").read_text()
    for case in ("online (mp4 + VAE encode every step)", "cached (latent cache)", "DiT only"):
        assert f"| {case}" in table
    assert "VAE encode" in table
