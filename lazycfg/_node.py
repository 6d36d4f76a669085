"""Lazy nodes, attribute-access mappings, lazy references and provenance storage.

:class:`LazyNode` keeps its state in dunder slots (``__lz_target__``, ``__lz_args__``,
``__lz_kwargs__``, ``__lz_recursive__``, ``__lz_site__``, ``__lz_hist__``, ``__lz_frozen__``,
``__lz_choices__``) so kwargs may be called ``items`` or ``keys``; equality ignores the metadata.
:class:`ConfigDict` is a ``dict`` with attribute access and the same metadata; every plain dict
placed into a config becomes one (:func:`wrap`). ``freeze`` swaps in :class:`ConfigList` for
lists. Provenance: each assignment appends a :class:`Record` (value, source, kind) to a per-key
history stored on the container itself, so ``deepcopy`` keeps it and configs never mix. Kinds:
"init", "python", "override", "select", "delete", "load". Walk configs with ``lazycfg.tree``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from copy import deepcopy
from typing import Any

from ._errors import ConfigError, ConfigKeyError, FrozenConfigError

# ----------------------------------------------------------------------------- provenance
_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# stdlib helpers that may sit between user code and an assignment (deepcopy, with-blocks)
_STDLIB = os.path.dirname(os.__file__) + os.sep
_SKIP_FILES = frozenset({_STDLIB + "copy.py", _STDLIB + "contextlib.py"})
_HIST = "__lz_hist__"
_SITE = "__lz_site__"
_CHOICES = "__lz_choices__"


class _Marker:
    """A singleton marker; copies and pickles give the object itself (``__reduce__`` names it)."""

    __slots__ = ("name", "text")

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text

    def __repr__(self) -> str:
        return self.text

    def __reduce__(self) -> str:
        return self.name


DELETED = _Marker("DELETED", "<deleted>")  # the value of a record that deleted a key
# marks an argument supplied at build time (``instantiate(cfg, params=...)``)
PLACEHOLDER = _Marker("PLACEHOLDER", "PLACEHOLDER")


class Record:
    """One assignment of one key: ``value``, ``source`` (``file:line``, override text or
    ``group=option``) and ``kind``."""

    __slots__ = ("value", "source", "kind")

    def __init__(self, value: object, source: str, kind: str = "python") -> None:
        self.value, self.source, self.kind = value, source, kind

    def __repr__(self) -> str:
        return f"Record({self.value!r}, {self.source!r}, {self.kind!r})"

    def __str__(self) -> str:
        return f"{_short_repr(self.value)}  <- {self.where()}"

    def where(self) -> str:
        """Where the value came from: ``file:line``, ``override TEXT``, ``selected g=o``, ..."""
        src = _short_source(self.source) if self.kind in ("init", "python") else self.source
        return {"override": "override ", "select": "selected ", "delete": "deleted by ",
                "load": "loaded from "}.get(self.kind, "") + (src or "<unknown>")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (self.source, self.kind) == (other.source, other.kind) and _safe_eq(
            self.value, other.value)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return (Record, (self.value, self.source, self.kind))


def _safe_eq(a: object, b: object) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - exotic values (arrays) may refuse to compare
        return a is b


def _short_repr(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_source(source: str) -> str:
    """Shows ``file:line`` relative to the working directory when it is below it."""
    cwd = os.getcwd() + os.sep
    return source[len(cwd):] if source.startswith(cwd) else source


def caller_site(depth: int = 2) -> str:
    """``file:line`` of the first frame outside lazycfg and attrs' generated code, skipping
    ``depth`` frames (2: the caller of the function calling this)."""
    try:
        frame = sys._getframe(depth)
    except ValueError:
        return ""
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith(_PKG_DIR) or name.startswith("<attrs generated")
                or name in _SKIP_FILES):
            return f"{name}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


# ----------------------------------------------------------------------------- storage accessors
def _get_meta(obj: object, name: str) -> object:
    try:
        return object.__getattribute__(obj, name)
    except AttributeError:
        return None


def _set_meta(obj: object, name: str, value: object) -> bool:
    try:
        object.__setattr__(obj, name, value)
        return True
    except (AttributeError, TypeError):
        return False


def get_history(container: object, key: object) -> list[Record]:
    """The stored records of ``key`` in ``container`` (a new list, oldest first)."""
    hist = _get_meta(container, _HIST)
    return list(hist.get(key, ())) if hist else []


def _meta_dict(obj: object, name: str) -> dict | None:
    """The metadata dict ``name`` of ``obj``, created when missing (None: no room for it)."""
    value = _get_meta(obj, name)
    if value is None and _set_meta(obj, name, {}):
        value = _get_meta(obj, name)
    return value  # type: ignore[return-value]


def set_history(container: object, key: object, records: list[Record]) -> None:
    """Replaces the stored records of ``key``; silently a no-op for containers without metadata."""
    hist = _meta_dict(container, _HIST)
    if hist is not None and records:
        hist[key] = list(records)
    elif hist is not None:
        hist.pop(key, None)


def histories(container: object) -> dict:
    """All stored records of ``container``: ``{key: [Record, ...]}`` (a shallow copy)."""
    hist = _get_meta(container, _HIST)
    return {k: list(v) for k, v in hist.items()} if hist else {}


def record(container: object, key: object, old: object, had_old: bool, new: object,
           source: str | None, kind: str = "python") -> None:
    """Appends one record, first materialising the creation-time value ``old`` it replaces.

    ``key`` may be a compound ``"list.0"`` key for list elements; ``source`` None means the
    calling Python line.
    """
    hist = _meta_dict(container, _HIST)
    if hist is None:
        return
    recs = hist.get(key)
    if recs is None:
        recs = hist[key] = []
        if had_old:
            recs.append(Record(old, _get_meta(container, _SITE) or "", "init"))
    if source is None:
        source = caller_site(3)
    recs.append(Record(new, source, kind))


def get_site(container: object) -> str:
    """``file:line`` where a node/mapping/configclass instance was created ("" when unknown)."""
    return _get_meta(container, _SITE) or ""


def set_site(container: object, site: str) -> None:
    """Sets the creation site (used when restoring a saved config)."""
    _set_meta(container, _SITE, site)


def get_choices(root: object) -> dict:
    """The ``{group: option or [options]}`` selections stored on a config root (a copy)."""
    choices = _get_meta(root, _CHOICES)
    return dict(choices) if choices else {}


def set_choices(root: object, choices: dict) -> None:
    """Replaces the selections stored on a config root."""
    _set_meta(root, _CHOICES, dict(choices))


def _note_choice(root: object, group: str, option: object) -> None:
    choices = _meta_dict(root, _CHOICES)
    if choices is not None:
        choices[group] = list(option) if isinstance(option, (list, tuple)) else option


_SCALARS = frozenset({int, float, str, bool, type(None), bytes, complex})
# The one NaN object configs hold: NaN != NaN, but containers compare items by identity first,
# so a config holding NaN equals its copies and its YAML and to_py round trips.
NAN = float("nan")
# Packages whose modules loading a saved config may import (see ``trust``).
_TRUSTED = {"lazycfg", "torch", "numpy", "math", "operator", "functools", "collections",
            "datetime", "pathlib", "enum"}


def trust(*packages: str) -> None:
    """Lets ``load`` of a YAML file import from these top-level packages.

    Loading is data only: it imports only from packages that define config classes or
    registered options, those given here or in ``LAZYCFG_TRUST`` (comma-separated) and
    ``_TRUSTED``. Lazy-node targets stay dotted names until ``instantiate``/``check``.
    """
    _TRUSTED.update(p.split(".", 1)[0] for p in packages)


def is_trusted(package: str) -> bool:
    """True when ``load`` may import from this top-level package (see ``trust``)."""
    return package in _TRUSTED or package in os.environ.get("LAZYCFG_TRUST", "").split(",")


def suggest(name: object, candidates: Any, n: int = 3) -> str:
    """Returns a " Did you mean 'x'?" suffix (empty when nothing is close)."""
    import difflib  # lazy: only on the error path

    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=n, cutoff=0.6)
    return " Did you mean " + " or ".join(map(repr, close)) + "?" if close else ""


def listing(what: str, keys: Any, limit: int = 25) -> str:
    """`` Keys: a, b, c.`` (what the user can type instead), shortened after ``limit`` names."""
    names = [str(k) for k in keys]
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return f" {what}: {', '.join(names[:limit]) or 'none'}{more}."


def frozen_error(path: str, key: object, action: str = "set") -> FrozenConfigError:
    """The error for a mutation of a frozen container at ``path`` (its own path) + ``key``."""
    full = _join(path, key)
    return FrozenConfigError(
        f"cannot {action} {full!r}: the config is frozen. Runtime code changes a frozen config "
        f"only inside `with lazycfg.unfreeze(cfg): ...`.", full)


def _join(path: str | None, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


# ----------------------------------------------------------------------------- lazy references
class LazyRef:
    """A dotted import name imported only when needed (``with lazy_imports(): ...``).

    Attribute access extends the name; it compares equal to its dotted string.
    """

    __slots__ = ("__lz_name__",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "__lz_name__", name)

    def __getattr__(self, attr: str) -> LazyRef:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return LazyRef(f"{self.__lz_name__}.{attr}")

    def __setattr__(self, attr: str, value: object) -> None:
        raise ConfigError(f"cannot set {attr!r} on the lazy import reference "
                          f"{self.__lz_name__!r}", self.__lz_name__)

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise ConfigError(
            f"{self.__lz_name__} is a lazy import reference and cannot be called while the config "
            f"is written; use L({self.__lz_name__.rsplit('.', 1)[-1]})(...) instead.",
            self.__lz_name__)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (LazyRef, str)):
            return self.__lz_name__ == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.__lz_name__)

    def __repr__(self) -> str:
        return f"LazyRef({self.__lz_name__!r})"

    def __str__(self) -> str:
        return self.__lz_name__

    def __reduce__(self) -> tuple:
        return (LazyRef, (self.__lz_name__,))

    def __deepcopy__(self, memo: dict | None = None) -> LazyRef:
        return self

    __copy__ = __deepcopy__


_LOCATE_CACHE: dict[str, Any] = {}


def locate(name: str, path: str | None = None) -> Any:
    """Imports a dotted name (``"pkg.mod.Cls.method"``); a ConfigError naming ``path`` if not."""
    obj = _LOCATE_CACHE.get(name)
    if obj is not None:
        return obj
    import importlib

    parts = name.split(".")
    if not name or not all(parts):
        raise ConfigError(f"{path or '<target>'}: {name!r} is not a dotted import name", path)
    error: BaseException | None = None
    for i in range(len(parts), 0, -1):
        modname = ".".join(parts[:i])
        try:
            obj = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            error = exc
            if exc.name is not None and not modname.startswith(exc.name):
                break  # a dependency of the module is missing: report that, not "no module"
            continue
        except Exception as exc:  # noqa: BLE001 - import-time failure of the target's module
            error = exc
            break
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError as exc:
            raise ConfigError(f"{path or '<target>'}: cannot import {name!r}: module {modname!r} "
                              f"has no attribute {attr!r}", path) from exc
        _LOCATE_CACHE[name] = obj
        return obj
    raise ConfigError(f"{path or '<target>'}: cannot import {name!r} ({error})", path) from error


def target_name(target: object) -> str:
    """The dotted import name of a target (callable, dotted string or LazyRef)."""
    if isinstance(target, (str, LazyRef)):
        return str(target)
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    return f"{module}.{qualname}" if module and qualname else repr(target)


def _targets_equal(a: object, b: object) -> bool:
    if a is b:
        return True
    na, nb = target_name(a), target_name(b)
    if na == nb:
        return True
    # a re-exported name (pkg.Cls vs pkg.mod.Cls): compare objects, importing nothing new
    oa, ob = _loaded(a, na), _loaded(b, nb)
    return oa is not None and oa is ob


def _loaded(target: object, name: str) -> object:
    if callable(target) and not isinstance(target, LazyRef):
        return target
    module, _, attr = name.rpartition(".")
    mod = sys.modules.get(module)
    return getattr(mod, attr, None) if mod is not None else None


def resolve_target(node: LazyNode, path: str | None = None) -> Callable:
    """The callable a node's target stands for, importing it when it is a name."""
    target = node.__lz_target__
    return locate(str(target), path) if isinstance(target, (str, LazyRef)) else target


# ----------------------------------------------------------------------------- partials
class ConfigPartial(functools.partial):
    """A ``functools.partial`` equal by content, so a config equals its copies and round trips
    (:func:`wrap` swaps it in for plain partials)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, functools.partial):
            return NotImplemented
        return (self.func == other.func and self.args == other.args
                and self.keywords == other.keywords)

    def __hash__(self) -> int:
        return hash(self.func)  # args/keywords may be unhashable; equal partials share func

    def __repr__(self) -> str:
        parts = [repr(self.func), *map(repr, self.args),
                 *(f"{k}={v!r}" for k, v in self.keywords.items())]
        return f"functools.partial({', '.join(parts)})"


# ----------------------------------------------------------------------------- notebook display
DISPLAY: dict[str, Callable] = {}  # filled by lazycfg._display (it sits above this layer)


def _repr_pretty_(self: Any, p: Any, cycle: bool) -> None:
    """IPython pretty-printer hook: the config tree with provenance."""
    DISPLAY["pretty"](self, p, cycle)


def _repr_html_(self: Any) -> str:
    """Notebook HTML hook: the config tree in a ``<pre>`` block."""
    return DISPLAY["html"](self)


# ----------------------------------------------------------------------------- wrapping
def wrap(value: Any, site: str = "", memo: dict | None = None) -> Any:
    """Converts plain dicts inside ``value`` to :class:`ConfigDict` and partials to
    :class:`ConfigPartial`; lists change in place, tuples are rebuilt only when needed. With
    ``memo``, a dict reachable twice becomes one ``ConfigDict``."""
    t = type(value)
    if t in _SCALARS:
        return NAN if t is float and value != value else value
    if t is dict:
        if memo is not None and id(value) in memo:
            return memo[id(value)]
        new = ConfigDict.__new__(ConfigDict)
        _init_meta(new, site)
        if memo is not None:
            memo[id(value)] = new
        for k, v in value.items():
            dict.__setitem__(new, k, wrap(v, site, memo))
        return new
    if t is list or t is ConfigList:
        for i, item in enumerate(value):
            if type(item) not in _SCALARS or item != item:
                new_item = wrap(item, site, memo)
                if new_item is not item:
                    list.__setitem__(value, i, new_item)
        return value
    if t is tuple:
        items = [wrap(v, site, memo) for v in value]
        if any(a is not b for a, b in zip(items, value)):
            return tuple(items)
        return value
    if t is functools.partial:
        return ConfigPartial(value.func, *value.args, **value.keywords)
    return value


def _init_meta(obj: object, site: str) -> None:
    object.__setattr__(obj, "__lz_site__", site)
    object.__setattr__(obj, "__lz_hist__", None)
    object.__setattr__(obj, "__lz_frozen__", None)
    object.__setattr__(obj, "__lz_choices__", None)


# ----------------------------------------------------------------------------- ConfigDict
class ConfigDict(dict):
    """A ``dict`` with attribute access (keys not shadowing dict methods), provenance and
    freezing; equality is plain dict equality."""

    __slots__ = ("__lz_site__", "__lz_hist__", "__lz_frozen__", "__lz_choices__")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _init_meta(self, caller_site())
        for k, v in dict(*args, **kwargs).items():
            dict.__setitem__(self, k, wrap(v, self.__lz_site__))

    # -- attribute access
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return dict.__getitem__(self, name)
        except KeyError:
            full = _join(self.__lz_frozen__ or "", name)
            raise ConfigKeyError(f"{full!r}: no such key.{suggest(name, self.keys())}"
                                 f"{listing('Keys', self.keys())}", full) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("__lz_"):
            object.__setattr__(self, name, value)
            return
        if hasattr(dict, name):
            raise ConfigError(f"{name!r} shadows a dict method: write m[{name!r}] = ... instead",
                              name)
        self._lz_set(name, value, None, "python")

    def __delattr__(self, name: str) -> None:
        if name.startswith("__lz_"):
            object.__delattr__(self, name)
            return
        try:
            self.__delitem__(name)
        except KeyError:
            raise ConfigKeyError(f"{name!r}: no such key{suggest(name, self.keys())}",
                                 name) from None

    # -- item access
    def __setitem__(self, key: Any, value: Any) -> None:
        self._lz_set(key, value, None, "python")

    def _lz_set(self, key: Any, value: Any, source: str | None, kind: str) -> None:
        if self.__lz_frozen__ is not None:
            raise frozen_error(self.__lz_frozen__, key)
        value = wrap(value, self.__lz_site__)
        had = dict.__contains__(self, key)
        record(self, key, dict.get(self, key) if had else None, had, value, source, kind)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        if self.__lz_frozen__ is not None:
            raise frozen_error(self.__lz_frozen__, key, "delete")
        dict.__delitem__(self, key)

    def _check_mutable(self) -> None:
        if self.__lz_frozen__ is not None:
            raise frozen_error(self.__lz_frozen__, "*", "modify")

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kwargs).items():
            self._lz_set(k, v, None, "python")

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self._lz_set(key, default, None, "python")
        return dict.__getitem__(self, key)

    def __ior__(self, other: Any) -> ConfigDict:
        self.update(other)
        return self

    def __or__(self, other: Any) -> ConfigDict:
        new = ConfigDict(self)
        new.update(other)
        return new

    def copy(self) -> ConfigDict:
        new = ConfigDict.__new__(type(self))
        _init_meta(new, self.__lz_site__)
        dict.update(new, self)
        return new

    def __dir__(self) -> list[str]:
        return sorted(set(dir(dict)) | {k for k in self if isinstance(k, str)})

    _repr_pretty_ = _repr_pretty_
    _repr_html_ = _repr_html_

    def __repr__(self) -> str:
        return f"ConfigDict({dict.__repr__(self)})"

    # -- copy / pickle (bypass __setitem__, which would record provenance or refuse when frozen)
    def __deepcopy__(self, memo: dict) -> ConfigDict:
        new = memo[id(self)] = ConfigDict.__new__(type(self))
        for name in ConfigDict.__slots__:
            object.__setattr__(new, name, _deep(getattr(self, name), memo))
        for k, v in dict.items(self):
            dict.__setitem__(new, k, v if type(v) in _SCALARS else deepcopy(v, memo))
        return new

    def __copy__(self) -> ConfigDict:
        new = self.copy()
        for name in ("__lz_hist__", "__lz_choices__"):
            value = getattr(self, name)
            object.__setattr__(new, name, dict(value) if value else None)
        return new

    def __reduce__(self) -> tuple:
        return (_restore, (type(self), dict(self), [getattr(self, n) for n in self.__slots__]))


def _restore(cls: type, items: Any, meta: list) -> Any:
    """A ConfigDict or ConfigList from its items and metadata slots (for pickle)."""
    new = cls.__new__(cls)
    (dict.update if issubclass(cls, dict) else list.extend)(new, items)
    for name, value in zip(cls.__slots__, meta):
        object.__setattr__(new, name, value)
    return new


# ----------------------------------------------------------------------------- ConfigList
class ConfigList(list):
    """A ``list`` that refuses mutation while frozen (``freeze`` swaps it in for plain lists)."""

    __slots__ = ("__lz_hist__", "__lz_frozen__")

    def __init__(self, *args: Any) -> None:
        list.__init__(self, *args)
        object.__setattr__(self, "__lz_hist__", None)
        object.__setattr__(self, "__lz_frozen__", None)

    def _check(self, key: object = "*", action: str = "modify") -> None:
        if self.__lz_frozen__ is not None:
            raise frozen_error(self.__lz_frozen__, key, action)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check(index if isinstance(index, int) else "*", "set")
        list.__setitem__(self, index, wrap(value) if not isinstance(index, slice) else value)

    def __delitem__(self, index: Any) -> None:
        self._check(index if isinstance(index, int) else "*", "delete")
        list.__delitem__(self, index)

    def __deepcopy__(self, memo: dict) -> ConfigList:
        new = memo[id(self)] = ConfigList.__new__(type(self))
        list.__init__(new, [v if type(v) in _SCALARS else deepcopy(v, memo) for v in self])
        object.__setattr__(new, "__lz_hist__", _deep(self.__lz_hist__, memo))
        object.__setattr__(new, "__lz_frozen__", self.__lz_frozen__)
        return new

    _repr_pretty_ = _repr_pretty_
    _repr_html_ = _repr_html_

    def __reduce__(self) -> tuple:
        return (_restore, (type(self), list(self), [self.__lz_hist__, self.__lz_frozen__]))


def _guarded(base: type, name: str, check: str, convert: Callable | None = None) -> Callable:
    """``base.name`` preceded by the frozen check; ``convert`` wraps the stored (last) arg."""
    method = getattr(base, name)

    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        getattr(self, check)()
        if convert is not None:
            args = (*args[:-1], convert(args[-1]))
        return method(self, *args, **kwargs)

    guarded.__name__ = name
    return guarded


def _wrap_all(values: Any) -> list:
    return [wrap(v) for v in values]


for _name, _convert in (("append", wrap), ("insert", wrap), ("extend", _wrap_all),
                        ("__iadd__", _wrap_all), ("pop", None), ("remove", None), ("clear", None),
                        ("sort", None), ("reverse", None), ("__imul__", None)):
    setattr(ConfigList, _name, _guarded(list, _name, "_check", _convert))
for _name in ("pop", "popitem", "clear"):
    setattr(ConfigDict, _name, _guarded(dict, _name, "_check_mutable"))


# ----------------------------------------------------------------------------- LazyNode
_NODE_SLOTS = ("__lz_target__", "__lz_args__", "__lz_kwargs__", "__lz_recursive__",
               "__lz_site__", "__lz_hist__", "__lz_frozen__", "__lz_choices__")
_SPECIAL = frozenset({"_target_", "_args_", "_recursive_"})


def _special(key: str, check: Callable) -> property:
    """The property for node slot ``__lz<key>_``; ``check(node, value)`` returns what to store."""
    slot = f"__lz{key}_"

    def setter(node: LazyNode, value: Any) -> None:
        value = check(node, value)
        if node.__lz_frozen__ is not None:
            raise frozen_error(node.__lz_frozen__, key)
        record(node, key, getattr(node, slot), True, value, None, "python")
        object.__setattr__(node, slot, value)

    return property(lambda node: getattr(node, slot), setter)


def _checked_args(node: LazyNode, value: Any) -> list:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"_args_ must be a list or tuple, got {type(value).__name__}", "_args_")
    return [wrap(v, node.__lz_site__) for v in value]


def _checked_recursive(node: LazyNode, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"_recursive_ must be a bool, got {value!r}", "_recursive_")
    return value


class LazyNode:
    """A recorded call ``target(*args, **kwargs)`` (``L(target)(...)``), built by
    ``instantiate``; no public methods, so any kwarg name works."""

    __slots__ = _NODE_SLOTS + ("__weakref__",)

    # the three special slots, as read/write attributes (checked, recorded, frozen-aware)
    _target_ = _special("_target_", lambda node, v: _check_target(v, "_target_") or v)
    _args_ = _special("_args_", _checked_args)
    _recursive_ = _special("_recursive_", _checked_recursive)

    # -- kwargs as attributes
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return node_child(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SPECIAL or name.startswith("__lz_"):
            object.__setattr__(self, name, value)  # the slots, and the properties above
        else:
            self._lz_set(name, value, None, "python")

    def _lz_set(self, key: Any, value: Any, source: str | None, kind: str) -> None:
        """Sets a kwarg (str key), a positional arg (int key) or a special slot, recorded."""
        if key in _SPECIAL:
            setattr(self, key, value)
            return
        if self.__lz_frozen__ is not None:
            raise frozen_error(self.__lz_frozen__, key)
        if isinstance(key, int) and not isinstance(key, bool):
            holder, had = self.__lz_args__, -len(self.__lz_args__) <= key < len(self.__lz_args__)
            if not had:
                raise ConfigKeyError(f"positional index {key} out of range ({len(holder)} args)",
                                     str(key))
        elif isinstance(key, str):
            holder, had = self.__lz_kwargs__, key in self.__lz_kwargs__
        else:
            raise ConfigError(f"kwarg names must be str, got {key!r}", str(key))
        value = wrap(value, self.__lz_site__)
        record(self, key, holder[key] if had else None, had, value, source, kind)
        holder[key] = value

    def __delattr__(self, name: str) -> None:
        self._lz_del(name, None)

    def _lz_del(self, key: Any, source: str | None) -> None:
        if self.__lz_frozen__ is not None:
            raise frozen_error(self.__lz_frozen__, key, "delete")
        if isinstance(key, int) and not isinstance(key, bool):
            node_child(self, key)  # the range check and its error
            del self.__lz_args__[key]
            return
        if key not in self.__lz_kwargs__:
            raise ConfigKeyError(f"L({target_name(self.__lz_target__)}) has no argument {key!r} "
                                 f"to delete.{suggest(key, self.__lz_kwargs__)}", key)
        record(self, key, self.__lz_kwargs__[key], True, DELETED, source, "delete")
        del self.__lz_kwargs__[key]

    # -- items: str -> kwargs, int -> positional args
    def __getitem__(self, key: Any) -> Any:
        return node_child(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._lz_set(key, value, None, "python")

    def __delitem__(self, key: Any) -> None:
        self._lz_del(key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.__lz_kwargs__))

    def __len__(self) -> int:
        return len(self.__lz_kwargs__)

    def __contains__(self, key: object) -> bool:
        return key in self.__lz_kwargs__

    def __bool__(self) -> bool:
        return True

    def __dir__(self) -> list[str]:
        return ["_args_", "_recursive_", "_target_", *self.__lz_kwargs__]

    # notebook display (IPython looks these up on the type; a kwarg of that name is shadowed)
    _repr_pretty_ = _repr_pretty_
    _repr_html_ = _repr_html_

    # -- equality, copying, pickling
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LazyNode):
            return NotImplemented
        if self is other:
            return True
        return (self.__lz_recursive__ == other.__lz_recursive__
                and _targets_equal(self.__lz_target__, other.__lz_target__)
                and self.__lz_args__ == other.__lz_args__
                and self.__lz_kwargs__ == other.__lz_kwargs__)

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict) -> LazyNode:
        new = memo[id(self)] = LazyNode.__new__(LazyNode)
        state = [getattr(self, n) for n in _NODE_SLOTS]  # the target itself is not copied
        state[1] = [a if type(a) in _SCALARS else deepcopy(a, memo) for a in state[1]]
        state[2] = {k: v if type(v) in _SCALARS else deepcopy(v, memo)
                    for k, v in state[2].items()}
        state[5], state[7] = _deep(state[5] or None, memo), _deep(state[7], memo)
        return _restore_node(*state, new=new)

    def __copy__(self) -> LazyNode:
        new = new_node(self.__lz_target__, list(self.__lz_args__), dict(self.__lz_kwargs__),
                       self.__lz_recursive__, self.__lz_site__)
        object.__setattr__(new, "__lz_hist__", histories(self) or None)
        return new

    def __reduce__(self) -> tuple:
        return (_restore_node, tuple(getattr(self, n) for n in _NODE_SLOTS))

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.__lz_args__]
        parts += [f"{k}={v!r}" for k, v in self.__lz_kwargs__.items()]
        if not self.__lz_recursive__:
            parts.append("_recursive_=False")
        return f"L({target_name(self.__lz_target__)})({', '.join(parts)})"


def node_child(node: LazyNode, key: Any, path: str | None = None) -> Any:
    """A node's child: int (or digit string) keys index the args, ``_target_``/``_args_``/
    ``_recursive_`` read those slots, other keys kwargs (a ConfigKeyError naming ``path``)."""
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, int) and not isinstance(key, bool):
        args = node.__lz_args__
        if -len(args) <= key < len(args):
            return args[key]
        full = _join(path, key)
        raise ConfigKeyError(f"{full!r}: L({target_name(node.__lz_target__)}) has {len(args)} "
                             f"positional args; no index {key} (out of range)", full)
    if key in _SPECIAL:
        return getattr(node, key)
    try:
        return node.__lz_kwargs__[key]
    except (KeyError, TypeError):
        full = _join(path, key)
        raise ConfigKeyError(
            f"{full!r}: L({target_name(node.__lz_target__)}) has no argument {key!r} written."
            f"{suggest(key, node.__lz_kwargs__)}{listing('Written', node.__lz_kwargs__)}",
            full) from None


def _restore_node(*state: Any, new: LazyNode | None = None) -> LazyNode:
    new = LazyNode.__new__(LazyNode) if new is None else new
    for name, value in zip(_NODE_SLOTS, state):
        object.__setattr__(new, name, value)
    return new


def _deep(value: Any, memo: dict) -> Any:
    return value if type(value) in _SCALARS else deepcopy(value, memo)


def new_node(target: Any, args: list, kwargs: dict, recursive: bool = True,
             site: str = "") -> LazyNode:
    """Creates a node from already-wrapped parts without recording provenance (for loaders)."""
    return _restore_node(target, args, kwargs, recursive, site, None, None, None)


def _check_target(target: Any, what: str = "target") -> None:
    if isinstance(target, (str, LazyRef)):
        if not str(target) or " " in str(target):
            raise ConfigError(f"{what}: {target!r} is not a dotted import name "
                              f"(like 'torch.optim.AdamW')", what)
        return
    if isinstance(target, LazyNode) or not callable(target):
        raise ConfigError(f"{what} must be a callable, a dotted import name or a lazy import "
                          f"reference, got {target!r} ({type(target).__name__})", what)


class LazyCall:
    """``L(target)(*args, **kwargs)`` records a call (a :class:`LazyNode`) for ``instantiate``.

    ``target`` is a callable, a dotted import name or a ``LazyRef``; ``_recursive_=False`` makes
    ``instantiate`` pass the node's children unbuilt.
    """

    __slots__ = ("target",)

    def __init__(self, target: Any) -> None:
        _check_target(target)
        self.target = target

    def __call__(self, *args: Any, **kwargs: Any) -> LazyNode:
        recursive = _checked_recursive(None, kwargs.pop("_recursive_", True))  # type: ignore
        if "_target_" in kwargs or "_args_" in kwargs:
            raise ConfigError("_target_ and _args_ are set by L(target)(*args), not as kwargs",
                              "_target_")
        site = caller_site()
        args_list = [wrap(a, site) for a in args]
        for k, v in kwargs.items():
            if type(v) not in _SCALARS or v != v:
                kwargs[k] = wrap(v, site)
        return new_node(self.target, args_list, kwargs, recursive, site)

    def __repr__(self) -> str:
        return f"L({target_name(self.target)})"


L = LazyCall


def node_kwargs(node: LazyNode) -> dict:
    """The node's kwargs dict itself (mutating it bypasses provenance and freezing)."""
    return node.__lz_kwargs__


def node_args(node: LazyNode) -> list:
    """The node's positional-args list itself."""
    return node.__lz_args__
