"""Cached signature lookups of targets, without importing anything new.

``checkable_target(node)`` returns the target callable only when it is already a callable object
or its module is already in ``sys.modules`` (DESIGN section 4: overrides check signatures only
then; ``check()`` imports targets itself). ``params(target)`` gives the parameter names, whether
``**kwargs`` is accepted, and resolved annotations; results are cached per target.
"""

from __future__ import annotations

import sys
from typing import Any

from ._node import LazyNode, LazyRef

__all__ = ["checkable_target", "params", "Params", "param_annotation"]


class Params:
    """Parameters of a callable.

    Attributes:
        names: keyword-passable parameter names, in order.
        required: names without a default (keyword-passable ones).
        var_kw: True when the callable takes ``**kwargs``.
        var_pos: True when it takes ``*args``.
        hints: ``{name: annotation}`` (resolved where possible).
        defaults: ``{name: default}`` for parameters that have one.
    """

    __slots__ = ("names", "required", "var_kw", "var_pos", "hints", "defaults", "positional")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.required: list[str] = []
        self.var_kw = False
        self.var_pos = False
        self.hints: dict[str, Any] = {}
        self.defaults: dict[str, Any] = {}
        self.positional: list[str] = []


_CACHE: dict[Any, Params | None] = {}


def checkable_target(node: LazyNode) -> Any:
    """The node's target callable if it can be inspected without importing; else None."""
    target = node.__lz_target__
    if isinstance(target, (str, LazyRef)):
        # the longest imported prefix, then plain attribute access: never import anything
        parts = str(target).split(".")
        for i in range(len(parts) - 1, 0, -1):
            module = sys.modules.get(".".join(parts[:i]))
            if module is None:
                continue
            obj = module
            for attr in parts[i:]:
                obj = getattr(obj, attr, _MISSING)
                if obj is _MISSING:
                    return None
            return obj
        return None
    return target


def params(target: Any) -> Params | None:
    """Parameters of ``target`` (cached); None when it has no inspectable signature."""
    try:
        cached = _CACHE.get(target, _MISSING)
    except TypeError:
        cached = _MISSING
    if cached is not _MISSING:
        return cached  # type: ignore[return-value]
    result = _compute(target)
    try:
        _CACHE[target] = result
    except TypeError:
        pass
    return result


_MISSING = object()


def _compute(target: Any) -> Params | None:
    import inspect

    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    out = Params()
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            out.var_kw = True
            continue
        if p.kind is p.VAR_POSITIONAL:
            out.var_pos = True
            continue
        if p.kind is p.POSITIONAL_ONLY:
            out.positional.append(p.name)
            continue
        out.names.append(p.name)
        if p.default is p.empty:
            out.required.append(p.name)
        else:
            out.defaults[p.name] = p.default
        if p.annotation is not p.empty:
            out.hints[p.name] = p.annotation
    if any(isinstance(v, str) for v in out.hints.values()):
        out.hints.update(_resolved_hints(target, out.hints))
    return out


def _resolved_hints(target: Any, raw: dict[str, Any]) -> dict[str, Any]:
    import typing

    fn = target.__init__ if isinstance(target, type) else target
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward refs: drop those annotations
        return {k: Any for k, v in raw.items() if isinstance(v, str)}
    return {k: hints.get(k, Any) for k in raw}


def param_annotation(node: LazyNode, name: str) -> Any:
    """The annotation of parameter ``name`` of a checkable target (None when unknown)."""
    target = checkable_target(node)
    if target is None:
        return None
    p = params(target)
    if p is None:
        return None
    return p.hints.get(name)
