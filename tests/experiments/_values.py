"""Checks shared by the experiment tests."""

from __future__ import annotations

from typing import Any


def assert_config_value(cfg: Any, path: str, expected: Any) -> None:
    """``cfg``'s value at dotted ``path`` equals ``expected`` and has its exact type.

    Exact types (no 1 for 1.0, no "8" for 8); config mappings/lists may be subclasses.
    """
    value = cfg
    for part in path.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    assert value == expected
    assert type(value) is type(expected) or (
        isinstance(expected, (dict, list)) and isinstance(value, type(expected))
    )
