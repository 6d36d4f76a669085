"""Override parsing: ``key=VALUE`` strings -> :class:`Override` (no config access here).

Forms (DESIGN section 4)::

    a.b.c=VALUE        set              +a.b=VALUE   add (must not exist)
    ++a.b=VALUE        add or set       ~a.b         delete (``~a.b=VALUE``: only if equal)
    a.b+=VALUE         append/extend    a.blocks.0.x=V, a.blocks[0].x=V, a['k.with.dots']=V
    a.*.x=V            glob segment (``*``/``?`` patterns inside a segment too)

VALUE: Python literals (``1``, ``1e-3``, ``-2``, ``1_000``, ``'quoted'``, ``[1, 2]``, ``(1, 2)``,
``{'a': 1}``), ``true/false/null/none`` in any case, ``[a, b]`` / ``{k: v}`` with bare words,
``${...}`` kept verbatim for ``resolve``, anything else a plain string (spaces, ``:``, ``=``
and ``,`` included: ``a=b=c`` sets ``a`` to ``"b=c"``). An empty value is ``""``.
A malformed override raises :class:`OverrideError` quoting it with a caret under the problem.
"""

from __future__ import annotations

import re
from typing import Any

from ._errors import OverrideError
from .tree import _fail, _parse_quoted, _scalar, format_path, parse_key_path

__all__ = ["Override", "parse_override", "parse_value"]

_MAX_DEPTH = 100  # nesting of [ ( { in one VALUE (deeper is an error, not a RecursionError)
_KINDS = ("set", "add", "force", "delete", "append")
_PREFIXES = (("++", "force"), ("+", "add"), ("~", "delete"), ("", "set"))
_LAZY_CALL = re.compile(r"^L\s*\(.*\)\s*\(.*\)$", re.S)


class Override:
    """One parsed override: ``text``, ``kind`` ("set", "add" ``+``, "force" ``++``, "delete"
    ``~``, "append" ``+=``), ``keys`` (str, int or glob segments), ``value``, ``has_value``."""

    __slots__ = ("text", "kind", "keys", "value", "has_value")

    def __init__(self, text: str, kind: str, keys: tuple, value: Any, has_value: bool) -> None:
        self.text, self.kind, self.keys, self.value, self.has_value = (
            text, kind, keys, value, has_value)

    @property
    def path(self) -> str:
        return format_path(self.keys)

    def __repr__(self) -> str:
        return (f"Override({self.text!r}, kind={self.kind!r}, keys={self.keys!r}, "
                f"value={self.value!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Override):
            return NotImplemented
        return (self.kind, self.keys, self.has_value, self.value) == (
            other.kind, other.keys, other.has_value, other.value)

    __hash__ = None  # type: ignore[assignment]


# ----------------------------------------------------------------------------- overrides
def parse_override(text: str) -> Override:
    """Parses one override string (an OverrideError with a caret when malformed)."""
    if not isinstance(text, str):
        raise OverrideError(f"an override must be a string like 'key=value', got {text!r}")
    if text.startswith("--"):
        raise _fail(text, 0, "overrides are 'key=value' (no leading '--'); flags belong to the "
                    "command, not to the override list")
    prefix, kind = next(p for p in _PREFIXES if text.startswith(p[0]))
    i = len(prefix)
    if text[i:i + 1] in ("+", "~"):
        raise _fail(text, i, "too many prefix characters (use one of '+', '++', '~')")
    eq = _find_eq(text, i)
    if eq < 0:
        if kind == "delete":
            key_text, value_text = text[i:], None
        else:
            raise _fail(text, len(text), "missing '=' (write key=value, or ~key to delete)")
    else:
        key_text, value_text = text[i:eq], text[eq + 1:]
    if kind != "delete" and key_text.endswith("+"):
        if kind != "set":
            raise _fail(text, eq - 1, "'+=' (append) cannot be combined with a '+'/'++' prefix")
        kind = "append"
        key_text = key_text[:-1]
    stripped = key_text.strip()
    if not stripped:
        raise _fail(text, i, "empty key before '='")
    keys = parse_key_path(stripped, full=text, offset=i + key_text.find(stripped))
    if value_text is None:
        return Override(text, kind, tuple(keys), None, False)
    value = parse_value(value_text, full=text, offset=eq + 1)
    return Override(text, kind, tuple(keys), value, True)


def _find_eq(text: str, start: int) -> int:
    """Index of the first '=' outside brackets and quotes in the key part."""
    depth, quote = 0, ""
    for j in range(start, len(text)):
        c = text[j]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"" and depth:
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        elif c == "=" and depth == 0:
            return j
    if depth:  # an unclosed '[' in the key: split at the first '=' so the key error shows
        return text.find("=", start)
    return -1


# ----------------------------------------------------------------------------- values
def parse_value(text: str, *, full: str | None = None, offset: int = 0) -> Any:
    """Parses an override VALUE (see the module docstring)."""
    full = text if full is None else full
    lead = len(text) - len(text.lstrip())
    s = text.strip()
    if not s:
        return ""
    c = s[0]
    if c in "[({":
        parser = _ValueParser(s, full, offset + lead)
        value = parser.value()
        parser.skip_ws()
        if parser.i < len(s):
            raise _fail(full, offset + lead + parser.i, "unexpected text after the closing "
                        "bracket (quote the whole value to make it a string)")
        return value
    if c in "'\"":
        value, j = _parse_quoted(s, 0, full, offset + lead)
        if s[j:].strip():
            raise _fail(full, offset + lead + j, "unexpected text after the closing quote")
        return value
    if _LAZY_CALL.match(s):
        raise _fail(full, offset + lead, "a lazy node L(...)(...) cannot be written as an "
                    "override VALUE: set its arguments one by one (key.arg=VALUE), select a "
                    "group option, or quote the text to store it as a string")
    return _scalar(s)


class _ValueParser:
    """Recursive-descent parser for container values."""

    def __init__(self, s: str, full: str, offset: int) -> None:
        self.s = s
        self.full = full
        self.offset = offset
        self.i = 0
        self.depth = 0

    def fail(self, msg: str, pos: int | None = None) -> OverrideError:
        return _fail(self.full, self.offset + (self.i if pos is None else pos), msg)

    def skip_ws(self) -> None:
        s, i = self.s, self.i
        while i < len(s) and s[i] in " \t\n":
            i += 1
        self.i = i

    def value(self, stop: str = "") -> Any:
        self.skip_ws()
        if self.i >= len(self.s):
            raise self.fail("expected a value")
        c = self.s[self.i]
        if c in "[({":
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise self.fail(f"nested deeper than {_MAX_DEPTH} levels")
            value = dict(self.items("}", True)) if c == "{" else (list if c == "[" else tuple)(
                self.items("]" if c == "[" else ")", False))
            self.depth -= 1
            return value
        if c in "'\"":
            value, self.i = _parse_quoted(self.s, self.i, self.full, self.offset)
            return value
        return self.bare(stop)

    def bare(self, stop: str) -> Any:
        s = self.s
        start = i = self.i
        n = len(s)
        while i < n:
            c = s[i]
            if c == "$" and i + 1 < n and s[i + 1] == "{":
                depth = 0
                while i < n:
                    depth += {"{": 1, "}": -1}.get(s[i], 0)
                    if depth == 0 and s[i] == "}":
                        break
                    i += 1
                if i >= n:
                    raise self.fail("unterminated '${'", start)
                i += 1
                continue
            if c in ",)]}" or c in stop:
                break
            if c in "[({":
                raise self.fail(f"unexpected {c!r} inside a bare word (quote it)", i)
            i += 1
        word = s[start:i].strip()
        if not word:
            raise self.fail("empty element", start)
        self.i = i
        return _scalar(word)

    def items(self, close: str, pairs: bool) -> list:
        """Elements (``pairs``: ``key: value`` pairs) up to ``close``; a trailing comma is ok."""
        open_pos = self.i
        self.i += 1
        out: list = []
        while True:
            self.skip_ws()
            if self.i < len(self.s) and self.s[self.i] == close:
                self.i += 1
                return out
            out.append(self.pair() if pairs else self.value())
            self.skip_ws()
            if self.i >= len(self.s):
                raise self.fail(f"missing {close!r}", open_pos)
            if self.s[self.i] != close:
                if self.s[self.i] != ",":
                    raise self.fail(f"expected ',' or {close!r}")
                self.i += 1

    def pair(self) -> tuple[Any, Any]:
        key_pos = self.i
        key = self.value(stop=":")
        try:
            hash(key)
        except TypeError:
            raise self.fail("a dict key must be a scalar or a tuple of scalars", key_pos) from None
        self.skip_ws()
        if self.i >= len(self.s) or self.s[self.i] != ":":
            raise self.fail("expected ':' after a dict key")
        self.i += 1
        return key, self.value()
