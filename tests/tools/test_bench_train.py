"""tools/bench_train.py: its docs section writer and a tiny smoke run (no timing assertions)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import bench_train  # noqa: E402

TINY = dict(dim=8, num_blocks=1, num_heads=2, video_shape=(3, 1, 2, 2))
OTHER = "<!-- bench_config:start -->\nconfig numbers\n<!-- bench_config:end -->\n"


def _section(body: str) -> str:
    return f"{bench_train.START}\n{body}\n{bench_train.END}\n"


@pytest.mark.parametrize(
    "before, after",
    [
        (None, "# Benchmarks\n\n" + _section("new")),
        ("# Benchmarks\n\n" + OTHER, "# Benchmarks\n\n" + OTHER + "\n" + _section("new")),
        (
            "# Benchmarks\n\n" + _section("old\nlines") + "\n" + OTHER,
            "# Benchmarks\n\n" + _section("new") + OTHER,
        ),
        (
            "# Benchmarks\n\n" + OTHER + "\n" + _section("old") + "\n## Notes\nkept\n",
            "# Benchmarks\n\n" + OTHER + "\n" + _section("new") + "## Notes\nkept\n",
        ),
    ],
    ids=["new-file", "appended-after-other-sections", "replaced-before-other", "replaced-between"],
)
def test_write_section_replaces_only_its_own_section(tmp_path, before, after):
    path = tmp_path / "docs" / "benchmarks.md"
    if before is not None:
        path.parent.mkdir(parents=True)
        path.write_text(before)
    bench_train.write_section(path, "new\n")
    assert path.read_text() == after
    bench_train.write_section(path, "new")  # idempotent
    assert path.read_text() == after


def test_measure_and_render_smoke(tmp_path):
    result = bench_train.measure(runs=1, steps=1, model=TINY, batch=1)
    assert len(result["bare"]) == len(result["trainer"]) == 1
    assert all(len(t) == 2 and t[0] > 0 and t[1] >= 0 for t in result["bare"] + result["trainer"])
    body, step_bare = bench_train.render(result, threads=1)
    assert step_bare == result["bare"][0][0]
    assert (
        body.startswith("## Trainer overhead")
        and "| Trainer.fit |" in body
        and "target <= +5%" in body
    )
    with pytest.raises(ValueError, match="runs and steps must be >= 1"):
        bench_train.measure(runs=0, steps=1, model=TINY)


def test_cli_writes_only_to_the_given_output(tmp_path, monkeypatch, capsys):
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\n" + OTHER)
    fake = {
        "bare": [(0.2, 0.1)] * 5,
        "trainer": [(0.21, 0.1)] * 5,
        "steps": 2,
        "runs": 5,
        "model": TINY,
        "batch": 1,
    }
    monkeypatch.setattr(bench_train, "measure", lambda **kw: fake)
    assert bench_train.main(["--runs", "5", "--steps", "2", "--output", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\n" + OTHER) and "**1.050** (+5.0%)" in text
    with pytest.raises(SystemExit):
        bench_train.main(["--runs", "2", "--output", str(out)])
    assert "--runs must be >= 5" in capsys.readouterr().err
