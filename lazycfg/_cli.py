"""``python -m lazycfg`` command line: show, explain, diff, check."""
from __future__ import annotations

from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    raise NotImplementedError
