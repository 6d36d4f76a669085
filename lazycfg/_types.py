"""Annotation checks with lossless conversion, and signatures, for config classes, overrides
and ``check``.

``check_value`` converts losslessly (int -> float, integral float -> int, list <-> tuple,
number -> str, enum name -> member) or raises ``ConfigTypeError``. ``PLACEHOLDER`` and ``${...}``
always pass; a lazy node or ``LazyRef`` passes any non-builtin class; annotations it cannot
interpret accept anything. Checkers are compiled once per annotation. ``checkable_target`` never
imports; ``params`` caches a callable's parameters and resolved annotations.
"""

from __future__ import annotations

import collections.abc as cabc
import sys
import types
import typing
from typing import Any, Callable

from ._errors import ConfigTypeError
from ._node import NAN, PLACEHOLDER, LazyNode, LazyRef

Checker = Callable[[Any, str, bool], Any]
_UNIONS = (typing.Union, types.UnionType)
_CACHE: dict[Any, Checker] = {}
_NO_CONVERT = object()


class _Reject(Exception):
    """Internal: the value does not fit (message built by the caller)."""


def type_repr(tp: Any) -> str:
    """A readable name for an annotation (``int``, ``list[int]``, ``Optional[str]``)."""
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__qualname__ if tp.__module__ == "builtins" else (
            f"{tp.__module__}.{tp.__qualname__}")
    return repr(tp).replace("typing.", "")


def check_value(value: Any, tp: Any, path: str, convert: bool = True) -> Any:
    """``value`` checked against ``tp`` (converted when ``convert``), else ConfigTypeError."""
    try:
        return _sub(value, compile_checker(tp), path, convert)
    except _Reject:
        raise ConfigTypeError(
            f"{path or '<root>'}: expected {type_repr(tp)}, got {value!r} "
            f"({type(value).__name__})", path, tp, value) from None


def value_accepts(value: Any, tp: Any) -> bool:
    """True when ``value`` fits ``tp`` (with lossless conversion)."""
    try:
        check_value(value, tp, "")
        return True
    except ConfigTypeError:
        return False


def item_annotations(ann: Any) -> tuple[Any, Any]:
    """``(key, item)`` annotations of a mapping or sequence annotation (``Optional`` unwrapped):
    ``dict[int, float]`` -> ``(int, float)``, ``list[str]`` -> ``(None, str)``."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in _UNIONS:
        rest = [a for a in args if a is not type(None)]
        return item_annotations(rest[0]) if len(rest) == 1 else (None, None)
    if len(args) == 2 and (origin is dict or origin in _abc("Mapping", "MutableMapping")):
        return args[0], args[1]
    if args and (origin is list or origin in _abc("Sequence", "MutableSequence")):
        return None, args[0]
    return None, None


def compile_checker(tp: Any) -> Checker:
    """The cached checker function for an annotation."""
    try:
        chk = _CACHE.get(tp)
    except TypeError:  # unhashable annotation
        return _build(tp)
    if chk is None:
        chk = _CACHE[tp] = _build(tp)
    return chk


def _any(value: Any, path: str, convert: bool) -> Any:
    return value


def _sub(value: Any, chk: Checker, path: str, convert: bool) -> Any:
    """``chk(value)``; PLACEHOLDER and ``${...}`` strings (resolved later) always pass."""
    if value is PLACEHOLDER or type(value) is str and "${" in value:
        return value
    return chk(value, path, convert)


def _build(tp: Any) -> Checker:  # noqa: C901 - one branch per annotation form
    if tp is Any or tp is object:
        return _any
    if tp is None or tp is type(None):
        return _chk_none
    if isinstance(tp, (str, typing.ForwardRef, typing.TypeVar)):
        return _any
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in _UNIONS:
        subs = [compile_checker(a) for a in args]
        exact = [_exact_type(a) for a in args]

        def chk_union(v: Any, p: str, c: bool) -> Any:
            t = type(v)
            for et in exact:  # an exact member match wins over any conversion
                if et is not None and t is et:
                    return v
            for conv in (False, True) if c else (False,):
                for s in subs:
                    try:
                        return s(v, p, conv)
                    except _Reject:
                        pass
            raise _Reject
        return chk_union
    if origin is typing.Literal:
        allowed = args

        def chk_literal(v: Any, p: str, c: bool) -> Any:
            for a in allowed:
                if type(a) is type(v) and a == v:
                    return v
            if c and not isinstance(v, bool) and isinstance(v, (int, float)):
                for a in allowed:
                    if isinstance(a, str) and a == str(v):
                        return a
            raise _Reject
        return chk_literal
    if origin is typing.Annotated:
        return compile_checker(args[0])
    if origin in (list, typing.List) or origin in _abc("Sequence", "MutableSequence"):
        elem = compile_checker(args[0]) if args else _any
        keep_tuple = origin not in (list,) and origin in _abc("Sequence")

        def chk_list(v: Any, p: str, c: bool) -> Any:
            if not (isinstance(v, list) or isinstance(v, tuple) and (c or keep_tuple)):
                raise _Reject
            out = v if isinstance(v, list) or keep_tuple else list(v)
            new = out if elem is _any else [_sub(x, elem, f"{p}.{i}", c) for i, x in enumerate(out)]
            if all(a is b for a, b in zip(new, out)):
                return out
            if isinstance(out, list):
                out[:] = new  # in place: a list shared by reference stays shared
                return out
            return type(out)(new)
        return chk_list
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            elem = compile_checker(args[0])
            fixed: list[Checker] | None = None
        elif args == ((),):
            elem, fixed = _any, []
        else:
            elem, fixed = _any, [compile_checker(a) for a in args] if args else None

        def chk_tuple(v: Any, p: str, c: bool) -> Any:
            if not (isinstance(v, tuple) or c and isinstance(v, list)):
                raise _Reject
            items = v if isinstance(v, tuple) else tuple(v)
            checks = [elem] * len(items) if fixed is None else fixed
            if len(items) != len(checks):
                raise _Reject
            if fixed is None and elem is _any:
                return items
            return tuple(_sub(x, f, f"{p}.{i}", c) for i, (x, f) in enumerate(zip(items, checks)))
        return chk_tuple
    if origin in (dict, typing.Dict) or origin in _abc("Mapping", "MutableMapping"):
        kchk = compile_checker(args[0]) if args else _any
        vchk = compile_checker(args[1]) if len(args) > 1 else _any

        def chk_dict(v: Any, p: str, c: bool) -> Any:
            if type(v) is LazyNode:
                return v
            if not isinstance(v, dict):
                raise _Reject
            if kchk is _any and vchk is _any:
                return v
            items = [(kchk(k, f"{p}.{k}", c), _sub(x, vchk, f"{p}.{k}", c)) for k, x in v.items()]
            if any(nk is not k or nx is not x for (nk, nx), (k, x) in zip(items, v.items())):
                dict.clear(v)
                dict.update(v, items)
            return v
        return chk_dict
    if origin in (set, frozenset, typing.Set, typing.FrozenSet) or origin in _abc("Set"):
        target = frozenset if origin in (frozenset, typing.FrozenSet) else set

        def chk_set(v: Any, p: str, c: bool) -> Any:
            if isinstance(v, (set, frozenset)):
                return v if isinstance(v, target) else target(v)
            if c and isinstance(v, (list, tuple)):
                return target(v)
            raise _Reject
        return chk_set
    if origin in (type, typing.Type):
        base = args[0] if args and isinstance(args[0], type) else object

        def chk_type(v: Any, p: str, c: bool) -> Any:
            if isinstance(v, (str, LazyRef)) or isinstance(v, type) and issubclass(v, base):
                return v
            raise _Reject
        return chk_type
    if origin is not None and _is_callable_origin(origin):
        return _chk_callable
    if origin is not None:
        # another parametrised generic (e.g. ``deque[int]``): check the origin class only
        return _build(origin) if isinstance(origin, type) else _any
    if tp is typing.Callable or _is_callable_origin(tp):
        return _chk_callable
    return _any if not isinstance(tp, type) else _build_class(tp)


def _abc(*names: str) -> tuple:
    return tuple(getattr(cabc, n) for n in names) + tuple(
        getattr(typing, n) for n in names if hasattr(typing, n))


def _is_callable_origin(origin: Any) -> bool:
    return origin is cabc.Callable or origin is typing.Callable


def _exact_type(tp: Any) -> type | None:
    return tp if isinstance(tp, type) and not typing.get_args(tp) else None


def _chk_callable(v: Any, p: str, c: bool) -> Any:
    if callable(v) or isinstance(v, (str, LazyRef, LazyNode)):
        return v
    raise _Reject


def _chk_none(v: Any, p: str, c: bool) -> Any:
    if v is None:
        return v
    raise _Reject


def _chk_bool(v: Any, p: str, c: bool) -> Any:
    if type(v) is bool:
        return v
    raise _Reject


def _chk_int(v: Any, p: str, c: bool) -> Any:
    if isinstance(v, int) and type(v) is not bool:
        return v
    if _is_np_int(v) or c and isinstance(v, float) and v.is_integer():
        return int(v) if c else v
    raise _Reject


def _is_np_int(v: Any) -> bool:
    mod = type(v).__module__
    return mod == "numpy" and hasattr(v, "is_integer") is False and hasattr(v, "__index__")


def _chk_float(v: Any, p: str, c: bool) -> Any:
    if type(v) is bool or not isinstance(v, (int, float)):
        raise _Reject
    if type(v) is float:
        return NAN if v != v else v
    return float(v) if c or isinstance(v, float) else v


def _chk_str(v: Any, p: str, c: bool) -> Any:
    if isinstance(v, str):
        return v
    if c and isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    raise _Reject


def _chk_complex(v: Any, p: str, c: bool) -> Any:
    if isinstance(v, (int, float, complex)) and not isinstance(v, bool):
        return v
    raise _Reject


_PRIMITIVE = {bool: _chk_bool, int: _chk_int, float: _chk_float, str: _chk_str,
              complex: _chk_complex}
_CONTAINERS = {list: typing.List, tuple: typing.Tuple, dict: typing.Dict, set: typing.Set,
               frozenset: typing.FrozenSet}


def _build_class(tp: type) -> Checker:
    prim = _PRIMITIVE.get(tp)
    if prim is not None:
        return prim
    if tp in _CONTAINERS:
        return _build(_CONTAINERS[tp])
    if tp is type:
        return _build(typing.Type)
    import enum

    if issubclass(tp, enum.Enum):
        def chk_enum(v: Any, p: str, c: bool) -> Any:
            if isinstance(v, tp):
                return v
            if c and isinstance(v, str):
                if v in tp.__members__:
                    return tp.__members__[v]
                short = v.rsplit(".", 1)[-1]
                if short in tp.__members__:
                    return tp.__members__[short]
            if c:
                for m in tp:
                    if m.value == v and type(m.value) is type(v):
                        return m
            raise _Reject
        return chk_enum
    if tp.__module__ == "pathlib" or tp.__name__ == "PathLike":
        def chk_path(v: Any, p: str, c: bool) -> Any:
            if isinstance(v, (str, tp)):
                return v
            raise _Reject
        return chk_path
    if getattr(tp, "_is_protocol", False):
        return _any

    def chk_class(v: Any, p: str, c: bool) -> Any:
        if isinstance(v, tp) or type(v) is LazyNode or isinstance(v, LazyRef):
            return v  # a node or ref builds / imports such an object later; check() looks closer
        raise _Reject
    return chk_class


# ----------------------------------------------------------------------------- signatures
class Params:
    """Parameters of a callable: keyword-passable ``names`` (``required`` ones without a
    default), ``var_kw`` (takes ``**kwargs``), resolved ``hints``, ``defaults`` and ``sig``."""

    __slots__ = ("names", "required", "var_kw", "hints", "defaults", "sig")

    def __init__(self, sig: Any) -> None:
        self.sig = sig
        ps = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                              p.KEYWORD_ONLY)]
        self.names = [p.name for p in ps]
        self.required = [p.name for p in ps if p.default is p.empty]
        self.defaults = {p.name: p.default for p in ps if p.default is not p.empty}
        self.hints = {p.name: p.annotation for p in ps if p.annotation is not p.empty}
        self.var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


_PARAMS: dict[Any, Params | None] = {}


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
        return _PARAMS[target]
    except KeyError:
        pass
    except TypeError:  # unhashable: not cached
        return _compute(target)
    result = _PARAMS[target] = _compute(target)
    return result


_MISSING = object()


def _compute(target: Any) -> Params | None:
    import inspect

    try:
        out = Params(inspect.signature(target))
    except (TypeError, ValueError):
        return None
    if any(isinstance(v, str) for v in out.hints.values()):
        out.hints.update(_resolved_hints(target, out.hints))
    return out


def _resolved_hints(target: Any, raw: dict[str, Any]) -> dict[str, Any]:
    fn = target.__init__ if isinstance(target, type) else target
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward refs: drop those annotations
        return {k: Any for k, v in raw.items() if isinstance(v, str)}
    return {k: hints.get(k, Any) for k in raw}

