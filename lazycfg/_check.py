"""Static checks of a config against its targets' signatures."""
from __future__ import annotations

from typing import Any


class Problem:
    """One problem found by ``check``."""


def check(cfg: Any, *, strict: bool = False) -> list[Problem]:
    """Report problems in ``cfg`` without building anything."""
    raise NotImplementedError
