"""Tests for lazycfg._display: tree rendering for terminals and notebooks."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from lazycfg import PLACEHOLDER, L, configclass
from lazycfg._display import render_tree, repr_html, repr_pretty


class Net:
    def __init__(self, dim: int, depth: int = 2) -> None:
        self.dim = dim


@configclass
class Job:
    name: str = "run"


@configclass
class Root:
    job: Job = attrs.field(factory=Job)
    model: Any = None


def _cfg() -> Root:
    shared = L(f"{__name__}.Net")(dim=3)
    cfg = Root(
        model=L("pkg.Model")(
            net=shared, ema=shared, params=PLACEHOLDER, betas=(0.9, 0.99), _recursive_=False
        )
    )
    cfg.job.name = "edited"
    return cfg


def test_tree_lines_in_config_order():
    text = render_tree(_cfg())
    assert text.splitlines() == [
        "Root",
        "  job: Job",
        "    name: 'edited'",
        "  model: L(pkg.Model)  _recursive_=False",
        f"    net: L({__name__}.Net)",
        "      dim: 3",
        "    ema: *same as model.net",
        "    params: PLACEHOLDER",
        "    betas: (0.9, 0.99)",
    ]


def test_provenance_notes_name_the_line():
    text = render_tree(_cfg(), provenance=True)
    line = next(x for x in text.splitlines() if "name: 'edited'" in x)
    assert "<- " in line and "test_display.py:" in line


def test_defaults_are_shown_only_on_request():
    assert "depth=2" not in render_tree(_cfg())
    assert "depth=2  (default)" in render_tree(_cfg(), defaults=True)


def test_color_only_when_asked():
    assert "\033[" not in render_tree(_cfg())
    assert "\033[" in render_tree(_cfg(), color=True)


def test_notebook_hooks():
    class Printer:
        def __init__(self) -> None:
            self.out = ""

        def text(self, s: str) -> None:
            self.out += s

    p = Printer()
    repr_pretty(_cfg(), p, False)
    assert p.out.startswith("Root") and "name: 'edited'" in p.out
    html = repr_html(_cfg())
    assert html.startswith('<pre class="lazycfg-tree">') and "&#x27;edited&#x27;" in html


class _Printer:
    """The part of IPython's ``PrettyPrinter`` that ``_repr_pretty_`` uses."""

    def __init__(self) -> None:
        self.out = ""

    def text(self, s: str) -> None:
        self.out += s


def _display_objects() -> list[Any]:
    from lazycfg import ConfigDict, ConfigList

    return [
        pytest.param(L(f"{__name__}.Net")(dim=3), "L(", id="lazy-node"),
        pytest.param(ConfigDict(opt=ConfigDict(lr=0.1)), "opt:", id="config-dict"),
        pytest.param(ConfigList([L(f"{__name__}.Net")(dim=1), 2]), "[0]:", id="config-list"),
        pytest.param(_cfg(), "Root", id="configclass"),
    ]


@pytest.mark.parametrize(("obj", "first"), _display_objects())
def test_containers_display_as_trees_in_notebooks(obj: Any, first: str) -> None:
    p = _Printer()
    obj._repr_pretty_(p, False)
    assert p.out == render_tree(obj, provenance=True).rstrip("\n")
    assert p.out.startswith(first)
    assert obj._repr_html_() == repr_html(obj)
    cyc = _Printer()
    obj._repr_pretty_(cyc, True)
    assert cyc.out == "..."


def test_configclass_keeps_its_own_display() -> None:
    @configclass
    class Custom:
        x: int = 1

        def _repr_html_(self) -> str:
            return "<b>mine</b>"

    assert Custom()._repr_html_() == "<b>mine</b>"
    assert callable(Custom()._repr_pretty_)


def test_display_hooks_do_not_hide_kwargs_or_keys() -> None:
    from lazycfg import ConfigDict

    node = L(f"{__name__}.Net")(dim=3)
    assert list(node) == ["dim"] and "_repr_html_" not in dir(node)
    assert list(ConfigDict(a=1)) == ["a"]
