"""Tree rendering of configs for terminals and notebooks."""
from __future__ import annotations

from typing import Any


def render_tree(cfg: Any, *, color: bool = False) -> str:
    """Return a readable indented tree of ``cfg``."""
    raise NotImplementedError
