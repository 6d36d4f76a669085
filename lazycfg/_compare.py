"""``diff`` (two trees side by side), ``check`` (against signatures, building nothing) and
``explain`` (the history of one value).

``str()`` of a diff entry is an override line (``path=V``, ``+path=V``, ``~path``, ``++path=V``);
applying the lines in order to a copy of ``a`` gives ``b``. A change the grammar cannot spell is
a ``# not expressible ...`` comment. ``check`` reports per path: ``import``, ``unknown-arg``,
``missing-arg``, ``bad-args`` and ``type`` problems; ``${...}`` strings pass.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from . import tree as _tree
from ._configclass import field_types
from ._errors import ConfigError
from ._node import (
    LazyNode,
    Record,
    get_history,
    get_site,
    resolve_target,
    suggest,
    target_name,
)
from ._types import params as _params
from ._types import type_repr, value_accepts
from .tree import _scalar, format_path, get_child, join_path, parse_path

CHANGED, ADDED, REMOVED = "changed", "added", "removed"


class _Inexpressible(Exception):
    """A value with no spelling in the override VALUE grammar."""


class DiffEntry:
    """One difference (``kind``: changed/added/removed, ``keys``, ``old``, ``new``,
    ``expressible``); ``str()`` gives the override line that applies it."""

    __slots__ = ("kind", "keys", "old", "new", "expressible", "_text")

    def __init__(self, kind: str, keys: tuple, old: Any, new: Any) -> None:
        self.kind, self.keys, self.old, self.new = kind, keys, old, new
        # replacing a node or mapping by a value of another kind needs the forcing form
        force = (kind == CHANGED and _tree.kind_of(old) in ("node", "mapping", "attrs")
                 and _tree.kind_of(new) != _tree.kind_of(old))
        try:
            value, self.expressible = "" if kind == REMOVED else format_value(new), True
        except _Inexpressible:
            value, self.expressible = repr(new), False
        path = self.path
        set_form = f"++{path}={value}" if force else f"{path}={value}"
        self._text = {CHANGED: set_form, ADDED: f"+{path}={value}", REMOVED: f"~{path}"}[kind]

    @property
    def path(self) -> str:
        return _tree.format_path(self.keys)

    def __str__(self) -> str:
        return self._text if self.expressible else f"# not expressible as an override: {self._text}"

    def __repr__(self) -> str:
        return f"DiffEntry({self.kind}, {self._text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DiffEntry):
            return NotImplemented
        return (self.kind, self.keys, self._text) == (other.kind, other.keys, other._text)

    __hash__ = None  # type: ignore[assignment]


def diff(a: Any, b: Any) -> list[DiffEntry]:
    """The differences from ``a`` to ``b`` in config order; their ``str()`` are override lines
    that turn a copy of ``a`` into ``b`` (empty when equal)."""
    out = Diff()
    _diff(a, b, (), out, set())
    return out


def format_lines(entries: list[DiffEntry]) -> str:
    """The entries as override lines, one per line."""
    return "".join(f"{e}\n" for e in entries)


class _Printable(list):
    """A result list that ``print()`` and IPython show as the CLI does (its ``str()``)."""

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


class Diff(_Printable):
    """The list ``diff`` returns: one override line per entry when printed."""

    def __str__(self) -> str:
        return format_lines(self).rstrip("\n") or "(no differences)"


class History(_Printable):
    """The list ``explain`` returns: numbered records when printed."""

    def __str__(self) -> str:
        return "\n".join(f"{i}. {rec}" for i, rec in enumerate(self, 1))


def _diff(a: Any, b: Any, path: tuple, out: list[DiffEntry], seen: set,
          parent: str = "root") -> None:
    """Walks ``a`` and ``b`` side by side (``tree.zip_children``), appending the differences."""
    ka, kb = _tree.kind_of(a), _tree.kind_of(b)
    if ka == kb == "tuple" and len(a) == len(b) and not any(
            _tree.kind_of(x) in ("leaf", "tuple") and not _equal(x, y)
            or _tree.kind_of(x) != _tree.kind_of(y) for x, y in zip(a, b)):
        # only containers inside the tuple changed: edit them in place, keep the tuple,
        # unless an element itself would have to be replaced (tuples are immutable)
        inner: list[DiffEntry] = []
        for key, x, y in _tree.zip_children(a, b):
            _diff(x, y, (*path, key), inner, seen, "tuple")
        if not any(len(e.keys) == len(path) + 1 for e in inner):
            out.extend(inner)
            return
    if ka == "leaf" or ka != kb or ka == "tuple":
        if _equal(a, b):
            return
        if parent in ("mapping", "node") and _retyped(a, b):
            # Overrides keep the type of the value they replace: delete, then add anew.
            out += [DiffEntry(REMOVED, path, a, None), DiffEntry(ADDED, path, None, b)]
        else:
            out.append(DiffEntry(CHANGED, path, a, b))
        return
    if (id(a), id(b)) in seen:  # a shared node: its differences are listed once, at its first path
        return
    seen.add((id(a), id(b)))
    # a new length, or an element of another type: the whole list (or _args_) is replaced
    seq_a, seq_b = (a.__lz_args__, b.__lz_args__) if ka == "node" else (a, b)
    replaced = ka in ("node", "list") and (len(seq_a) != len(seq_b) or any(
        _leaf_retyped(x, y) for x, y in zip(seq_a, seq_b)))
    if ka == "node":
        if target_name(a.__lz_target__) != target_name(b.__lz_target__):
            out.append(DiffEntry(CHANGED, (*path, "_target_"), a.__lz_target__,
                                 target_name(b.__lz_target__)))
        if a.__lz_recursive__ != b.__lz_recursive__:
            out.append(DiffEntry(CHANGED, (*path, "_recursive_"), a.__lz_recursive__,
                                 b.__lz_recursive__))
        if replaced:
            out.append(DiffEntry(CHANGED, (*path, "_args_"), list(seq_a), list(seq_b)))
    elif ka == "attrs" and type(a) is not type(b) or replaced:
        if not _equal(a, b):
            out.append(DiffEntry(CHANGED, path, a, b))
        return
    for key, x, y in _tree.zip_children(a, b):
        if isinstance(key, int) and ka == "node" and replaced:
            continue
        if x is _tree.MISSING:
            out.append(DiffEntry(ADDED, (*path, key), None, y))
        elif y is _tree.MISSING:
            out.append(DiffEntry(REMOVED, (*path, key), x, None))
        else:
            _diff(x, y, (*path, key), out, seen,
                  "args" if ka == "node" and isinstance(key, int) else ka)


def _retyped(a: Any, b: Any) -> bool:
    """True when setting ``b`` over ``a`` would be refused or converted by an override."""
    # int -> float is lossless and compares equal
    return not (a is None or type(a) is type(b) or isinstance(a, float) and type(b) is int)


def _leaf_retyped(a: Any, b: Any) -> bool:
    ka = _tree.kind_of(a)
    return (ka != _tree.kind_of(b) or ka in ("tuple", "leaf")) and not _equal(a, b) and _retyped(
        a, b)


def _equal(a: Any, b: Any) -> bool:
    """Config equality (as ``==`` of the configs, so ``diff`` is empty exactly when equal)."""
    try:
        return bool(a == b) or _both_nan(a, b)
    except Exception:  # noqa: BLE001 - values that refuse comparison differ unless identical
        return a is b


def _both_nan(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


# ----------------------------------------------------------------------------- VALUE spelling
def format_value(value: Any, *, nested: bool = False) -> str:
    """Spell ``value`` in the override VALUE grammar (``_Inexpressible`` for nodes & co)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return repr(float(value))  # nan, inf and -inf included
    if isinstance(value, str):
        return _format_str(value, nested)
    kind = _tree.kind_of(value)
    if kind == "list":
        return "[" + ", ".join(format_value(v, nested=True) for v in value) + "]"
    if kind == "tuple":
        items = [format_value(v, nested=True) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if kind == "mapping":
        return "{" + ", ".join(f"{format_value(k, nested=True)}: {format_value(v, nested=True)}"
                               for k, v in value.items()) + "}"
    raise _Inexpressible(repr(value))


_ESCAPE = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"})
_BARE_STOP = set(",)]}:'\"[({ \t\n\\")


def _format_str(s: str, nested: bool) -> str:
    bare_ok = (s and s == s.strip() and s[0] not in "'\"[({~+" and "\n" not in s
               and isinstance(_scalar(s), str) and "\\" not in s
               and (not nested or not (_BARE_STOP & set(s))))
    return s if bare_ok else "'" + s.translate(_ESCAPE) + "'"


# ----------------------------------------------------------------------------- check
IMPORT, UNKNOWN_ARG, MISSING_ARG, BAD_ARGS, TYPE = (
    "import", "unknown-arg", "missing-arg", "bad-args", "type")


class Problem(NamedTuple):
    """One problem found by ``check``: ``path``, ``kind`` and ``message`` (what to do)."""

    path: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


class CheckError(ConfigError):
    """Raised by ``check(cfg, strict=True)``; ``problems`` holds the list."""

    def __init__(self, problems: list[Problem]) -> None:
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"check found {len(problems)} problem(s):\n{lines}",
                         problems[0].path if problems else None)
        self.problems = problems


def check(cfg: Any, *, strict: bool = False) -> list[Problem]:
    """The problems in ``cfg``, in config order, building nothing (``strict``: raise
    ``CheckError`` when there is any)."""
    problems: list[Problem] = []
    for keys, obj in _tree.walk(cfg):
        kind = _tree.kind_of(obj)
        if kind == "node":
            _check_node(obj, _tree.format_path(keys), problems)
        elif kind == "attrs":
            hints = field_types(type(obj))
            for key, value in _tree.children(obj):
                if hints.get(key) is not None:
                    _check_type(value, hints[key], _tree.format_path((*keys, key)),
                                f"field {key!r} of {type(obj).__name__}", problems)
    if strict and problems:
        raise CheckError(problems)
    return problems


def _check_node(node: LazyNode, path: str, problems: list[Problem]) -> None:
    name = target_name(node.__lz_target__)
    try:
        target = resolve_target(node, path)
    except Exception as e:  # noqa: BLE001 - any import-time failure is the same problem
        cause = e.__cause__ if isinstance(e, ConfigError) and e.__cause__ else e
        problems.append(Problem(path, IMPORT, f"target {name!r} does not import "
                                f"({_first_line(cause)}); fix the dotted path or install its "
                                "package"))
        return
    p = _params(target)
    if p is None:
        return  # builtins without a signature: nothing to check against
    kwargs = node.__lz_kwargs__
    for key in kwargs:
        if key not in p.names and not p.var_kw:
            problems.append(Problem(join_path(path, key), UNKNOWN_ARG, f"{name} does not accept "
                                    f"{key!r}.{suggest(key, p.names)} Valid: "
                                    f"{', '.join(p.names) or 'none'}"))
    try:
        bound = p.sig.bind_partial(*node.__lz_args__, **{
            k: None for k in kwargs if k in p.names or p.var_kw}).arguments
    except TypeError as e:
        problems.append(Problem(path, BAD_ARGS, f"L({name}) arguments do not bind: {e}"))
        return
    for pname, prm in p.sig.parameters.items():
        if (prm.default is prm.empty and prm.kind not in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD)
                and pname not in bound):
            problems.append(Problem(
                join_path(path, pname), MISSING_ARG,
                f"required parameter {pname!r} of {name} is never set; set it, or write "
                f"{pname}=PLACEHOLDER if it is supplied at build time"))
    for i, pname in enumerate(bound):
        tp = p.hints.get(pname)  # keyword-passable parameters only: not *args/**kwargs
        if tp is not None:
            where = join_path(path, pname if pname in kwargs else i)
            _check_type(kwargs.get(pname, bound[pname]), tp, where,
                        f"parameter {pname!r} of {name}", problems)


def _check_type(value: Any, tp: Any, path: str, what: str, problems: list[Problem]) -> None:
    if type(value) is LazyNode:
        built = _built_class(value)
        classes = _classes_of(tp)
        if LazyNode in classes:
            return  # the field holds the node itself (``Optional[LazyNode]``), built later
        if built is not None and classes:
            try:
                ok = any(issubclass(built, c) for c in classes)
            except TypeError:
                ok = True
            if not ok:
                problems.append(Problem(path, TYPE, f"{what} expects {type_repr(tp)}, but "
                                        f"L({target_name(value.__lz_target__)}) builds a "
                                        f"{built.__name__}"))
        return
    if not value_accepts(value, tp):
        problems.append(Problem(path, TYPE, f"{what} expects {type_repr(tp)}, got {value!r:.60} "
                                f"({type(value).__name__})"))


def _classes_of(tp: Any) -> list[type]:
    """The classes an annotation allows a built object to be; [] when it allows anything."""
    import typing

    if tp is Any or tp is object:
        return []
    origin = typing.get_origin(tp)
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        out: list[type] = []
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            sub = _classes_of(arg)
            if not sub:
                return []
            out += sub
        return out
    base = tp if origin is None else origin
    return [base] if isinstance(base, type) else []


def _built_class(node: LazyNode) -> type | None:
    """The class a node builds, when its target is a class (None for functions or failures)."""
    try:
        obj = resolve_target(node)
    except Exception:  # noqa: BLE001 - reported as an import problem at that node's own path
        return None
    return obj if isinstance(obj, type) else None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# ----------------------------------------------------------------------------- explain
def explain(cfg: object, path: str) -> list[Record]:
    """The records of the value at ``path`` (``"blocks.0.dim"``), oldest first.

    The first is the value given when its container was created, with the ``file:line`` (and the
    ``group=option`` that brought the subtree in). ConfigKeyError when the path does not exist.
    """
    keys = parse_path(path)
    if not keys:
        return History()
    parents, via = [cfg], ""
    for i, key in enumerate(keys[:-1]):
        recs = get_history(parents[-1], key)
        if recs:
            via = recs[-1].source if recs[-1].kind == "select" else ""
        parents.append(get_child(parents[-1], key, path=format_path(keys[:i])))
    parent, last = parents[-1], keys[-1]
    holder, hkey = parent, last
    if isinstance(parent, (list, tuple)) and len(keys) >= 2:
        # list elements carry no metadata: their history lives on the list's parent
        holder, hkey = parents[-2], f"{keys[-2]}.{last}"
    recs = get_history(holder, hkey)
    if not recs:
        current = get_child(parent, last, path=format_path(keys[:-1]))
        site = get_site(holder)
        if not site and _is_slotted_attrs(holder):
            site = (f"<unknown: {type(holder).__name__} is a slotted attrs class, which keeps no "
                    f"history; use @configclass or attrs.define(slots=False)>")
        return History([Record(current, _with_via(site, via), "init")])
    if recs[0].kind == "init" and via:
        recs[0] = Record(recs[0].value, _with_via(recs[0].source, via), "init")
    return History(recs)


def _is_slotted_attrs(obj: object) -> bool:
    return getattr(type(obj), "__attrs_attrs__", None) is not None and not hasattr(obj, "__dict__")


def _with_via(site: str, via: str) -> str:
    return f"{site} (via {via})".lstrip() if via else site
