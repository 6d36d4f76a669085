"""tools/bench_lora.py and tools/bench_lora_gpu.py: tiny dry runs of the scripts (no thresholds on
the numbers, only that every part ran and reported)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _tool(name: str):
    sys.path.insert(0, str(ROOT / "tools"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_lora_reports_every_part(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    doc = tmp_path / "benchmarks.md"
    args = [
        "--pairs",
        "1",
        "--base-steps",
        "2",
        "--lora-steps",
        "2",
        "--rank",
        "4",
        "--output",
        str(doc),
    ]
    assert _tool("bench_lora").main(args) == 0
    text = doc.read_text()
    assert text.count("<!-- bench_lora:start -->") == 1
    assert "| LoRA | " in text and "| full fine-tuning | " in text
    assert "45,875,200 trainable of 2,105,050,112" in text  # Cosmos's 2B recipe
    assert "| LoRA rank 4 (base frozen) |" in text


def test_bench_lora_gpu_smoke_runs_all_four_cases(tmp_path, monkeypatch):
    monkeypatch.setenv("OUT", str(tmp_path))
    assert _tool("bench_lora_gpu").main(["--smoke", "--steps", "1", "--warmup", "1"]) == 0
    import json

    rows = json.loads((tmp_path / "bench_lora_gpu.json").read_text())["rows"]
    assert [(r["res"], r["case"], r["status"]) for r in rows] == [
        ("480", "full", "ok"),
        ("480", "lora", "ok"),
        ("720", "full", "ok"),
        ("720", "lora", "ok"),
    ]
