"""Resolve OmegaConf-style ``${...}`` interpolations in place.

``${a.b}``, ``${a.list.0}``, relative ``${.x}``/``${..x}``, ``${oc.env:VAR[,default]}`` and
``${now:FMT}`` are resolved here without importing OmegaConf; other forms go to OmegaConf's
grammar on a plain mirror of the tree, so results equal OmegaConf's. One timestamp serves every
``${now:...}`` of one call; distributed runs compare ``fingerprint(cfg)`` after resolving.
"""
from __future__ import annotations

import copy
import os
import re
from typing import TYPE_CHECKING, Any

from . import tree as _tree
from ._configclass import field_types
from ._errors import ConfigTypeError, ResolveError
from ._grammar import parse_value

if TYPE_CHECKING:
    from datetime import datetime


class _Patterns:
    """Regexes compiled on first use (keeps ``import lazycfg`` cheap)."""

    def __getattr__(self, name: str) -> re.Pattern:
        src = {
            "interp": r"\$\{([^${}\\]*)\}",
            "key_path": r"^(\.*)([A-Za-z0-9_\-]+(?:(?:\.[A-Za-z0-9_\-]+)|(?:\[\d+\]))*)$",
            "segment": r"[^.\[\]]+",
            "simple_arg": r"^[A-Za-z0-9_%\-+./:@?|*, ]*$",
            "int": r"^[+-]?(?:\d(?:_?\d)*)$",
            "float": r"^[+-]?(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*(?:[eE][+-]?\d+)?"
                     r"|\d(?:_?\d)*\.(?:[eE][+-]?\d+)?|\d(?:_?\d)*[eE][+-]?\d+|inf|nan)$",
        }[name]
        pattern = re.compile(src, re.IGNORECASE if name == "float" else 0)
        setattr(self, name, pattern)
        return pattern


_RX = _Patterns()

Path = tuple

_CURRENT_NOW: list[datetime] = []  # the timestamp of the resolve in progress, for OmegaConf's `now`


class _Unhandled(Exception):
    """Raised by the fast path for forms it leaves to OmegaConf."""


def has_interpolation(value: Any) -> bool:
    """True for a string holding an unresolved ``${...}``."""
    return isinstance(value, str) and "${" in value


def resolve(cfg: Any, *, now: datetime | None = None) -> Any:
    """Resolves every interpolation in ``cfg`` once, in place, and returns it (``now``: the
    ``${now:FMT}`` timestamp); a ResolveError names the key of a missing or circular reference."""
    if now is None:
        from datetime import datetime

        now = datetime.now()
    _Resolver(cfg, now).run()
    return cfg


def path_str(path: Path) -> str:
    """Dotted form of a key path (``trainer.callbacks.0.every_n``)."""
    return ".".join(str(k) for k in path) or "<root>"


class _Resolver:
    """One resolution pass over one tree."""

    def __init__(self, root: Any, now: datetime) -> None:
        self.root = root
        self.now = now
        # a shared node is resolved once, in place, at its first path
        self.pending = [p for p, v in _tree.walk(root) if has_interpolation(v)]
        self.active: list[Path] = []

    def run(self) -> None:
        for path in self.pending:
            self._resolve_path(path)

    def _get(self, path: Path) -> Any:
        return _tree.get_path(self.root, path)

    def _set(self, path: Path, value: Any, text: str) -> None:
        parent = self._get(path[:-1])
        key = path[-1]
        if _tree.kind_of(parent) == "tuple":
            self._set(path[:-1], (*parent[:key], value, *parent[key + 1:]), text)
        else:
            try:
                _tree.set_child(parent, key, _typed(parent, key, value), source=f"resolve {text}",
                                kind="python", path=_tree.format_path(path[:-1]))
            except ConfigTypeError as exc:
                raise ConfigTypeError(f"{exc.message} (what {text!r} resolved to; fix the value "
                                      f"it points at or the interpolation)", exc.path,
                                      exc.expected, exc.value) from exc

    def _resolve_path(self, path: Path) -> Any:
        value = self._get(path)
        if not has_interpolation(value):
            return value
        if path in self.active:
            cycle = " -> ".join(path_str(p) for p in self.active[self.active.index(path):] + [path])
            raise ResolveError(f"circular interpolation at {path_str(path)}: {cycle}",
                               path_str(path))
        self.active.append(path)
        try:
            try:
                result = self._fast(value, path)
            except _Unhandled:
                result = self._omegaconf(value, path)
            self._set(path, result, value)
        finally:
            self.active.pop()
        return result

    def _fast(self, text: str, path: Path) -> Any:
        matches = list(_RX.interp.finditer(text))
        if not matches:
            raise _Unhandled
        # Anything left outside the matched `${...}` that still opens one is a nested or
        # escaped form: leave it to OmegaConf.
        rest = _RX.interp.sub("", text)
        if "${" in rest or "\\" in text:
            raise _Unhandled
        if len(matches) == 1 and matches[0].span() == (0, len(text)):
            return self._one(matches[0].group(1), path)  # the whole string: the value itself
        return _RX.interp.sub(lambda m: str(self._one(m.group(1), path)), text)

    def _one(self, body: str, path: Path) -> Any:
        body = body.strip()
        if ":" in body:
            name, _, args = body.partition(":")
            name = name.strip()
            if name == "oc.env":
                return self._env(args, path)
            if name == "now":
                arg = _parse_args(args)
                if len(arg) != 1 or not isinstance(arg[0], str):
                    raise _Unhandled
                return self.now.strftime(arg[0])
            raise _Unhandled
        m = _RX.key_path.match(body)
        if not m:
            raise _Unhandled
        dots, keys = len(m.group(1)), _RX.segment.findall(m.group(2))
        if dots > len(path):
            raise ResolveError(
                f"cannot resolve '${{{body}}}' at {path_str(path)}: it goes {dots - 1} level(s) "
                f"up from a key that is only {len(path) - 1} level(s) deep", path_str(path))
        # One dot is the container holding the string, each further dot one level up.
        base = path[: len(path) - dots] if dots else ()
        return self._lookup(base, keys, body, path)

    def _lookup(self, base: Path, keys: list[str], body: str, origin: Path) -> Any:
        obj = self._get(base) if base else self.root
        cur = base
        for seg in keys:
            if has_interpolation(obj):
                obj = self._resolve_path(cur)
            key = _child_key(obj, seg)
            if key is None:
                raise ResolveError(self._missing(body, origin, cur, seg, obj), path_str(origin))
            cur = cur + (key,)
            obj = _tree.get_child(obj, key)
        if has_interpolation(obj):
            obj = self._resolve_path(cur)
        elif _tree.kind_of(obj) != "leaf":
            # A whole subtree: resolve what it holds first, then hand out a copy (OmegaConf
            # returns a new container, never an alias).
            for p in list(self.pending):
                if p[: len(cur)] == cur and p != cur:
                    self._resolve_path(p)
            obj = copy.deepcopy(self._get(cur))
        return obj

    def _missing(self, body: str, origin: Path, at: Path, seg: str, obj: Any) -> str:
        import difflib

        names = [str(k) for k, _ in _tree.children(obj)]
        close = difflib.get_close_matches(seg, names, n=3)
        hint = (f"; did you mean {', '.join(map(repr, close))}?" if close else
                f"; valid keys: {', '.join(names[:12])}" if names else "")
        return (f"cannot resolve '${{{body}}}' at {path_str(origin)}: no key '{seg}' under "
                f"{path_str(at) if at else 'the root'}{hint}")

    def _env(self, args: str, path: Path) -> Any:
        parsed = _parse_args(args)
        if not parsed or not isinstance(parsed[0], str) or len(parsed) > 2:
            raise _Unhandled
        name = parsed[0]
        if name in os.environ or len(parsed) == 2:
            default = None if len(parsed) < 2 or parsed[1] is None else str(parsed[1])
            return os.environ.get(name, default)
        raise ResolveError(
            f"cannot resolve '${{oc.env:{args.strip()}}}' at {path_str(path)}: environment "
            f"variable '{name}' is not set; set it or give a default: ${{oc.env:{name},DEFAULT}}",
            path_str(path))

    def _omegaconf(self, text: str, path: Path) -> Any:
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        _register_now()
        _CURRENT_NOW.append(self.now)
        try:
            node: Any = OmegaConf.create(_plain(self.root), flags={"allow_objects": True})
            for key in path:
                node = node[key]
            value = node
        except (OmegaConfBaseException, ValueError, KeyError, TypeError) as e:
            msg = str(e).splitlines()[0]
            raise ResolveError(f"cannot resolve '{text}' at {path_str(path)}: {msg}",
                               path_str(path)) from e
        finally:
            _CURRENT_NOW.pop()
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        return value


def _child_key(obj: Any, seg: str) -> Any:
    """The real key for path segment ``seg`` of ``obj`` (ints for lists and int-keyed dicts)."""
    k = _tree.kind_of(obj)
    if k == "leaf":
        return None
    keys = [key for key, _ in _tree.children(obj)]
    if k in ("list", "tuple"):  # as OmegaConf: int(seg) ("01", "1_0"); negative from 2.4 on
        try:
            i = int(seg)
        except ValueError:
            return None
        i += len(keys) if i < 0 and _omegaconf_version() >= (2, 4) else 0
        return i if 0 <= i < len(keys) else None
    if seg in keys:
        return seg
    return int(seg) if seg.lstrip("-").isdigit() and int(seg) in keys else None


def _omegaconf_version() -> tuple[int, ...]:
    """The installed OmegaConf's (major, minor): index forms follow it (2.3 has no ``${l.-1}``)."""
    from importlib.metadata import version

    return tuple(int(p) for p in version("omegaconf").split(".")[:2])


def _typed(parent: Any, key: Any, value: Any) -> Any:
    """A resolved string parsed as an override VALUE when the attrs field is not a str
    (``max_iter: int = "${oc.env:ITERS}"`` stores ``5``)."""
    if not isinstance(value, str) or _tree.kind_of(parent) != "attrs":
        return value
    import typing

    ann = field_types(type(parent)).get(key)
    if ann is None or ann is str or ann is Any or str in typing.get_args(ann):
        return value  # the field takes strings (Optional[str] too): keep the text
    try:
        return parse_value(value)
    except Exception:  # noqa: BLE001 - not a VALUE: let the type check report the string
        return value


def _parse_args(args: str) -> list[Any]:
    """Parse resolver arguments the way OmegaConf's grammar does, for the simple forms."""
    if not _RX.simple_arg.match(args):
        raise _Unhandled
    out: list[Any] = []
    for raw in args.split(","):
        s = raw.strip()
        if not s:
            raise _Unhandled
        low = s.lower()
        if low == "null":
            out.append(None)
        elif low in ("true", "false"):
            out.append(low == "true")
        elif _RX.int.match(s):
            out.append(int(s.replace("_", "")))
        elif _RX.float.match(s):
            out.append(float(s.replace("_", "")))
        else:
            out.append(s)
    return out


def _plain(obj: Any) -> Any:
    """Plain dict/list mirror of a config tree for OmegaConf (nodes and attrs become dicts)."""

    def fn(value: Any, path: tuple, t: _tree.Traversal) -> Any:
        kind = _tree.kind_of(value)
        if kind == "leaf":
            return value
        items = t.map_children(value, path)
        return [v for _, v in items] if kind in ("list", "tuple") else dict(items)

    return _tree.traverse(fn, obj)


def _register_now() -> None:
    """Register OmegaConf's ``now`` resolver so that it uses the current resolve's timestamp."""
    from datetime import datetime

    from omegaconf import OmegaConf

    def now(fmt: str) -> str:
        stamp = _CURRENT_NOW[-1] if _CURRENT_NOW else datetime.now()
        return stamp.strftime(fmt)

    # 2.4 names it register_resolver (register_new_resolver warns); in 2.3 that is the legacy API.
    new = _omegaconf_version() >= (2, 4)
    (OmegaConf.register_resolver if new else OmegaConf.register_new_resolver)("now", now,
                                                                              replace=True)
