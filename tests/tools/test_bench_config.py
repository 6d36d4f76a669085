"""Smoke test of tools/bench_config.py with tiny repeat counts (no timing assertions)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import _bench_config_tree as tree  # noqa: E402
import bench_config  # noqa: E402


def test_the_three_renderings_compose_the_same_config(tmp_path):
    tree.write_all(str(tmp_path), 8)
    paths = ("lazycfg", "floor")
    try:
        import hydra  # noqa: F401

        paths = bench_config.PATHS
    except ImportError:
        pass
    final = bench_config.verify(str(tmp_path), paths)
    assert 220 <= bench_config.count_leaves(final) <= 240
    assert final["job"]["name"] == "bench_500_20240506"  # interpolation + fixed `now`
    assert final["trainer"]["validation_iter"] == 7
    assert final["model"]["config"]["ema"]["rate"] == 0.05  # the group choice


def test_run_report_and_section_writing(tmp_path):
    results = bench_config.run(rounds=1, warm=2, with_hydra=False, workdir=str(tmp_path / "w"))
    section = bench_config.report(results)
    assert section.startswith(bench_config.START) and section.rstrip().endswith(bench_config.END)
    assert "| target (DESIGN section 8) |" in section and "lazycfg" in section
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- other:start -->\nkeep me\n<!-- other:end -->\n")
    bench_config.write_section(str(doc), section)
    bench_config.write_section(str(doc), section)  # replaces its own section, once
    text = doc.read_text()
    assert text.count(bench_config.START) == 1 and "keep me" in text


def test_experiment_chain_has_depth_five():
    exps = tree.experiments(30)
    assert len(exps) == 30
    assert [e.name for e in tree.chain_of(exps, tree.MEASURED)] == ["d0", "d1", "d2", "d3", "d4"]
    assert len(tree.GROUPS) == 13 and len(tree.OVERRIDES) == 10


@pytest.mark.parametrize("n", [30, 200])
def test_experiment_files_are_written(tmp_path, n):
    tree.write_all(str(tmp_path), n)
    assert len(os.listdir(tmp_path / "lc" / "experiments")) == n
    assert (
        len(
            [
                f
                for f in os.listdir(tmp_path / "hy" / "benchhy" / "experiments")
                if f.startswith("e")
            ]
        )
        == n
    )


def test_missed_absolute_targets_are_put_next_to_same_run_references():
    res = {
        "imports": {"lazycfg": 30.0, "attrs": 40.0},
        "warm": {"lazycfg": 1.0},
        "yaml": {"lazycfg_no_history": 9.0, "plain_libyaml": 6.0},
        "startup": 0.07,
    }
    why_import = bench_config._why("import lazycfg", res)
    assert "`import attrs` took 40 ms" in why_import and "0.75x `import attrs`" in why_import
    assert "Python startup took 70 ms" in why_import
    why_yaml = bench_config._why("YAML save + load (history)", res)
    assert "plain dicts with libyaml: 6.0 ms here" in why_yaml and "70 ms" in why_yaml
