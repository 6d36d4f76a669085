"""Shared lazycfg fixtures: every instantiate/override test runs on the config as built
(``direct``), after ``save`` -> ``load`` (``yaml``) and after ``to_py`` -> ``load`` (``py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lazycfg

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lazycfg"
EXPERIMENTS = FIXTURES / "experiments"


@pytest.fixture(params=["direct", "yaml", "py"])
def roundtrip(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Any], Any]:
    """A function that returns the config as is, or reloaded from YAML or generated Python."""
    mode = request.param

    def convert(cfg: Any) -> Any:
        if mode == "direct":
            return cfg
        if mode == "yaml":
            path = tmp_path / "config.yaml"
            lazycfg.save(cfg, path)
            return lazycfg.load(path)
        path = tmp_path / "config_gen.py"
        path.write_text(lazycfg.to_py(cfg))
        return lazycfg.load(path)

    convert.mode = mode  # type: ignore[attr-defined]
    return convert


@pytest.fixture
def toy_registry() -> lazycfg.Registry:
    from tests.fixtures.lazycfg.toy import REGISTRY

    return REGISTRY


@pytest.fixture
def experiments() -> Path:
    return EXPERIMENTS


@pytest.fixture(autouse=True)
def _isolated_default_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each lazycfg unit test sees an empty default registry.

    In a full-suite run, cosmos_train's option modules register real groups (``net``, ``model``...)
    in the process-wide default registry; library tests must not depend on what else was imported.
    """
    from lazycfg import _overrides as _registry

    monkeypatch.setattr(_registry, "_DEFAULT", lazycfg.Registry())
