"""The tree stays formatted and lint-clean: ``ruff check`` and ``ruff format --check``.

Fix a failure with ``ruff format . && ruff check --fix .``; wrap what remains by hand.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is not installed: pip install -e '.[dev]' installs it")
    return [exe]


@pytest.mark.parametrize(
    "args",
    [["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]],
    ids=["check", "format"],
)
def test_ruff(args: list[str]) -> None:
    proc = subprocess.run([*_ruff(), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = f"ruff {' '.join(args)} found problems:\n{proc.stdout}{proc.stderr}"
    assert proc.returncode == 0, report
