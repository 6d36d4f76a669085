"""Path-level differences between two configs, printable as override lines.

``diff(a, b)`` walks both trees together (the core walker's children, in config order) and
returns entries whose ``str()`` is one override line (``path=VALUE``, ``+path=VALUE``, ``~path``,
``++path=VALUE`` where a node or mapping gives way to a plain value);
applying the lines, in order, to a copy of ``a`` gives ``b``. Provenance and group choices are
ignored, as by equality. A change the override grammar cannot spell (a lazy node or a config
class instance appearing where there was none) still gets an entry, with ``expressible`` False
and a ``str()`` that shows the new value.
"""
from __future__ import annotations

import math
from typing import Any

from lazycfg import tree as _tree
from lazycfg._node import target_name

CHANGED, ADDED, REMOVED = "changed", "added", "removed"


class _Inexpressible(Exception):
    """A value with no spelling in the override VALUE grammar."""


class DiffEntry:
    """One difference; ``str()`` gives the override line that applies it.

    Attributes:
        kind: "changed", "added" or "removed".
        keys: the path as a tuple of keys; ``path`` is its dotted form.
        old: the value in ``a`` (None when added).
        new: the value in ``b`` (None when removed).
        expressible: False when no override line can express the change.
    """

    __slots__ = ("kind", "keys", "old", "new", "expressible", "_text")

    def __init__(self, kind: str, keys: tuple, old: Any, new: Any) -> None:
        self.kind, self.keys, self.old, self.new = kind, keys, old, new
        # replacing a node or mapping by a value of another kind needs the forcing form
        force = (kind == CHANGED and _tree.kind_of(old) in ("node", "mapping", "attrs")
                 and _tree.kind_of(new) != _tree.kind_of(old))
        try:
            value = "" if kind == REMOVED else format_value(new)
            self.expressible = True
        except _Inexpressible:
            value = repr(new)
            self.expressible = False
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
    """Return the changed, added and removed paths from ``a`` to ``b`` (empty when equal).

    Args:
        a: the reference config.
        b: the other config.

    Returns:
        Entries in config order; ``[str(e) for e in diff(a, b)]`` are override lines that turn
        a copy of ``a`` into ``b``.
    """
    out = Diff()
    _diff(a, b, (), out, set())
    return out


def format_lines(entries: list[DiffEntry]) -> str:
    """The entries as override lines, one per line."""
    return "".join(f"{e}\n" for e in entries)


class Diff(list):
    """The list ``diff`` returns; ``print()`` shows one override line per entry, as the CLI."""

    def __str__(self) -> str:
        return format_lines(self).rstrip("\n") or "(no differences)"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


def _same_shape(a: Any, b: Any, ka: str) -> bool:
    if ka == "node":
        return target_name(a.__lz_target__) == target_name(b.__lz_target__)
    if ka == "attrs":
        return type(a) is type(b)
    return True


def _diff(a: Any, b: Any, path: tuple, out: list[DiffEntry], seen: set,
          parent: str = "root") -> None:
    ka, kb = _tree.kind_of(a), _tree.kind_of(b)
    if ka == kb == "tuple" and len(a) == len(b) and not any(
            _tree.kind_of(x) in ("leaf", "tuple") and not _equal(x, y) or
            _tree.kind_of(x) != _tree.kind_of(y) for x, y in zip(a, b)):
        # only containers inside the tuple changed: edit them in place, keep the tuple,
        # unless an element itself would have to be replaced (tuples are immutable)
        inner: list[DiffEntry] = []
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, (*path, i), inner, seen, "tuple")
        if not any(len(e.keys) == len(path) + 1 for e in inner):
            out.extend(inner)
            return
    if ka == "leaf" or kb == "leaf" or ka != kb or ka == "tuple":
        if not _equal(a, b):
            if parent in ("mapping", "node") and _retyped(a, b):
                # Overrides keep the type of the value they replace: delete, then add anew.
                out.append(DiffEntry(REMOVED, path, a, None))
                out.append(DiffEntry(ADDED, path, None, b))
            else:
                out.append(DiffEntry(CHANGED, path, a, b))
        return
    pair = (id(a), id(b))
    if pair in seen:  # a shared node: its differences are listed once, at its first path
        return
    seen.add(pair)
    if ka == "node":
        if not _same_shape(a, b, ka):
            out.append(DiffEntry(CHANGED, (*path, "_target_"), a.__lz_target__,
                                 target_name(b.__lz_target__)))
        if a.__lz_recursive__ != b.__lz_recursive__:
            out.append(DiffEntry(CHANGED, (*path, "_recursive_"), a.__lz_recursive__,
                                 b.__lz_recursive__))
        args_a, args_b = a.__lz_args__, b.__lz_args__
        if len(args_a) != len(args_b):
            out.append(DiffEntry(CHANGED, (*path, "_args_"), list(args_a), list(args_b)))
        elif any(_leaf_retyped(x, y) for x, y in zip(args_a, args_b)):
            out.append(DiffEntry(CHANGED, (*path, "_args_"), list(args_a), list(args_b)))
        else:
            for i, (x, y) in enumerate(zip(args_a, args_b)):
                _diff(x, y, (*path, i), out, seen, "args")
        _diff_keyed(a.__lz_kwargs__, b.__lz_kwargs__, path, out, seen, "node")
    elif ka == "attrs":
        if not _same_shape(a, b, ka):
            out.append(DiffEntry(CHANGED, path, a, b))
            return
        for (key, x), (_, y) in zip(_tree.children(a), _tree.children(b)):
            _diff(x, y, (*path, key), out, seen, "attrs")
    elif ka == "mapping":
        _diff_keyed(a, b, path, out, seen, "mapping")
    else:  # list
        if len(a) != len(b) or any(_leaf_retyped(x, y) for x, y in zip(a, b)):
            # a new length, or an element of another type: the whole list is replaced
            if not _equal(a, b):
                out.append(DiffEntry(CHANGED, path, a, b))
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, (*path, i), out, seen, "list")


def _retyped(a: Any, b: Any) -> bool:
    """True when setting ``b`` over ``a`` would be refused or converted by an override."""
    if a is None or type(a) is type(b):
        return False
    if isinstance(a, float) and type(b) is int:
        return False  # int -> float is lossless and compares equal
    return True


def _leaf_retyped(a: Any, b: Any) -> bool:
    ka, kb = _tree.kind_of(a), _tree.kind_of(b)
    if ka != kb or ka == "tuple":
        return not _equal(a, b) and _retyped(a, b)
    if ka == "leaf":
        return not _equal(a, b) and _retyped(a, b)
    return False


def _diff_keyed(a: dict, b: dict, path: tuple, out: list[DiffEntry], seen: set,
                kind: str) -> None:
    for key, x in a.items():
        if key not in b:
            out.append(DiffEntry(REMOVED, (*path, key), x, None))
        else:
            _diff(x, b[key], (*path, key), out, seen, kind)
    for key, y in b.items():
        if key not in a:
            out.append(DiffEntry(ADDED, (*path, key), None, y))


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
    """Spell ``value`` in the override VALUE grammar (``parse_value`` of it gives it back).

    Raises:
        _Inexpressible: nodes, config classes and other objects have no spelling.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(float(value))
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


_BARE_STOP = set(",)]}:'\"[({ \t\n\\")


def _format_str(s: str, nested: bool) -> str:
    from lazycfg._grammar import _scalar

    bare_ok = (s and s == s.strip() and s[0] not in "'\"[({~+" and "\n" not in s
               and isinstance(_scalar(s), str) and "\\" not in s
               and (not nested or not (_BARE_STOP & set(s))))
    if bare_ok:
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace(
        "\t", "\\t").replace("\r", "\\r") + "'"
