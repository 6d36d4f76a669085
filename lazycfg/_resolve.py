"""Resolve OmegaConf-style ``${...}`` interpolations in place."""
from __future__ import annotations

from datetime import datetime
from typing import Any


def resolve(cfg: Any, *, now: datetime | None = None) -> Any:
    """Resolve every interpolation in ``cfg`` once, in place, and return it."""
    raise NotImplementedError
