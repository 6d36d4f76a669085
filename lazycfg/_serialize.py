"""Save/load configs as safe YAML, render them as Python, fingerprint them."""
from __future__ import annotations

import os
from typing import Any


def save(cfg: Any, path: str | os.PathLike) -> None:
    """Write ``cfg`` as YAML that ``yaml.safe_load`` reads and ``load`` restores."""
    raise NotImplementedError


def dumps(cfg: Any) -> str:
    """Return the YAML text ``save`` would write."""
    raise NotImplementedError


def loads(text: str) -> Any:
    """Restore a config from the text of ``dumps``."""
    raise NotImplementedError


def load_yaml(path: str | os.PathLike) -> Any:
    """Restore a config from a file written by ``save``."""
    raise NotImplementedError


def to_py(cfg: Any) -> str:
    """Return executable Python source that ``load`` turns into an equal config."""
    raise NotImplementedError


def fingerprint(cfg: Any) -> str:
    """Stable sha256 of the canonical YAML of ``cfg`` (history and choices excluded)."""
    raise NotImplementedError
