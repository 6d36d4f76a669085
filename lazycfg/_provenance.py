"""Provenance: who set each value, stored on the config itself.

Every assignment into a config container records a :class:`Record` (value, source, kind) in a
per-key history kept ON the containing object (never in a global table), so two configs in one
process never mix, ``copy.deepcopy`` keeps the history and equality ignores it.

Sources:
    * Python assignments and ``L(...)`` creation: ``"/abs/path/file.py:12"`` (the first frame
      outside lazycfg, found with ``sys._getframe``);
    * command-line overrides: the override text, e.g. ``"trainer.max_iter=3"`` (globs add the
      match count);
    * registry selections: ``"optimizer=adamw"``.

Kinds: ``"init"`` (value given when the container was created; only materialised lazily, when a
later assignment would otherwise lose it), ``"python"``, ``"override"``, ``"select"``,
``"delete"`` (value is :data:`DELETED`), ``"load"`` (restored by the YAML loader).

Internal accessors (used by the persistence agent to save and restore history):
    * ``get_history(container, key) -> list[Record]``: the stored records of one key (a new
      list; empty when none). Creation-time values are not stored until overwritten; use
      :func:`explain` for the full, synthesised history.
    * ``set_history(container, key, records)``: replace the stored records of one key.
    * ``histories(container) -> dict[key, list[Record]]``: all stored records (a copy).
    * ``get_site(container) / set_site(container, site)``: the ``file:line`` where a lazy node,
      mapping or configclass instance was created ("" when unknown).
    * ``get_choices(root) / set_choices(root, mapping)``: the group -> option(s) selections stored
      on a config root (see ``lazycfg.choices``).
    * ``Record(value, source, kind)`` builds a record.

Containers that can hold metadata: lazy nodes, ``ConfigDict``, ``ConfigList`` and instances of
attrs classes with a ``__dict__`` (``@configclass`` and plain ``slots=False`` attrs classes).
Plain dicts/lists and slotted attrs instances silently hold none.
"""

from __future__ import annotations

import os
import sys

__all__ = [
    "Record",
    "DELETED",
    "caller_site",
    "get_history",
    "set_history",
    "histories",
    "record",
    "get_site",
    "set_site",
    "get_choices",
    "set_choices",
    "explain",
]

_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# stdlib helpers that may sit between user code and an assignment (deepcopy, with-blocks)
_STDLIB = os.path.dirname(os.__file__) + os.sep
_SKIP_FILES = frozenset({_STDLIB + "copy.py", _STDLIB + "contextlib.py"})
_HIST = "__lz_hist__"
_SITE = "__lz_site__"
_CHOICES = "__lz_choices__"


class _Deleted:
    """Marker value of a record that deleted a key."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<deleted>"

    def __reduce__(self) -> str:
        return "DELETED"


DELETED = _Deleted()


class Record:
    """One assignment of one key: the value, where it came from and how.

    Attributes:
        value: the value assigned (the object itself, not a copy).
        source: ``file:line``, the override text, or ``group=option``.
        kind: "init", "python", "override", "select", "delete" or "load".
    """

    __slots__ = ("value", "source", "kind")

    def __init__(self, value: object, source: str, kind: str = "python") -> None:
        self.value = value
        self.source = source
        self.kind = kind

    def __repr__(self) -> str:
        return f"Record({self.value!r}, {self.source!r}, {self.kind!r})"

    def __str__(self) -> str:
        src = _short_source(self.source) if self.kind in ("init", "python") else self.source
        src = src or "<unknown>"
        label = {"override": "override ", "select": "selected ", "delete": "deleted by ",
                 "load": "loaded from "}.get(self.kind, "")
        value = "<deleted>" if self.value is DELETED else _short_repr(self.value)
        return f"{value}  <- {label}{src}"

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
    """Returns ``file:line`` of the first frame outside lazycfg (and outside attrs' generated code).

    Args:
        depth: frames to skip before searching (2: the caller of the function calling this).
    """
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
    if not hist:
        return []
    return list(hist.get(key, ()))


def set_history(container: object, key: object, records: list[Record]) -> None:
    """Replaces the stored records of ``key``; silently a no-op for containers without metadata."""
    hist = _get_meta(container, _HIST)
    if hist is None:
        hist = {}
        if not _set_meta(container, _HIST, hist):
            return
    if records:
        hist[key] = list(records)
    else:
        hist.pop(key, None)


def histories(container: object) -> dict:
    """All stored records of ``container``: ``{key: [Record, ...]}`` (a shallow copy)."""
    hist = _get_meta(container, _HIST)
    return {k: list(v) for k, v in hist.items()} if hist else {}


def record(container: object, key: object, old: object, had_old: bool, new: object,
           source: str | None, kind: str = "python") -> None:
    """Appends one record; first materialises the creation-time value it is about to replace.

    Args:
        container: the object holding ``key``.
        key: the key, kwarg name, field name (or compound ``"list.0"`` key for list elements).
        old: the previous value (ignored when ``had_old`` is False).
        had_old: whether the key held a value before.
        new: the new value (``DELETED`` for a deletion).
        source: the source text; None means "the calling Python line".
        kind: the record kind.
    """
    hist = _get_meta(container, _HIST)
    if hist is None:
        hist = {}
        if not _set_meta(container, _HIST, hist):
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
    choices = _get_meta(root, _CHOICES)
    if choices is None:
        choices = {}
        if not _set_meta(root, _CHOICES, choices):
            return
    choices[group] = list(option) if isinstance(option, (list, tuple)) else option


class History(list):
    """The list ``explain`` returns; ``print()`` shows numbered records, as the CLI does."""

    def __str__(self) -> str:
        return "\n".join(f"{i}. {rec}" for i, rec in enumerate(self, 1))

    def _repr_pretty_(self, p: object, cycle: bool) -> None:
        p.text(str(self))  # type: ignore[attr-defined]


def explain(cfg: object, path: str) -> list[Record]:
    """The history of one value, oldest first.

    Args:
        cfg: the config root.
        path: dotted path (``"optimizer.lr"``, ``"trainer.callbacks.ema.every_n"``,
            ``"blocks.0.dim"``).

    Returns:
        Records (value, source, kind). The first one is the value given when the containing node,
        mapping or config-class instance was created, with its ``file:line`` (plus the
        ``group=option`` selection that brought that subtree in, when there was one).

    Raises:
        ConfigKeyError: the path does not exist in ``cfg`` and has no recorded history.
    """
    from .tree import format_path, get_child, parse_path

    keys = parse_path(path)
    if not keys:
        return History()
    parent = cfg
    via = ""
    for i, key in enumerate(keys[:-1]):
        recs = get_history(parent, key)
        if recs:
            via = recs[-1].source if recs[-1].kind == "select" else ""
        parent = get_child(parent, key, path=format_path(keys[:i]))
    last = keys[-1]
    holder, hkey = parent, last
    if isinstance(parent, (list, tuple)) and len(keys) >= 2:
        # list elements carry no metadata: their history lives on the list's parent
        holder = cfg
        for i, key in enumerate(keys[:-2]):
            holder = get_child(holder, key, path=format_path(keys[:i]))
        hkey = f"{keys[-2]}.{last}"
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
    if not via:
        return site
    return f"{site} (via {via})" if site else f"(via {via})"
