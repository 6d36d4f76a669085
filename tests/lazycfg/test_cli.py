"""Tests for the `python -m lazycfg` command line (show, explain, diff, check)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from lazycfg._cli import main

BASE = """
from lazycfg import L, PLACEHOLDER
config = dict(
    optimizer=L("torch.optim.AdamW")(params=PLACEHOLDER, lr=1e-3),
    trainer=dict(max_iter=10, logging_iter=5, name="run_${trainer.max_iter}"),
)
"""
OTHER = """
from lazycfg import L, PLACEHOLDER
config = dict(
    optimizer=L("torch.optim.AdamW")(params=PLACEHOLDER, lr=3e-4, betaz=(0.9, 0.99)),
    trainer=dict(max_iter=10, name="run_${trainer.max_iter}"),
)
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "base.py").write_text(textwrap.dedent(BASE))
    (tmp_path / "other.py").write_text(textwrap.dedent(OTHER))
    (tmp_path / "raises.py").write_text("def make_config():\n    x = 1\n    return x / 0\n")
    return tmp_path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_tree_with_overrides_and_provenance(files, capsys):
    code, out, _ = _run(
        capsys, "show", files / "base.py", "trainer.max_iter=20", "-p", "--no-color"
    )
    assert code == 0
    assert "optimizer: L(torch.optim.AdamW)" in out
    assert "max_iter: 20" in out and "<- override trainer.max_iter=20" in out
    assert "\033[" not in out


@pytest.mark.parametrize(
    "argv",
    [
        ["-p", "--no-color", "trainer.max_iter=20", "trainer.logging_iter=2"],
        ["trainer.max_iter=20", "-p", "trainer.logging_iter=2", "--no-color"],
    ],
    ids=["flags-first", "flags-between-overrides"],
)
def test_flags_and_overrides_mix_in_any_order(files, capsys, argv):
    code, out, _ = _run(capsys, "show", files / "base.py", *argv)
    assert code == 0 and "<- override trainer.max_iter=20" in out
    assert "<- override trainer.logging_iter=2" in out


def test_show_resolve_color_and_formats(files, capsys):
    code, out, _ = _run(capsys, "show", files / "base.py", "--resolve", "--color")
    assert code == 0 and "run_10" in out and "\033[" in out
    code, out, _ = _run(capsys, "show", files / "base.py", "--format", "yaml")
    assert code == 0 and out.startswith("__lazycfg__:")
    code, out, _ = _run(capsys, "show", files / "base.py", "--format", "py")
    assert code == 0 and "config = " in out


def test_show_defaults_lists_signature_defaults(files, capsys):
    pytest.importorskip("torch")
    code, out, _ = _run(capsys, "show", files / "base.py", "--defaults", "--no-color")
    assert code == 0 and "weight_decay=" in out and "(default)" in out


def test_explain_shows_override_text(files, capsys):
    code, out, _ = _run(
        capsys, "explain", files / "base.py", "trainer.max_iter", "trainer.max_iter=20"
    )
    assert code == 0
    assert out.splitlines()[0] == "trainer.max_iter:" and "override trainer.max_iter=20" in out


def test_explain_glob_path_lists_every_match_with_its_count(files, capsys):
    code, out, _ = _run(capsys, "explain", files / "base.py", "trainer.*_iter", "trainer.*_iter=7")
    assert code == 0
    heads = [line for line in out.splitlines() if not line.startswith(" ")]
    assert heads == ["trainer.max_iter:", "trainer.logging_iter:"]
    assert out.count("override trainer.*_iter=7 (2 matches)") == 2


def test_diff_exit_codes_and_lines(files, capsys):
    code, out, _ = _run(capsys, "diff", files / "base.py", files / "other.py")
    assert code == 1
    assert out.splitlines() == [
        "optimizer.lr=0.0003",
        "+optimizer.betaz=(0.9, 0.99)",
        "~trainer.logging_iter",
    ]
    code, out, _ = _run(capsys, "diff", files / "base.py", files / "base.py")
    assert (code, out) == (0, "")


def test_check_exit_codes(files, capsys):
    pytest.importorskip("torch")
    code, out, _ = _run(capsys, "check", files / "base.py")
    assert (code, out.strip()) == (0, f"{files / 'base.py'}: ok")
    code, out, _ = _run(capsys, "check", files / "base.py", files / "other.py")
    assert code == 1 and "Did you mean 'betas'" in out


ERRORS = [
    ("missing_file", ["show", "nope.py"], "not found"),
    ("bad_override", ["show", "base.py", "trainer.maxiter=3"], "max_iter"),
    ("bad_path", ["explain", "base.py", "trainer.nope"], "Keys: max_iter, logging_iter, name"),
    (
        "override_as_path",
        ["explain", "base.py", "trainer.max_iter=3"],
        "write the path to explain first, then the overrides (lazycfg explain base.py "
        "trainer.max_iter trainer.max_iter=3)",
    ),
    ("glob_matches_nothing", ["explain", "base.py", "trainer.zz*"], "matches no value"),
    ("raising_file", ["show", "raises.py"], "raises.py:3 (in make_config): ZeroDivisionError"),
    ("usage", ["frobnicate"], ""),
    ("no_file", ["show"], "the following arguments are required: file\n"),
]


@pytest.mark.parametrize("argv,words", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_exit_2_with_a_message(files, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(files)
    code, _, err = _run(capsys, *argv)
    assert code == 2 and words in err


def test_module_entry_point_and_show_imports_nothing_heavy(files):
    code = (
        "import sys, runpy; sys.argv = ['lazycfg', 'show', 'base.py'];"
        "from lazycfg._cli import main; rc = main(sys.argv[1:]);"
        "heavy = [m for m in ('torch', 'numpy', 'omegaconf', 'hydra') if m in sys.modules];"
        "assert rc == 0 and not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=files, check=True)
    out = subprocess.run(
        [sys.executable, "-m", "lazycfg", "show", "base.py", "--no-color"],
        cwd=files,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "max_iter: 10" in out.stdout
