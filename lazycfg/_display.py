"""Tree rendering of configs for terminals (``lazycfg show``) and notebooks.

``render_tree`` prints one line per value, indented by depth, in config order::

    Config
      job: JobConfig
        name: 'run'                      <- experiments/x.py:12
      optimizer: L(torch.optim.AdamW)
        lr: 0.0003                       <- override optimizer.lr=3e-4
        weight_decay=0.01                   (signature default, with defaults=True)

A node reachable twice is printed once; its other places say ``*same as <path>``. Nothing is
imported unless ``defaults=True`` (which imports targets to read their signatures).
``repr_pretty``/``repr_html`` are the IPython hooks (``_repr_pretty_``/``_repr_html_``).
"""
from __future__ import annotations

import enum
from typing import Any

from lazycfg import _node as P
from lazycfg import tree as _tree
from lazycfg._node import DISPLAY, PLACEHOLDER, target_name

_RESET = "\033[0m"
_STYLE = {"key": "\033[36m", "target": "\033[1;34m", "class": "\033[1;35m", "str": "\033[32m",
          "num": "\033[33m", "const": "\033[35m", "dim": "\033[2m", "ref": "\033[2;3m"}
_INLINE_WIDTH = 60


class _Renderer:
    def __init__(self, color: bool, provenance: bool, defaults: bool) -> None:
        self.color, self.provenance, self.defaults = color, provenance, defaults
        self.lines: list[tuple[str, str]] = []  # (text, provenance note)
        self.at: tuple[int, str, Any, Any] = (0, "", None, None)  # depth, label, parent, key

    def style(self, text: str, what: str) -> str:
        return f"{_STYLE[what]}{text}{_RESET}" if self.color else text

    def leaf(self, value: Any) -> str:
        if value is PLACEHOLDER:
            return self.style("PLACEHOLDER", "const")
        if isinstance(value, enum.Enum):
            return self.style(f"{type(value).__name__}.{value.name}", "const")
        if isinstance(value, str):
            return self.style(repr(value), "str")
        if isinstance(value, bool) or value is None:
            return self.style(repr(value), "const")
        if isinstance(value, (int, float)):
            return self.style(repr(value), "num")
        if isinstance(value, type) or callable(value):
            return self.style(target_name(value), "target")
        return repr(value)

    def inline(self, value: Any) -> str | None:
        """A one-line form for small containers of scalars (None when it does not fit)."""
        kind = _tree.kind_of(value)
        if kind == "leaf":
            return self.leaf(value)
        if kind in ("list", "tuple"):
            parts = [self.inline(v) for v in value]
            if any(p is None or _tree.kind_of(v) != "leaf" for p, v in zip(parts, value)):
                return None
            text = ", ".join(parts)  # type: ignore[arg-type]
            if kind == "tuple" and len(parts) == 1:
                text += ","
            text = ("[" + text + "]") if kind == "list" else ("(" + text + ")")
            return text if len(_plain(text)) <= _INLINE_WIDTH else None
        if kind == "mapping" and not value:
            return "{}"
        return None

    def header(self, value: Any) -> str:
        kind = _tree.kind_of(value)
        if kind == "node":
            text = self.style(f"L({target_name(value.__lz_target__)})", "target")
            if not value.__lz_recursive__:
                text += self.style("  _recursive_=False", "dim")
            return text
        if kind == "attrs":
            return self.style(type(value).__name__, "class")
        return ""

    def note(self, container: Any, key: Any) -> str:
        if not self.provenance or container is None:
            return ""
        recs = P.get_history(container, key)
        if recs:
            return f"<- {recs[-1].where()}"
        site = P.get_site(container)
        return f"<- {P._short_source(site)}" if site else ""

    def add(self, depth: int, text: str, note: str = "") -> None:
        self.lines.append(("  " * depth + text, note))

    def render(self, value: Any, path: tuple, t: _tree.Traversal) -> str:
        """The traversal function: adds the lines of ``value`` (its place is ``self.at``) and
        returns its path, which later visits of a shared container refer to."""
        depth, label, container, key = self.at
        kind = _tree.kind_of(value)
        prefix = f"{self.style(label, 'key')}: " if label else ""
        note = self.note(container, key)
        small = self.inline(value)
        if small is not None:
            self.add(depth, prefix + small, note)
            return _tree.format_path(path) or "<root>"
        head = self.header(value)
        if label or head:
            self.add(depth, (prefix + head).rstrip(), note)
        child_depth = depth + 1 if (label or head) else depth
        for k, child in _tree.children(value):
            name = f"[{k}]" if kind in ("list", "tuple") or (kind == "node" and
                                                             isinstance(k, int)) else str(k)
            self.at = (child_depth, name, value, k)
            first = t.memo.get(id(child))
            if first is not None and _tree.kind_of(child) != "tuple":  # shared: printed once
                self.add(child_depth, f"{self.style(name, 'key')}: "
                         + self.style(f"*same as {first[1]}", "ref"), self.note(value, k))
            elif _tree.kind_of(child) == "tuple":  # tuples are values: printed in full each time
                self.render(child, (*path, k), t)
            else:
                t(child, (*path, k))
        if kind == "node" and self.defaults:
            self.signature_defaults(value, child_depth)
        return _tree.format_path(path) or "<root>"

    def signature_defaults(self, node: Any, depth: int) -> None:
        from lazycfg._node import resolve_target
        from lazycfg._types import params

        try:
            p = params(resolve_target(node))
        except Exception as e:  # noqa: BLE001 - show the problem instead of the defaults
            self.add(depth, self.style(f"(defaults unavailable: {e})", "dim"))
            return
        if p is None:
            return
        for name, default in p.defaults.items():
            if name not in node.__lz_kwargs__:
                self.add(depth, self.style(f"{name}={default!r}  (default)", "dim"))
        for name in p.required:
            if name not in node.__lz_kwargs__:
                self.add(depth, self.style(f"{name}=<required, not set>", "dim"))

    def text(self) -> str:
        width = max((len(_plain(t)) for t, n in self.lines if n), default=0)
        width = min(width, 72)
        out = []
        for text, note in self.lines:
            if note:
                pad = " " * max(1, width - len(_plain(text)) + 2)
                out.append(text + pad + self.style(note, "dim"))
            else:
                out.append(text)
        return "\n".join(out) + "\n"


def _plain(text: str) -> str:
    import re

    return re.sub(r"\033\[[0-9;]*m", "", text)


def render_tree(cfg: Any, *, color: bool = False, provenance: bool = False,
                defaults: bool = False) -> str:
    """Return a readable indented tree of ``cfg``.

    Args:
        cfg: any config tree.
        color: add ANSI colours (keys, targets, values by type).
        provenance: append where each value was last set (``file:line``, override text, ...).
        defaults: also list signature defaults of each node's target (imports the targets).
    """
    r = _Renderer(color, provenance, defaults)
    _tree.traverse(r.render, cfg)
    return r.text()


def repr_pretty(obj: Any, p: Any, cycle: bool) -> None:
    """IPython ``_repr_pretty_`` hook: the tree, with provenance."""
    p.text("..." if cycle else render_tree(obj, provenance=True).rstrip("\n"))


def repr_html(obj: Any) -> str:
    """Notebook ``_repr_html_`` hook: the tree in a ``<pre>`` block, notes greyed."""
    import html

    r = _Renderer(False, True, False)
    _tree.traverse(r.render, obj)
    rows = []
    for text, note in r.lines:
        row = html.escape(text)
        if note:
            row += f'  <span style="color:#888">{html.escape(note)}</span>'
        rows.append(row)
    return '<pre class="lazycfg-tree">' + "\n".join(rows) + "</pre>"


DISPLAY.update(pretty=repr_pretty, html=repr_html)
