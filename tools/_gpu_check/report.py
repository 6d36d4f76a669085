"""The gpu_check table, its targets and the docs/benchmarks.md section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _docs_section import markers, replace_section

SECTION = "gpu_check"
MARK_START, MARK_END = markers(SECTION)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def render(rows: list[dict[str, Any]], header: dict[str, Any]) -> str:
    """The markdown section: one row per part, then the targets and whether they are met."""
    lines = [
        "## GPU check (`tools/gpu_check.py`)",
        "",
        f"{header['device']}, torch {header['torch']}, {header['date']}; {header['steps']} "
        f"measured steps after {header['warmup']} warm-up steps (warm-up, which includes "
        f"compilation, timed separately); MFU against {header['peak_tflops']:.0f} TFLOP/s dense "
        "bf16; FLOPs count attention (trainer_spec §2.5). Total "
        f"{header['total_s']:.0f} s." + (f" {header['note']}." if header.get("note") else ""),
        "",
        "| part | status | s/step | TFLOP/s | MFU | peak GiB | warm-up s | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mfu = f"{r['mfu']:.1%}" if isinstance(r.get("mfu"), float) else "-"
        lines.append(
            f"| {r['part']} | {r['status']} | {_fmt(r.get('s_per_step'))} | "
            f"{_fmt(r.get('tflops'))} | {mfu} | "
            f"{_fmt(r.get('peak_gib'))} | {_fmt(r.get('warmup_s'))} | {r.get('notes', '')} |"
        )
    bare = next((r for r in rows if r["part"].startswith("bare480") and r["status"] == "ok"), None)
    train = next(
        (r for r in rows if r["part"].startswith("train480") and r["status"] == "ok"), None
    )
    mem = next((r for r in rows if r["part"].startswith("mem720")), None)
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    speed = "trainer speed >= 0.95x the bare step (480p)"
    if bare and train:
        ratio = bare["s_per_step"] / train["s_per_step"]
        lines.append(f"| {speed} | {ratio:.3f}x | {'yes' if ratio >= 0.95 else 'no'} |")
    else:
        lines.append(f"| {speed} | not measured | - |")
    if train:
        lines.append(
            f"| MFU >= 45% at 480p (trainer) | {train['mfu']:.1%} | "
            f"{'yes' if train['mfu'] >= 0.45 else 'no'} |"
        )
    if mem is not None:
        fits = mem["status"] == "ok"
        lines.append(
            f"| 2B fits one 80 GB GPU at 720p | {mem.get('peak_gib', '-')} GiB peak allocated | "
            f"{'yes' if fits else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def write_section(doc: Path, text: str) -> None:
    """Replaces the gpu_check section of ``doc`` (created if missing); other sections stay."""
    replace_section(doc, SECTION, text)
