"""Child access for the persistence modules (resolve, save, diff, check, display).

A thin adapter over the public protocol of config containers: mappings (items), lazy nodes
(``iter(node)``/``node[k]`` for kwargs, ``_args_`` for positional arguments), attrs instances
(fields), lists and tuples. It exists so that these modules name the kinds of containers in one
place; walking order and kinds come from the core's ``_tree`` module where it provides them.
"""
from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Iterator

import attrs

NODE, MAPPING, LIST, TUPLE, ATTRS, LEAF = "node", "mapping", "list", "tuple", "attrs", "leaf"

_NODE_TYPES: tuple[type, ...] | None = None


def _node_types() -> tuple[type, ...]:
    """The core's lazy-node class(es), imported on first use (the core may land later)."""
    global _NODE_TYPES
    if _NODE_TYPES is None:
        try:
            from lazycfg._node import LazyNode  # type: ignore[attr-defined]

            _NODE_TYPES = (LazyNode,)
        except ImportError:  # core not importable yet: nothing is a node
            _NODE_TYPES = ()
    return _NODE_TYPES


def is_node(x: Any) -> bool:
    """True for a lazy call node ``L(target)(...)``."""
    types = _node_types()
    return bool(types) and isinstance(x, types)


def kind(x: Any) -> str:
    """Classify ``x`` as one of NODE, MAPPING, LIST, TUPLE, ATTRS or LEAF."""
    if isinstance(x, (str, int, float, bool, type(None))):
        return LEAF
    if is_node(x):
        return NODE
    if isinstance(x, Mapping):
        return MAPPING
    if isinstance(x, list):
        return LIST
    if isinstance(x, tuple) and not hasattr(x, "_fields"):  # namedtuples are leaves
        return TUPLE
    if not isinstance(x, type) and attrs.has(type(x)):
        return ATTRS
    return LEAF


def node_args(node: Any) -> tuple:
    """Positional arguments of a node (empty tuple when none)."""
    args = getattr(node, "_args_", None)
    return tuple(args) if args else ()


def items(x: Any) -> Iterator[tuple[Any, Any]]:
    """Yield ``(key, child)`` pairs of a container in config order; nothing for leaves.

    Node positional arguments appear under the key ``"_args_"`` as a tuple.
    """
    k = kind(x)
    if k == MAPPING:
        yield from x.items()
    elif k == NODE:
        args = node_args(x)
        if args:
            yield "_args_", args
        for name in x:
            yield name, x[name]
    elif k in (LIST, TUPLE):
        yield from enumerate(x)
    elif k == ATTRS:
        for f in attrs.fields(type(x)):
            if f.init or hasattr(x, f.name):
                yield f.name, getattr(x, f.name)


def has_child(x: Any, key: Any) -> bool:
    """True when ``key`` names a child of ``x``."""
    k = kind(x)
    if k == MAPPING:
        return key in x
    if k == NODE:
        return key == "_args_" or key in x
    if k in (LIST, TUPLE):
        return isinstance(key, int) and -len(x) <= key < len(x)
    if k == ATTRS:
        return key in attrs.fields_dict(type(x))
    return False


def get_child(x: Any, key: Any) -> Any:
    """Return the child ``key`` of ``x`` (raises KeyError/IndexError when absent)."""
    k = kind(x)
    if k == NODE and key == "_args_":
        return node_args(x)
    if k == ATTRS:
        if key not in attrs.fields_dict(type(x)):
            raise KeyError(key)
        return getattr(x, key)
    if k == LEAF:
        raise KeyError(key)
    return x[key]


def set_child(x: Any, key: Any, value: Any) -> None:
    """Set child ``key`` of a mutable container (tuples are rebuilt by the caller)."""
    k = kind(x)
    if k == NODE and key == "_args_":
        x._args_ = tuple(value)
    elif k == ATTRS:
        setattr(x, key, value)
    elif k in (NODE, LIST) or isinstance(x, MutableMapping):
        x[key] = value
    else:
        raise TypeError(f"cannot set {key!r} on {type(x).__name__}")
