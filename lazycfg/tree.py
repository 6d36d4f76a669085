"""THE generic tree walker: one place that knows how configs nest.

A config is a tree (a DAG when a node is shared) of:

* ``"node"``: :class:`~lazycfg._node.LazyNode`; children are the positional args (int keys
  ``0, 1, ...``) followed by the kwargs (str keys, in written order). The target, ``_recursive_``
  and metadata are not children; read them with ``node._target_`` / ``_node.target_name(node)``,
  ``node._recursive_`` and ``_provenance.get_site(node)``.
* ``"mapping"``: any ``dict`` (normally :class:`~lazycfg._node.ConfigDict`); keys are the dict's
  keys (str, or int as in ``{0: 0.5}``).
* ``"list"`` / ``"tuple"``: int keys.
* ``"attrs"``: an attrs instance (``@configclass`` or plain attrs); keys are the field names in
  definition order.
* ``"leaf"``: everything else (numbers, strings, None, callables, LazyRef, PLACEHOLDER, ...).

Functions:
    kind_of(obj), children(obj), get_child(obj, key), set_child(obj, key, value, source, kind),
    del_child(obj, key, source), raw_set(obj, key, value), walk(obj), rebuild(template, items),
    format_path(keys), parse_path(text), attrs_fields(cls), is_attrs(obj).

``set_child``/``del_child`` go through the container's own rules (freezing, provenance, type
checks of config classes); ``raw_set`` bypasses them all (for loaders rebuilding a tree).
Paths are tuples of keys; ``format_path`` renders them in the override syntax
(``trainer.callbacks.ema.every_n``, ``blocks.0.dim``; non-identifier keys as ``['a.b']``).
"""

from __future__ import annotations

from typing import Any, Iterator

from ._errors import ConfigError, ConfigKeyError
from ._node import ConfigDict, ConfigList, LazyNode, listing, node_child, suggest, wrap

__all__ = [
    "kind_of",
    "is_attrs",
    "attrs_fields",
    "children",
    "get_child",
    "set_child",
    "del_child",
    "raw_set",
    "walk",
    "rebuild",
    "format_path",
    "parse_path",
    "Path",
]

Path = tuple

_LEAF_TYPES = frozenset({int, float, str, bool, type(None), bytes, complex})
_FIELDS_CACHE: dict[type, tuple[str, ...]] = {}


def is_attrs(obj: object) -> bool:
    """True for an instance of an attrs class (not for the class itself)."""
    return not isinstance(obj, type) and getattr(type(obj), "__attrs_attrs__", None) is not None


def attrs_fields(cls: type) -> tuple[str, ...]:
    """Field names of an attrs class, in definition order (cached)."""
    names = _FIELDS_CACHE.get(cls)
    if names is None:
        names = _FIELDS_CACHE[cls] = tuple(a.name for a in cls.__attrs_attrs__)
    return names


def kind_of(obj: object) -> str:
    """One of "node", "mapping", "list", "tuple", "attrs", "leaf"."""
    t = type(obj)
    if t in _LEAF_TYPES:
        return "leaf"
    if t is LazyNode:
        return "node"
    if isinstance(obj, dict):
        return "mapping"
    if isinstance(obj, list):
        return "list"
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return "tuple"
    if getattr(t, "__attrs_attrs__", None) is not None:
        return "attrs"
    return "leaf"


def children(obj: object) -> list[tuple[Any, Any]]:
    """``[(key, child), ...]`` of a container; ``[]`` for leaves."""
    t = type(obj)
    if t in _LEAF_TYPES:
        return []
    if t is LazyNode:
        return [*enumerate(obj.__lz_args__), *obj.__lz_kwargs__.items()]
    if isinstance(obj, dict):
        return list(obj.items())
    if isinstance(obj, list) or (isinstance(obj, tuple) and not hasattr(obj, "_fields")):
        return list(enumerate(obj))
    if getattr(t, "__attrs_attrs__", None) is not None:
        d = getattr(obj, "__dict__", None)
        if d is not None:
            return [(n, d[n]) if n in d else (n, getattr(obj, n)) for n in attrs_fields(t)]
        return [(n, getattr(obj, n)) for n in attrs_fields(t)]
    return []


def _mapping_key(obj: dict, key: Any) -> Any:
    """Finds ``key`` in a mapping, accepting "0" for an int key 0 (and 0 for "0")."""
    if key in obj:
        return key
    if isinstance(key, str) and key.lstrip("-").isdigit() and int(key) in obj:
        return int(key)
    if isinstance(key, int) and str(key) in obj:
        return str(key)
    raise KeyError(key)


def _index(obj: Any, key: Any, path: str) -> int:
    if isinstance(key, str) and key.lstrip("-").isdigit():
        key = int(key)
    if not isinstance(key, int) or isinstance(key, bool):
        raise ConfigKeyError(f"{path or '<root>'} is a {type(obj).__name__}: index it with an "
                             f"integer, not {key!r}", path)
    if not -len(obj) <= key < len(obj):
        raise ConfigKeyError(f"{_fmt(path, key)}: index {key} out of range (length {len(obj)})",
                             _fmt(path, key))
    return key


def _fmt(path: str | None, key: Any) -> str:
    return format_path((*parse_path(path), key)) if path else format_path((key,))


def get_child(obj: Any, key: Any, path: str | None = None) -> Any:
    """The child ``key`` of ``obj``.

    Args:
        obj: a container.
        key: str or int key (a digit string also indexes lists and positional args).
        path: the config path of ``obj``, used in error messages.

    Raises:
        ConfigKeyError: no such child (with did-you-mean suggestions).
    """
    t = type(obj)
    if t is LazyNode:
        return node_child(obj, key, path)
    if isinstance(obj, dict):
        try:
            return dict.__getitem__(obj, _mapping_key(obj, key))
        except KeyError:
            raise ConfigKeyError(f"{_fmt(path, key)!r}: no such key.{suggest(key, obj.keys())}"
                                 f"{listing('Keys', obj)}", _fmt(path, key)) from None
    if isinstance(obj, (list, tuple)):
        return obj[_index(obj, key, path or "")]
    if getattr(t, "__attrs_attrs__", None) is not None:
        names = attrs_fields(t)
        if key in names:
            return getattr(obj, key)
        raise ConfigKeyError(f"{_fmt(path, key)!r}: {t.__name__} has no field {key!r}."
                             f"{suggest(key, names)}{listing('Fields', names)}", _fmt(path, key))
    where = path or "<root>"
    raise ConfigKeyError(f"{_fmt(path, key)!r}: {where} is a {type(obj).__name__} value, not a "
                         f"config container", _fmt(path, key))


def set_child(obj: Any, key: Any, value: Any, source: str | None = None,
              kind: str = "python", path: str | None = None) -> None:
    """Sets a child through the container's rules (freeze, provenance, config-class type checks).

    Args:
        source: provenance source (override text, ``group=option``); None: the calling line.
        kind: provenance kind ("python", "override", "select", ...).
        path: the config path of ``obj`` for error messages.
    """
    t = type(obj)
    if t is LazyNode or isinstance(obj, ConfigDict):
        if t is LazyNode and isinstance(key, str) and key.isdigit():
            key = int(key)
        if t is LazyNode and isinstance(key, int) and not isinstance(key, bool):
            args = obj.__lz_args__
            key = _index(args, key, path or "")
            if obj.__lz_frozen__ is not None:
                from ._node import frozen_error

                raise frozen_error(obj.__lz_frozen__, key)
            from ._provenance import record

            value = wrap(value, obj.__lz_site__)
            record(obj, key, args[key], True, value, source, kind)
            args[key] = value
            return
        if t is LazyNode and key in ("_target_", "_args_", "_recursive_"):
            setattr(obj, key, value)
            return
        if isinstance(obj, ConfigDict) and key not in obj and type(key) is int and str(
                key) in obj:
            key = str(key)  # ``a.0`` sets the str key "0"; a str "0" never lands on an int key
        obj._lz_set(key, value, source, kind)
        return
    if isinstance(obj, dict):
        obj[key] = wrap(value)
        return
    if isinstance(obj, list):
        idx = _index(obj, key, path or "")
        obj[idx] = wrap(value)
        return
    if isinstance(obj, tuple):
        raise ConfigError(f"{_fmt(path, key)!r}: tuples are immutable; set the whole tuple at "
                          f"{path or '<root>'} instead", _fmt(path, key))
    if getattr(t, "__attrs_attrs__", None) is not None:
        lz_set = getattr(t, "_lz_set", None)
        if lz_set is not None:
            lz_set(obj, key, value, source, kind, path)
            return
        from ._configclass import set_plain_attrs

        set_plain_attrs(obj, key, value, source, kind, path)
        return
    raise ConfigKeyError(f"{_fmt(path, key)!r}: {path or '<root>'} is a {type(obj).__name__} "
                         f"value, not a config container", _fmt(path, key))


def del_child(obj: Any, key: Any, source: str | None = None, path: str | None = None) -> None:
    """Deletes a child (a node kwarg, a mapping key or a list element)."""
    from ._provenance import DELETED, record

    if type(obj) is LazyNode:
        if isinstance(key, str) and key.isdigit():
            key = int(key)
        if isinstance(key, int):
            if obj.__lz_frozen__ is not None:
                from ._node import frozen_error

                raise frozen_error(obj.__lz_frozen__, key, "delete")
            del obj.__lz_args__[_index(obj.__lz_args__, key, path or "")]
            return
        obj._lz_del(key, source)
        return
    if isinstance(obj, dict):
        try:
            real = _mapping_key(obj, key)
        except KeyError:
            raise ConfigKeyError(f"{_fmt(path, key)!r}: no such key to delete."
                                 f"{suggest(key, obj.keys())}", _fmt(path, key)) from None
        old = obj[real]
        del obj[real]
        record(obj, real, old, True, DELETED, source, "delete")
        return
    if isinstance(obj, list):
        del obj[_index(obj, key, path or "")]
        return
    if is_attrs(obj):
        raise ConfigError(f"cannot delete {_fmt(path, key)!r}: it is a field of "
                          f"{type(obj).__name__}; set it instead", _fmt(path, key))
    raise ConfigKeyError(f"cannot delete {_fmt(path, key)!r}: {path or '<root>'} is a "
                         f"{type(obj).__name__}", _fmt(path, key))


def raw_set(obj: Any, key: Any, value: Any) -> None:
    """Sets a child bypassing freezing, provenance, wrapping and type checks (for loaders)."""
    if type(obj) is LazyNode:
        if isinstance(key, int):
            args = obj.__lz_args__
            while len(args) <= key:
                args.append(None)
            args[key] = value
        else:
            obj.__lz_kwargs__[key] = value
    elif isinstance(obj, dict):
        dict.__setitem__(obj, key, value)
    elif isinstance(obj, list):
        list.__setitem__(obj, key, value)
    elif is_attrs(obj):
        object.__setattr__(obj, key, value)
    else:
        raise ConfigError(f"raw_set: {type(obj).__name__} is not a mutable container", str(key))


def walk(obj: Any, path: Path = (), *, dedupe: bool = True,
         _seen: set[int] | None = None) -> Iterator[tuple[Path, Any]]:
    """Yields ``(path, value)`` for ``obj`` and everything below it, pre-order.

    Args:
        obj: the root.
        path: the path of ``obj`` (prefix of every yielded path).
        dedupe: a container reachable twice (a shared node) is yielded and descended only at
            its first path.
    """
    if _seen is None:
        _seen = set()
    yield path, obj
    if type(obj) in _LEAF_TYPES:
        return
    if dedupe:
        oid = id(obj)
        if oid in _seen:
            return
        _seen.add(oid)
    for key, child in children(obj):
        if type(child) in _LEAF_TYPES:
            yield (*path, key), child
        else:
            if dedupe and id(child) in _seen:
                continue
            yield from walk(child, (*path, key), dedupe=dedupe, _seen=_seen)


def rebuild(template: Any, items: list[tuple[Any, Any]]) -> Any:
    """A new container of the same kind as ``template`` holding ``items`` (no provenance).

    Nodes keep the template's target, ``_recursive_`` and site; attrs instances are created
    without running ``__init__`` (so validators and type checks are skipped).
    """
    k = kind_of(template)
    if k == "node":
        from ._node import new_node

        args = [v for key, v in items if isinstance(key, int)]
        kwargs = {key: v for key, v in items if not isinstance(key, int)}
        return new_node(template.__lz_target__, args, kwargs, template.__lz_recursive__,
                        template.__lz_site__)
    if k == "mapping":
        new = ConfigDict.__new__(ConfigDict)
        from ._node import _init_meta

        _init_meta(new, getattr(template, "__lz_site__", ""))
        for key, v in items:
            dict.__setitem__(new, key, v)
        return new
    if k == "list":
        return ConfigList([v for _, v in items]) if isinstance(template, ConfigList) else [
            v for _, v in items]
    if k == "tuple":
        return tuple(v for _, v in items)
    if k == "attrs":
        cls = type(template)
        new = cls.__new__(cls)
        for key, v in items:
            object.__setattr__(new, key, v)
        return new
    return template


def format_path(keys: Any) -> str:
    """Renders a key tuple in override syntax: ``("blocks", 0, "dim")`` -> ``"blocks.0.dim"``."""
    out = []
    for key in keys:
        if isinstance(key, int) and not isinstance(key, bool):
            out.append(f".{key}" if out else str(key))
        elif isinstance(key, str) and key and (key.isidentifier() or key == "*"):
            out.append(f".{key}" if out else key)
        else:
            out.append(f"[{key!r}]")
    return "".join(out)


def parse_path(text: str | None) -> tuple:
    """Parses a simple dotted path (``a.b.0``, ``a.b[0]``, ``a['x.y']``) into a key tuple.

    Digit segments become ints. The full override grammar (globs, quoting) lives in ``_grammar``.
    """
    if not text:
        return ()
    from ._errors import OverrideError
    from ._grammar import parse_key_path

    try:
        return tuple(parse_key_path(text))
    except OverrideError as exc:  # the grammar's message says "override"; this is a path
        why = exc.message.splitlines()[0].rsplit(": ", 1)[-1]
        raise ConfigError(f"malformed config path {text!r}: {why} (write a.b.c, a.list.0 or "
                          f"a['odd.key'])", text) from None
