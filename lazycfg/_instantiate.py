"""``instantiate``: build lazy nodes recursively (one walk, memoised per call)."""

from __future__ import annotations

from typing import Any

from ._errors import ConfigError, InstantiationError
from ._node import PLACEHOLDER, LazyNode, LazyRef, locate, resolve_target, target_name
from .tree import format_path

__all__ = ["instantiate"]

_SCALARS = frozenset({int, float, str, bool, type(None), bytes, complex})


def instantiate(obj: Any, *args: Any, **kwargs: Any) -> Any:
    """Builds every lazy node in ``obj`` (inside dicts, lists and tuples too).

    Args:
        obj: a lazy node, or a container holding nodes (a dict gives a plain dict, a list a list,
            a tuple a tuple); other values are returned unchanged (attrs config instances are
            passed through as they are: typed configs are built by their owner).
        *args: prepended to the node's positional args (top-level node only).
        **kwargs: override or add top-level call arguments (runtime objects such as
            ``params=model.parameters()``); they are passed as given, never built.

    Returns:
        The built object. A node reachable twice is built once per call. Callees receive plain
        ``dict``/``list``/``tuple`` (never config containers); a node with ``_recursive_=False``
        receives its children unbuilt. ``LazyRef`` values are imported.

    Raises:
        InstantiationError: a target failed to import or to build, or a ``PLACEHOLDER`` is left;
            the message names the config path, the target and the node's ``file:line``, and the
            original exception is chained.
    """
    if (args or kwargs) and type(obj) is not LazyNode:
        raise InstantiationError(
            f"instantiate(obj, *args, **kwargs): call arguments need a lazy node, got "
            f"{type(obj).__name__}", "")
    return _build(obj, (), {}, args, kwargs)


def _build(obj: Any, path: tuple, memo: dict, call_args: tuple = (),
           call_kwargs: dict | None = None) -> Any:
    t = type(obj)
    if t in _SCALARS:
        return obj
    oid = id(obj)
    if oid in memo:
        return memo[oid]
    if t is LazyNode:
        result = _build_node(obj, path, memo, call_args, call_kwargs or {})
    elif isinstance(obj, dict):
        result = {k: _build(v, (*path, k), memo) for k, v in obj.items()}
    elif isinstance(obj, list):
        result = [_build(v, (*path, i), memo) for i, v in enumerate(obj)]
    elif isinstance(obj, tuple):
        items = [_build(v, (*path, i), memo) for i, v in enumerate(obj)]
        result = type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    elif isinstance(obj, LazyRef):
        try:
            result = locate(obj.__lz_name__, format_path(path))
        except ConfigError as exc:
            where = format_path(path) or "<root>"
            raise InstantiationError(f"failed to import {where!r}: {exc}", where) from exc
    else:
        return obj
    memo[oid] = result
    return result


def _plain(value: Any) -> Any:
    """Unbuilt children of a ``_recursive_=False`` node are passed as they are."""
    return value


def _build_node(node: LazyNode, path: tuple, memo: dict, call_args: tuple,
                call_kwargs: dict) -> Any:
    where = format_path(path) or "<root>"
    site = node.__lz_site__
    name = target_name(node.__lz_target__)
    try:
        target = resolve_target(node, where)
    except ConfigError as exc:
        why = exc.message.removeprefix(f"{where}: ").removeprefix(f"cannot import {name!r}")
        raise InstantiationError(
            f"failed to build {where!r}: cannot import target {name!r} of the node defined at "
            f"{site or '<unknown>'}{why}", where) from exc
    if node.__lz_recursive__:
        args = [_build(a, (*path, i), memo) for i, a in enumerate(node.__lz_args__)]
        kwargs = {k: _build(v, (*path, k), memo) for k, v in node.__lz_kwargs__.items()}
    else:
        args = list(node.__lz_args__)
        kwargs = dict(node.__lz_kwargs__)
    if call_args:
        args = [*call_args, *args]
    if call_kwargs:
        kwargs.update(call_kwargs)
    for key, value in (*enumerate(args), *kwargs.items()):
        if value is PLACEHOLDER:
            full = format_path((*path, key))
            raise InstantiationError(
                f"failed to build {where!r} (L({name}) at {site or '<unknown>'}): argument "
                f"{full!r} is still PLACEHOLDER; pass it at build time: "
                f"instantiate(cfg{'.' + where if path else ''}, {key}=...)", full)
    try:
        return target(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised with the config context
        raise InstantiationError(
            f"failed to build {where!r}: {name}(...) defined at {site or '<unknown>'} raised "
            f"{type(exc).__name__}: {exc}", where) from exc
