"""The one traversal engine: how configs nest, how to walk and map them, and their paths.

Each kind of value registers how to take it apart and put it back (``register_kind``, as
Fiddle's daglish): ``node`` (args as int keys, then kwargs), ``mapping``, ``list``, ``tuple``,
``attrs`` (fields; registered by ``_configclass``) and ``leaf`` (everything else). Public:
``walk``, ``children``, ``format_path``, ``parse_path``. For lazycfg's features: ``traverse``
(the memoised map that instantiate, freeze, save, to_py and resolve are written on),
``zip_children`` (diff), ``rebuild``, ``get_child``/``set_child``/``del_child`` (through the
container's rules) and ``raw_set`` (bypassing them, for loaders).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator
from typing import Any

from ._errors import ConfigError, ConfigKeyError, OverrideError
from ._node import (
    _SCALARS,
    DELETED,
    ConfigDict,
    ConfigList,
    LazyNode,
    _init_meta,
    listing,
    new_node,
    node_child,
    record,
    suggest,
    wrap,
)

__all__ = ["walk", "children", "format_path", "parse_path"]

Path = tuple
_FIELDS_CACHE: dict[type, tuple[str, ...]] = {}
_SEG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-*?@")


# ----------------------------------------------------------------------------- kinds
# ``flatten(obj) -> [(key, child)]``, ``unflatten(template, items) -> new object`` (no checks),
# ``setter(obj, key, value, source, kind, path)`` (None: ``set_child`` knows the kind)
Kind = namedtuple("Kind", "flatten unflatten setter")
KINDS: dict[str, Kind] = {}


def register_kind(name: str, flatten: Callable, unflatten: Callable,
                  setter: Callable | None = None) -> None:
    """Registers (or replaces) how values of kind ``name`` are taken apart and rebuilt."""
    KINDS[name] = Kind(flatten, unflatten, setter)


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
    if t in _SCALARS:
        return "leaf"
    if t is LazyNode:
        return "node"
    if isinstance(obj, dict):
        return "mapping"
    if isinstance(obj, list):
        return "list"
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return "tuple"
    return "attrs" if getattr(t, "__attrs_attrs__", None) is not None else "leaf"


def children(obj: object) -> list[tuple[Any, Any]]:
    """``[(key, child), ...]`` of a container; ``[]`` for leaves."""
    if type(obj) in _SCALARS:
        return []
    kind = KINDS.get(kind_of(obj))
    return kind.flatten(obj) if kind is not None else []


def rebuild(template: Any, items: list[tuple[Any, Any]]) -> Any:
    """A new container of ``template``'s kind holding ``items`` (no provenance, no checks)."""
    kind = KINDS.get(kind_of(template))
    return kind.unflatten(template, items) if kind is not None else template


def _node_unflatten(node: LazyNode, items: list) -> LazyNode:
    return new_node(node.__lz_target__, [v for k, v in items if isinstance(k, int)],
                    {k: v for k, v in items if not isinstance(k, int)}, node.__lz_recursive__,
                    node.__lz_site__)


def _mapping_unflatten(template: dict, items: list) -> ConfigDict:
    new = ConfigDict.__new__(ConfigDict)
    _init_meta(new, getattr(template, "__lz_site__", ""))
    for key, v in items:
        dict.__setitem__(new, key, v)
    return new


register_kind("node", lambda n: [*enumerate(n.__lz_args__), *n.__lz_kwargs__.items()],
              _node_unflatten)
register_kind("mapping", lambda m: list(m.items()), _mapping_unflatten)
register_kind("list", lambda s: list(enumerate(s)), lambda t, items: (
    ConfigList if isinstance(t, ConfigList) else list)(v for _, v in items))
register_kind("tuple", lambda s: list(enumerate(s)), lambda t, items: tuple(v for _, v in items))


# ----------------------------------------------------------------------------- traversal
class Traversal:
    """One memoised map over a config tree, carrying the path.

    ``fn(value, path, t)`` returns the result for ``value`` and recurses with ``t(child, path)``
    or ``t.map_children(value, path)``. A container reachable twice is handled once, at its
    first path; later visits get the same result (shared nodes stay shared).
    """

    __slots__ = ("fn", "memo")

    def __init__(self, fn: Callable[[Any, Path, Traversal], Any]) -> None:
        self.fn = fn
        self.memo: dict[int, tuple[Any, Any]] = {}  # id -> (value kept alive, result)

    def __call__(self, value: Any, path: Path = ()) -> Any:
        if type(value) in _SCALARS or kind_of(value) == "leaf":  # only containers are shared
            return self.fn(value, path, self)
        hit = self.memo.get(id(value))
        if hit is not None:
            return hit[1]
        result = self.fn(value, path, self)
        self.memo[id(value)] = (value, result)
        return result

    def map_children(self, value: Any, path: Path) -> list[tuple[Any, Any]]:
        """``[(key, result of the child)]`` for the children of ``value``."""
        return [(k, self(c, (*path, k))) for k, c in children(value)]


def traverse(fn: Callable[[Any, Path, Traversal], Any], root: Any, path: Path = ()) -> Any:
    """Runs one memoised traversal of ``root`` with ``fn`` (see :class:`Traversal`)."""
    return Traversal(fn)(root, path)


MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


def zip_children(a: Any, b: Any) -> list[tuple[Any, Any, Any]]:
    """``(key, child of a, child of b)`` over both containers' keys (``a``'s order first); a
    side without the key gives ``MISSING``. The side-by-side step of ``diff``."""
    ca, cb = dict(children(a)), dict(children(b))
    return [(k, ca.get(k, MISSING), cb.get(k, MISSING)) for k in {**ca, **cb}]


def walk(obj: Any, path: Path = (), *, dedupe: bool = True,
         _seen: set[int] | None = None) -> Iterator[tuple[Path, Any]]:
    """Yields ``(path, value)`` for ``obj`` and everything below it, pre-order (``dedupe``: a
    container reachable twice is yielded and descended only at its first path)."""
    _seen = set() if _seen is None else _seen
    yield path, obj
    if type(obj) in _SCALARS or dedupe and id(obj) in _seen:
        return
    _seen.add(id(obj))
    for key, child in children(obj):
        if type(child) in _SCALARS:  # leaves directly: no generator per leaf
            yield (*path, key), child
        elif not (dedupe and id(child) in _seen):
            yield from walk(child, (*path, key), dedupe=dedupe, _seen=_seen)


# ----------------------------------------------------------------------------- access
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
        full = join_path(path, key)
        raise ConfigKeyError(f"{full}: index {key} out of range (length {len(obj)})", full)
    return key


def join_path(path: str | None, key: Any) -> str:
    """The path of child ``key`` of the container at ``path`` (``"a.b"``, 0 -> ``"a.b.0"``)."""
    return format_path((*parse_path(path), key)) if path else format_path((key,))


def get_child(obj: Any, key: Any, path: str | None = None) -> Any:
    """The child ``key`` of ``obj`` (a digit string indexes lists and args), or a ConfigKeyError
    naming ``path`` + key with suggestions."""
    t = type(obj)
    if t is LazyNode:
        return node_child(obj, key, path)
    if isinstance(obj, dict):
        try:
            return dict.__getitem__(obj, _mapping_key(obj, key))
        except KeyError:
            why = f"no such key.{suggest(key, obj.keys())}{listing('Keys', obj)}"
    elif isinstance(obj, (list, tuple)):
        return obj[_index(obj, key, path or "")]
    elif getattr(t, "__attrs_attrs__", None) is not None:
        names = attrs_fields(t)
        if key in names:
            return getattr(obj, key)
        why = f"{t.__name__} has no field {key!r}.{suggest(key, names)}{listing('Fields', names)}"
    else:
        why = f"{path or '<root>'} is a {t.__name__} value, not a config container"
    full = join_path(path, key)
    raise ConfigKeyError(f"{full!r}: {why}", full)


def get_path(obj: Any, keys: tuple) -> Any:
    """The value at ``keys`` below ``obj`` (errors name the path)."""
    for i, key in enumerate(keys):
        obj = get_child(obj, key, path=format_path(keys[:i]))
    return obj


def set_child(obj: Any, key: Any, value: Any, source: str | None = None,
              kind: str = "python", path: str | None = None) -> None:
    """Sets a child through the container's rules (freezing, provenance, type checks);
    ``source`` None records the calling line; ``path`` is ``obj``'s, for errors."""
    t = type(obj)
    if t is LazyNode and isinstance(key, str) and key.isdigit():
        key = int(key)
    elif isinstance(obj, ConfigDict) and type(key) is int and key not in obj and str(key) in obj:
        key = str(key)  # ``a.0`` sets the str key "0"; a str "0" never lands on an int key
    if t is LazyNode or isinstance(obj, ConfigDict):
        obj._lz_set(key, value, source, kind)
    elif isinstance(obj, dict):
        obj[key] = wrap(value)
    elif isinstance(obj, list):
        obj[_index(obj, key, path or "")] = wrap(value)
    elif getattr(t, "__attrs_attrs__", None) is not None:
        KINDS["attrs"].setter(obj, key, value, source, kind, path)
    elif isinstance(obj, tuple):
        raise ConfigError(f"{join_path(path, key)!r}: tuples are immutable; set the whole tuple "
                          f"at {path or '<root>'} instead", join_path(path, key))
    else:
        raise ConfigKeyError(f"{join_path(path, key)!r}: {path or '<root>'} is a {t.__name__} "
                             f"value, not a config container", join_path(path, key))


def del_child(obj: Any, key: Any, source: str | None = None, path: str | None = None) -> None:
    """Deletes a child (a node kwarg, a mapping key or a list element)."""
    full = join_path(path, key)
    if type(obj) is LazyNode:
        obj._lz_del(int(key) if isinstance(key, str) and key.isdigit() else key, source)
    elif isinstance(obj, dict):
        try:
            real = _mapping_key(obj, key)
        except KeyError:
            raise ConfigKeyError(f"{full!r}: no such key to delete.{suggest(key, obj.keys())}",
                                 full) from None
        old = obj[real]
        del obj[real]
        record(obj, real, old, True, DELETED, source, "delete")
    elif isinstance(obj, list):
        del obj[_index(obj, key, path or "")]
    elif is_attrs(obj):
        raise ConfigError(f"cannot delete {full!r}: it is a field of {type(obj).__name__}; set "
                          "it instead", full)
    else:
        raise ConfigKeyError(f"cannot delete {full!r}: {path or '<root>'} is a "
                             f"{type(obj).__name__}", full)


def raw_set(obj: Any, key: Any, value: Any) -> None:
    """Sets a child bypassing freezing, provenance, wrapping and type checks (for loaders)."""
    if type(obj) is LazyNode:
        if isinstance(key, int):
            args = obj.__lz_args__
            list.extend(args, [None] * (key + 1 - len(args)))
            list.__setitem__(args, key, value)
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


# ----------------------------------------------------------------------------- paths
class Glob(str):
    """An unquoted key segment holding ``*`` or ``?`` (a quoted ``['a.*']`` is a plain key)."""

    __slots__ = ()


def is_glob(key: object) -> bool:
    """True for a glob path segment (an unquoted segment with ``*`` or ``?``)."""
    return type(key) is Glob


def _fail(text: str, pos: int, msg: str, path: str | None = None) -> OverrideError:
    caret = " " * pos + "^"
    return OverrideError(f"malformed override {text!r}: {msg}\n    {text}\n    {caret}", path)


def parse_key_path(text: str, *, full: str | None = None, offset: int = 0) -> list:
    """Parses ``a.b[0].c`` / ``a.b.0.c`` / ``a['x.y']`` into keys (digit segments -> int);
    ``full``/``offset`` place ``text`` in the whole override for error carets."""
    full = text if full is None else full
    keys: list = []
    i, n = 0, len(text)
    if n == 0:
        raise _fail(full, offset, "empty key")
    while True:
        c = text[i]
        if c == "[":
            j = i + 1
            if j < n and text[j] in "'\"":
                key, j = _parse_quoted(text, j, full, offset)
            else:
                k = text.find("]", j)
                if k < 0:
                    raise _fail(full, offset + i, "unclosed '['")
                inner = text[j:k].strip()
                key = Glob("*") if inner == "*" else _scalar(inner) if inner else ""
                if isinstance(key, str) and not is_glob(key):
                    raise _fail(full, offset + j, f"list index must be an integer (a mapping "
                                f"key may also be a float, true/false/null or quoted) or '*', "
                                f"got {inner!r}")
                j = k
            if j >= n or text[j] != "]":
                raise _fail(full, offset + j, "expected ']'")
            j += 1
            if j < n and text[j] not in ".[":
                raise _fail(full, offset + j, "expected '.' or '[' after ']'")
        elif c == ".":
            raise _fail(full, offset + i, "empty path segment")
        else:
            j = i
            while j < n and text[j] in _SEG_CHARS:
                j += 1
            if j == i:
                raise _fail(full, offset + i, f"unexpected character {c!r} in key")
            key = _segment(text[i:j])
            if j < n and text[j] not in ".[":
                raise _fail(full, offset + j, f"unexpected character {text[j]!r} in key")
        keys.append(key)
        if j < n and text[j] == ".":
            j += 1
            if j >= n:  # the caret: after ']', or under the '.' itself
                raise _fail(full, offset + j - (c != "["), "path ends with '.'")
        if j >= n:
            return keys
        i = j


def _segment(seg: str) -> Any:
    """A dotted segment: ``0``/``-1`` are int keys, ``a*`` a glob, anything else a str key."""
    if seg.lstrip("-").isdigit() and seg.count("-") <= 1:
        return int(seg)
    return Glob(seg) if "*" in seg or "?" in seg else seg


def _scalar(word: str) -> Any:
    """Converts a bare word: bool/null words, int, float, else the string itself."""
    low = word.lower()
    if low in _WORDS:
        return _WORDS[low]
    if "${" in word:
        return word
    if word[0].isdigit() or word[0] in "+-." or low in ("inf", "nan"):
        prefixed = len(word) > 2 and word[0] == "0" and word[1] in "xXoObB"  # 0x10, 0o7, 0b1
        for convert in (int, lambda w: int(w, 0), float) if prefixed else (int, float):
            try:
                return convert(word)
            except ValueError:
                pass
    return word


_WORDS = {"true": True, "false": False, "null": None, "none": None}


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"', "r": "\r", "0": "\0"}


def _parse_quoted(s: str, i: int, full: str, offset: int) -> tuple[str, int]:
    """Parses a quoted string starting at ``s[i]``; returns (value, index after the quote)."""
    quote, out, j, n = s[i], [], i + 1, len(s)
    while j < n:
        c = s[j]
        if c == "\\" and j + 1 < n:
            out.append(_ESCAPES.get(s[j + 1], "\\" + s[j + 1]))
            j += 2
            continue
        if c == quote:
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise _fail(full, offset + i, f"unterminated {quote} string")


def format_path(keys: Any) -> str:
    """Renders a key tuple in override syntax: ``("blocks", 0, "dim")`` -> ``"blocks.0.dim"``."""
    out = []
    for key in keys:
        if isinstance(key, int) and not isinstance(key, bool):
            out.append(f".{key}" if out else str(key))
        elif isinstance(key, str) and key and (key.isidentifier() or key in ("*",)
                                               or type(key) is Glob):
            out.append(f".{key}" if out else key)
        else:
            out.append(f"[{key!r}]")
    return "".join(out)


def parse_path(text: str | None) -> tuple:
    """Parses a path (``a.b.0``, ``a.b[0]``, ``a['x.y']``, ``a[True]``) into a key tuple."""
    if not text:
        return ()
    try:
        return tuple(parse_key_path(text))
    except OverrideError as exc:  # the grammar's message says "override"; this is a path
        why = exc.message.splitlines()[0].rsplit(": ", 1)[-1]
        raise ConfigError(f"malformed config path {text!r}: {why} (write a.b.c, a.list.0 or "
                          f"a['odd.key'])", text) from None
