"""``instantiate`` (build lazy nodes) and ``freeze``/``is_frozen``/``unfreeze``, on the memoised
traversal of ``lazycfg.tree`` (a node reachable twice is built or frozen once).

A frozen container stores its config path (``__lz_frozen__``) for error messages. ``freeze``
swaps plain lists and dicts for ``ConfigList``/``ConfigDict`` and guards plain attrs classes
(a wrapped ``__setattr__``, or a guarded subclass for slotted ones). ``with unfreeze(cfg):`` is
the one scoped way to change a frozen config.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._configclass import is_configclass
from ._errors import ConfigError, InstantiationError
from ._node import (
    _SCALARS,
    PLACEHOLDER,
    ConfigDict,
    ConfigList,
    LazyNode,
    LazyRef,
    _init_meta,
    frozen_error,
    locate,
    resolve_target,
    target_name,
)
from .tree import Traversal, children, format_path, is_attrs, kind_of, raw_set, traverse

__all__ = ["instantiate", "freeze", "is_frozen", "unfreeze"]


# ----------------------------------------------------------------------------- instantiate
def instantiate(obj: Any, *args: Any, **kwargs: Any) -> Any:
    """Builds every lazy node in ``obj`` (inside dicts, lists and tuples; attrs instances pass
    through) into plain ``dict``/``list``/``tuple``; a node reachable twice is built once.

    ``args``/``kwargs`` go to the top-level node's call, unbuilt (runtime objects such as
    ``params=model.parameters()``). Failures, and a ``PLACEHOLDER`` left, are an
    ``InstantiationError`` naming the path, the target and the node's ``file:line``.
    """
    if (args or kwargs) and type(obj) is not LazyNode:
        raise InstantiationError(
            f"instantiate(obj, *args, **kwargs): call arguments need a lazy node, got "
            f"{type(obj).__name__}", "")
    t = Traversal(_build)
    return _build_node(obj, (), t, args, kwargs) if type(obj) is LazyNode else t(obj)


def _build(obj: Any, path: tuple, t: Traversal) -> Any:
    kind = kind_of(obj)
    if kind == "node":
        return _build_node(obj, path, t, (), {})
    if kind == "mapping":
        return dict(t.map_children(obj, path))
    if kind == "list":
        return [v for _, v in t.map_children(obj, path)]
    if isinstance(obj, tuple):  # namedtuples too
        items = [t(v, (*path, i)) for i, v in enumerate(obj)]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    if isinstance(obj, LazyRef):
        where = format_path(path) or "<root>"
        try:
            return locate(obj.__lz_name__, where)
        except ConfigError as exc:
            raise InstantiationError(f"failed to import {where!r}: {exc}", where) from exc
    return obj


def _build_node(node: LazyNode, path: tuple, t: Traversal, call_args: tuple,
                call_kwargs: dict) -> Any:
    where = format_path(path) or "<root>"
    site = node.__lz_site__ or "<unknown>"
    name = target_name(node.__lz_target__)
    try:
        target = resolve_target(node, where)
    except ConfigError as exc:
        why = exc.message.removeprefix(f"{where}: ").removeprefix(f"cannot import {name!r}")
        raise InstantiationError(f"failed to build {where!r}: cannot import target {name!r} of "
                                 f"the node defined at {site}{why}", where) from exc
    items = t.map_children(node, path) if node.__lz_recursive__ else children(node)
    args = [*call_args, *(v for k, v in items if isinstance(k, int))]
    kwargs = {**{k: v for k, v in items if not isinstance(k, int)}, **call_kwargs}
    for key, value in (*enumerate(args), *kwargs.items()):
        if value is PLACEHOLDER:
            full = format_path((*path, key))
            raise InstantiationError(
                f"failed to build {where!r} (L({name}) at {site}): argument {full!r} is still "
                f"PLACEHOLDER; pass it at build time: instantiate(cfg"
                f"{'.' + where if path else ''}, {key}=...)", full)
    try:
        return target(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised with the config context
        raise InstantiationError(f"failed to build {where!r}: {name}(...) defined at {site} "
                                 f"raised {type(exc).__name__}: {exc}", where) from exc


# ----------------------------------------------------------------------------- freeze
_GUARDED: dict[type, type] = {}


def freeze(cfg: Any) -> Any:
    """Forbids every set or delete below ``cfg``; returns it (a new container for a plain
    ``dict``/``list`` root)."""
    return traverse(_freezer(True), cfg)


def _freezer(frozen: bool) -> Any:
    """The traversal function that freezes (or unfreezes) one container and its children."""

    def fn(obj: Any, path: tuple, t: Traversal) -> Any:
        kind = kind_of(obj)
        if kind == "leaf":
            return obj
        mark = format_path(path) if frozen else None
        if kind == "tuple":
            items = [t(v, (*path, i)) for i, v in enumerate(obj)]
            return tuple(items) if any(a is not b for a, b in zip(items, obj)) else obj
        target = obj
        if frozen and type(obj) is dict:
            target = ConfigDict.__new__(ConfigDict)
            _init_meta(target, "")
            dict.update(target, obj)
        elif frozen and type(obj) is list:
            target = ConfigList(obj)
        if kind == "node" and frozen and type(obj.__lz_args__) is list:
            object.__setattr__(obj, "__lz_args__", ConfigList(obj.__lz_args__))
        t.memo[id(obj)] = (obj, target)  # a child reaching back here gets the new container
        if kind == "attrs":
            _mark_attrs(obj, mark, frozen)
        elif isinstance(target, (LazyNode, ConfigDict, ConfigList)):
            _mark(target, mark, frozen)
            if kind == "node":
                _mark(obj.__lz_args__, format_path((*path, "_args_")) if frozen else None,
                      frozen)
        for key, child in children(target):
            new = t(child, (*path, key))
            if new is not child:
                raw_set(target, key, new)
        return target

    return fn


def _mark(obj: Any, mark: str | None, frozen: bool) -> None:
    if isinstance(obj, (LazyNode, ConfigDict, ConfigList)) and (
            not frozen or obj.__lz_frozen__ is None):
        object.__setattr__(obj, "__lz_frozen__", mark)


def _mark_attrs(obj: Any, mark: str | None, frozen: bool) -> None:
    cls = type(obj)
    d = getattr(obj, "__dict__", None)
    if d is not None:
        if frozen and d.get("__lz_frozen__") is not None:
            return
        d["__lz_frozen__"] = mark
        if not is_configclass(cls):
            _guard_dict_class(cls)
        return
    # slotted plain attrs: swap in a guarded subclass with the same layout
    if frozen:
        if not getattr(cls, "__lz_guard__", False):
            object.__setattr__(obj, "__class__", _guarded_subclass(cls))
            _remember_slot_path(obj, mark)
    elif getattr(cls, "__lz_guard__", False):
        object.__setattr__(obj, "__class__", cls.__bases__[0])
        _SLOT_PATHS.pop(id(obj), None)


# config paths of frozen slotted attrs instances (no room for them on the instance itself),
# held by weak reference so a dropped config does not keep its paths
_SLOT_PATHS: dict[int, tuple[Any, str]] = {}


def _remember_slot_path(obj: Any, path: str | None) -> None:
    import weakref

    key = id(obj)
    try:
        ref = weakref.ref(obj, lambda _: _SLOT_PATHS.pop(key, None))
    except TypeError:  # no __weakref__ slot (attrs weakref_slot=False): errors name the class
        return
    _SLOT_PATHS[key] = (ref, path or "")


def _slot_path(obj: Any) -> str:
    entry = _SLOT_PATHS.get(id(obj))
    return entry[1] if entry is not None and entry[0]() is obj else type(obj).__bases__[0].__name__


def _guard(orig: Any, action: str, mark_of: Any) -> Any:
    """``orig`` (``__setattr__``/``__delattr__``) refusing while ``mark_of(self)`` is a path."""

    def method(self: Any, name: str, *value: Any) -> None:
        mark = mark_of(self)
        if mark is not None and not name.startswith("__lz_"):
            raise frozen_error(mark, name, action)
        orig(self, name, *value)

    return method


def _guard_dict_class(cls: type) -> None:
    """Wraps a plain attrs class's ``__setattr__``/``__delattr__`` once to honour the flag."""
    if not cls.__dict__.get("__lz_guarded__"):
        cls.__setattr__ = _guard(cls.__setattr__, "set", _dict_mark)
        cls.__delattr__ = _guard(cls.__delattr__, "delete", _dict_mark)
        cls.__lz_guarded__ = True


def _dict_mark(obj: Any) -> Any:
    return obj.__dict__.get("__lz_frozen__")


def _guarded_subclass(cls: type) -> type:
    """A subclass with the same layout whose instances refuse every set and delete."""
    sub = _GUARDED.get(cls)
    if sub is None:
        sub = _GUARDED[cls] = type(cls.__name__, (cls,), {
            "__slots__": (), "__lz_guard__": True, "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__setattr__": _guard(cls.__setattr__, "set", _slot_path),
            "__delattr__": _guard(cls.__delattr__, "delete", _slot_path)})
    return sub


def is_frozen(cfg: Any) -> bool:
    """True when ``cfg`` (its root container) is frozen."""
    t = type(cfg)
    if t is LazyNode or isinstance(cfg, (ConfigDict, ConfigList)):
        return cfg.__lz_frozen__ is not None
    if is_attrs(cfg):
        d = getattr(cfg, "__dict__", None)
        return (d or {}).get("__lz_frozen__") is not None or bool(getattr(t, "__lz_guard__", 0))
    if isinstance(cfg, tuple):
        return all(is_frozen(v) for v in cfg if type(v) not in _SCALARS)
    return False


@contextmanager
def unfreeze(cfg: Any) -> Iterator[Any]:
    """``with unfreeze(cfg):`` allows changes to a frozen config, frozen again on exit."""
    was = is_frozen(cfg)
    traverse(_freezer(False), cfg)
    try:
        yield cfg
    finally:
        if was:
            traverse(_freezer(True), cfg)
