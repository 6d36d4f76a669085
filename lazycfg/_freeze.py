"""Deep ``freeze`` / ``is_frozen`` / ``unfreeze`` over nodes, mappings, lists and attrs configs.

A frozen container stores its config path (``__lz_frozen__``), so the error of a later set or
delete names the full path (``trainer.max_iter``). ``freeze`` swaps plain lists for
:class:`ConfigList` and plain dicts for :class:`ConfigDict` (so they can refuse mutation), guards
plain attrs classes (a ``__setattr__`` wrapper for ``__dict__`` classes, a guarded subclass for
slotted ones) and descends into tuples. ``with unfreeze(cfg):`` is the one explicit, scoped way to
change a frozen config; the whole tree is frozen again on exit.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from ._node import ConfigDict, ConfigList, LazyNode, _init_meta, frozen_error
from .tree import attrs_fields, format_path, is_attrs

__all__ = ["freeze", "is_frozen", "unfreeze"]

_SCALARS = frozenset({int, float, str, bool, type(None), bytes, complex})
_GUARDED: dict[type, type] = {}


def freeze(cfg: Any) -> Any:
    """Recursively forbids every set or delete below ``cfg``; returns ``cfg``.

    (A plain ``dict``/``list`` root is replaced by a frozen ``ConfigDict``/``ConfigList``: use the
    return value.)
    """
    return _set(cfg, (), {}, True)


def _set(obj: Any, path: tuple, seen: dict, frozen: bool) -> Any:  # noqa: C901
    t = type(obj)
    if t in _SCALARS:
        return obj
    oid = id(obj)
    if oid in seen:
        return seen[oid]
    mark = format_path(path) if frozen else None
    if t is LazyNode:
        seen[oid] = obj
        if not frozen or obj.__lz_frozen__ is None:
            object.__setattr__(obj, "__lz_frozen__", mark)
        args = obj.__lz_args__
        if frozen and type(args) is list:  # node._args_ must refuse mutation too
            args = ConfigList(args)
            object.__setattr__(obj, "__lz_args__", args)
        if isinstance(args, ConfigList) and (not frozen or args.__lz_frozen__ is None):
            object.__setattr__(args, "__lz_frozen__", format_path((*path, "_args_"))
                               if frozen else None)
        for i, a in enumerate(args):
            new = _set(a, (*path, i), seen, frozen)
            if new is not a:
                args[i] = new
        kwargs = obj.__lz_kwargs__
        for k, v in kwargs.items():
            new = _set(v, (*path, k), seen, frozen)
            if new is not v:
                kwargs[k] = new
        return obj
    if isinstance(obj, dict):
        if isinstance(obj, ConfigDict):
            target = obj
        else:
            if not frozen:
                seen[oid] = obj
                for k, v in obj.items():
                    _set(v, (*path, k), seen, frozen)
                return obj
            target = ConfigDict.__new__(ConfigDict)
            _init_meta(target, "")
            dict.update(target, obj)
        seen[oid] = target
        if not frozen or target.__lz_frozen__ is None:
            object.__setattr__(target, "__lz_frozen__", mark)
        for k, v in list(dict.items(target)):
            new = _set(v, (*path, k), seen, frozen)
            if new is not v:
                dict.__setitem__(target, k, new)
        return target
    if isinstance(obj, list):
        if isinstance(obj, ConfigList):
            target = obj
        elif frozen:
            target = ConfigList(obj)
        else:
            target = obj
        seen[oid] = target
        if isinstance(target, ConfigList) and (not frozen or target.__lz_frozen__ is None):
            object.__setattr__(target, "__lz_frozen__", mark)
        for i, v in enumerate(target):
            new = _set(v, (*path, i), seen, frozen)
            if new is not v:
                list.__setitem__(target, i, new)
        return target
    if isinstance(obj, tuple):
        items = [_set(v, (*path, i), seen, frozen) for i, v in enumerate(obj)]
        if any(a is not b for a, b in zip(items, obj)):
            result = type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
        else:
            result = obj
        seen[oid] = result
        return result
    if is_attrs(obj):
        seen[oid] = obj
        _mark_attrs(obj, mark, frozen)
        d = getattr(obj, "__dict__", None)
        for name in attrs_fields(type(obj)):
            value = d[name] if d is not None and name in d else getattr(obj, name)
            new = _set(value, (*path, name), seen, frozen)
            if new is not value:
                if d is not None:
                    d[name] = new
                else:
                    object.__setattr__(obj, name, new)
        return obj
    return obj


def _mark_attrs(obj: Any, mark: str | None, frozen: bool) -> None:
    cls = type(obj)
    d = getattr(obj, "__dict__", None)
    if d is not None:
        if frozen and d.get("__lz_frozen__") is not None:
            return
        d["__lz_frozen__"] = mark
        if not cls.__dict__.get("__lz_configclass__") and not _is_configclass(cls):
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
    if entry is not None and entry[0]() is obj:
        return entry[1]
    return type(obj).__bases__[0].__name__


def _is_configclass(cls: type) -> bool:
    return any(b.__dict__.get("__lz_configclass__") for b in cls.__mro__)


def _guard_dict_class(cls: type) -> None:
    """Wraps a plain attrs class's ``__setattr__``/``__delattr__`` once to honour the flag."""
    if cls.__dict__.get("__lz_guarded__"):
        return
    orig_set = cls.__setattr__
    orig_del = cls.__delattr__

    def __setattr__(self: Any, name: str, value: Any) -> None:
        mark = self.__dict__.get("__lz_frozen__")
        if mark is not None and not name.startswith("__lz_"):
            raise frozen_error(mark, name)
        orig_set(self, name, value)

    def __delattr__(self: Any, name: str) -> None:
        mark = self.__dict__.get("__lz_frozen__")
        if mark is not None and not name.startswith("__lz_"):
            raise frozen_error(mark, name, "delete")
        orig_del(self, name)

    cls.__setattr__ = __setattr__
    cls.__delattr__ = __delattr__
    cls.__lz_guarded__ = True


def _guarded_subclass(cls: type) -> type:
    sub = _GUARDED.get(cls)
    if sub is None:
        def __setattr__(self: Any, name: str, value: Any) -> None:
            raise frozen_error(_slot_path(self), name)

        def __delattr__(self: Any, name: str) -> None:
            raise frozen_error(_slot_path(self), name, "delete")

        sub = type(cls.__name__, (cls,), {"__slots__": (), "__setattr__": __setattr__,
                                          "__delattr__": __delattr__, "__lz_guard__": True,
                                          "__module__": cls.__module__,
                                          "__qualname__": cls.__qualname__})
        _GUARDED[cls] = sub
    return sub


def is_frozen(cfg: Any) -> bool:
    """True when ``cfg`` (its root container) is frozen."""
    t = type(cfg)
    if t is LazyNode or isinstance(cfg, (ConfigDict, ConfigList)):
        return cfg.__lz_frozen__ is not None
    if is_attrs(cfg):
        d = getattr(cfg, "__dict__", None)
        if d is not None:
            return d.get("__lz_frozen__") is not None
        return bool(getattr(t, "__lz_guard__", False))
    if isinstance(cfg, tuple):
        return all(is_frozen(v) for v in cfg if type(v) not in _SCALARS)
    return False


@contextmanager
def unfreeze(cfg: Any) -> Iterator[Any]:
    """``with unfreeze(cfg):`` allows changes to a frozen config; it is frozen again on exit.

    A config that was not frozen is left unfrozen on exit. (A plain-dict/list root cannot be
    frozen in place; pass the object ``freeze`` returned.)
    """
    was = is_frozen(cfg)
    _set(cfg, (), {}, False)
    try:
        yield cfg
    finally:
        if was:
            _set(cfg, (), {}, True)
