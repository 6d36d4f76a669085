"""Path-level differences between two configs."""
from __future__ import annotations

from typing import Any


class DiffEntry:
    """One difference; ``str()`` gives the override line that applies it."""


def diff(a: Any, b: Any) -> list[DiffEntry]:
    """Return the changed, added and removed paths from ``a`` to ``b``."""
    raise NotImplementedError
