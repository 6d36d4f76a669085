"""Tests for lazycfg._display: tree rendering for terminals and notebooks."""
from __future__ import annotations

from typing import Any

import attrs

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
    cfg = Root(model=L("pkg.Model")(net=shared, ema=shared, params=PLACEHOLDER,
                                    betas=(0.9, 0.99), _recursive_=False))
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
