"""tools/gpu_check.py --smoke: every part's code path at toy sizes on CPU, the table, the doc
section; bench_dit_gpu.py's smoke run and bench_lora_gpu.py's shared helpers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return gpu_check


def test_smoke_runs_every_part_and_writes_the_section(tmp_path, monkeypatch):
    tool = _tool()
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- other:start -->\nkeep me\n<!-- other:end -->\n")
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    rc = tool.main(
        ["--smoke", "--doc", str(doc), "--tiny-steps", "2", "--warmup", "1", "--steps", "1"]
    )
    result = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    statuses = {row["part"].split(" ")[0]: row["status"] for row in result["rows"]}
    assert statuses == {p: "ok" for p in tool.ALL_PARTS}, statuses
    assert rc == 0
    text = doc.read_text()
    assert "keep me" in text  # other sections untouched
    assert (
        text.count(tool.MARK_START) == 1 and "| bare480 (bare PyTorch step, 2B 480p) | ok |" in text
    )
    assert "trainer speed >= 0.95x the bare step" in text
    # A result fetched from the GPU machine re-renders into a checkout's doc.
    doc2 = tmp_path / "fresh.md"
    assert (
        tool.main(
            ["--write-doc-from", str(tmp_path / "out" / "gpu_check.json"), "--doc", str(doc2)]
        )
        == 0
    )
    assert doc2.read_text().split(tool.MARK_START)[1] == text.split(tool.MARK_START)[1]
    # Rerunning replaces the section instead of appending a second one.
    tool.write_section(doc, "new table\n")
    assert doc.read_text().count(tool.MARK_START) == 1 and "new table" in doc.read_text()


def test_failures_become_rows_and_the_budget_skips_parts(tmp_path, monkeypatch):
    tool = _tool()

    def boom(args):
        raise MemoryError("simulated OOM")

    monkeypatch.setitem(tool.PARTS, "tiny", boom)
    monkeypatch.delenv("OUT", raising=False)
    rc = tool.main(
        ["--smoke", "--doc", str(tmp_path / "b.md"), "--parts", "tiny,mem720", "--budget", "0"]
    )
    text = (tmp_path / "b.md").read_text()
    assert rc == 1
    assert "skipped (time budget" in text
    rc = tool.main(["--smoke", "--doc", str(tmp_path / "b.md"), "--parts", "tiny"])
    assert rc == 1
    assert "FAILED: MemoryError: simulated OOM" in (tmp_path / "b.md").read_text()


def test_bench_dit_gpu_smoke_times_the_shared_bare_step(tmp_path):
    """bench_dit_gpu.py SMOKE=1 (CPU, toy net): one AC mode and the 720p shape via BareStep."""
    import os
    import subprocess

    env = dict(
        os.environ, SMOKE="1", OUT=str(tmp_path), MODES="block", M720="none", OMP_NUM_THREADS="1"
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bench_dit_gpu.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "nets_bench.json").read_text())
    for key in ("480p_block_compiled_ema", "720p_none_compiled_ema"):
        assert res[key]["step_s"] > 0 and "error" not in res[key], res[key]
    assert res["train_flops_480p"] > 0


def test_bench_lora_gpu_imports_the_shared_helpers():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import bench_lora_gpu
    finally:
        sys.path.remove(str(ROOT / "tools"))
    for name in ("trainer_run", "median", "clip_shape", "peak_flops", "peak_gib", "free_memory"):
        assert callable(getattr(bench_lora_gpu.gc_tools, name)), name
