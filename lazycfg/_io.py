"""Save/load configs as safe YAML (``yaml.safe_load`` reads it), fingerprints, ``to_py``.

Layout: ``__lazycfg__: {version: 1}``, ``choices``, ``config`` (the tree: a lazy node is a mapping
with ``_target_`` and optional ``_args_``/``_recursive_``, an attrs instance has ``_class_``, a
shared container is a YAML anchor), then ``sites`` and ``history`` as JSON-lines blocks. Tagged
values: ``__tuple__``, ``__placeholder__``, ``__object__`` (anything importable by dotted name),
``__partial__`` (+ ``args``/``keywords``), ``__lazyref__`` and ``__mapping__`` (a mapping whose
keys look like tags). Anything else is a ``SerializationError`` naming the path. ``to_py``
writes an experiment file that ``load`` turns into an equal config.
"""

from __future__ import annotations

import enum
import functools
import math
import os
from typing import Any

from . import _node as P
from . import tree as _tree
from ._configclass import field_types
from ._errors import ConfigError, ConfigFileNotFoundError, SerializationError
from ._node import (
    NAN,
    PLACEHOLDER,
    ConfigDict,
    ConfigPartial,
    LazyRef,
    _init_meta,
    is_trusted,
    locate,
    new_node,
    target_name,
)
from ._types import check_value

FORMAT_KEY = "__lazycfg__"
VERSION = 1
_KEY_TYPES = (str, int, float, bool, type(None))  # also the values YAML writes plainly
_FIX = "use a dotted path string or L(...) instead"


def _yaml():
    import yaml  # lazy: `import lazycfg` must not pull yaml in

    return yaml


@functools.cache
def _dumper() -> Any:
    """A subclass of the (C) safe dumper writing ``_Block`` as ``|`` and flow types inline."""
    yaml = _yaml()
    dumper = type("LazycfgDumper", (getattr(yaml, "CSafeDumper", yaml.SafeDumper),), {})
    dumper.add_representer(_Block, lambda d, text: d.represent_scalar(
        "tag:yaml.org,2002:str", str(text), style="|"))
    dumper.add_representer(_FlowList, lambda d, seq: d.represent_sequence(
        "tag:yaml.org,2002:seq", seq, flow_style=True))
    dumper.add_representer(_FlowDict, lambda d, m: d.represent_mapping(
        "tag:yaml.org,2002:map", m, flow_style=True))
    return dumper


def _loader() -> Any:
    return getattr(_yaml(), "CSafeLoader", _yaml().SafeLoader)


# ----------------------------------------------------------------------------- encoding
def _dotted(obj: Any) -> str | None:
    """The dotted import name under which ``obj`` itself can be found, or None."""
    if isinstance(obj, enum.Enum):
        name = f"{type(obj).__module__}.{type(obj).__qualname__}.{obj.name}"
    elif isinstance(obj, type) or callable(obj) and hasattr(obj, "__qualname__"):
        name = target_name(obj)
    else:
        name = str(obj)  # torch.float32, torch.preserve_format, ...
    if "<" in name or " " in name or "." not in name or name.startswith("__main__."):
        return None
    try:
        return name if locate(name) is obj else None
    except Exception:  # noqa: BLE001 - not importable under that name: not serializable
        return None


def _leaf_name(value: Any, path: tuple, fail: Any) -> str:
    """The dotted name a leaf is saved under (a partial's: its function's), else ``fail``."""
    obj = value.func if isinstance(value, functools.partial) else value
    name = _dotted(obj)
    if name is None:
        raise fail(path, value, "the partial's function is not importable" if obj is not value
                   else "a lambda or local function" if getattr(obj, "__name__", "") ==
                   "<lambda>" or "<locals>" in getattr(obj, "__qualname__", "") else
                   "defined in __main__ (a script), which a later process cannot import; move "
                   "it into an importable module" if getattr(obj, "__module__", "") ==
                   "__main__" else "a live object, not a config value")
    return name


def _target(node: Any, path: tuple, fail: Any) -> str:
    target = node.__lz_target__
    name = str(target) if isinstance(target, (str, LazyRef)) else _dotted(target)
    if name is None:
        raise fail((*path, "_target_"), target, "the target is not importable by a dotted name "
                   "(lambda, local function or __main__ object)")
    return name


def _class_name(obj: Any, path: tuple, fail: Any) -> str:
    name = _dotted(type(obj))
    if name is None:
        raise fail(path, obj, f"attrs class {type(obj).__qualname__} is not importable by a "
                   "dotted name (define it at module level in an importable module)")
    return name


class _Encoder:
    """Turns a config tree into YAML-ready data; shared containers become one object."""

    def __init__(self) -> None:
        self.sites: list[list] = []  # [container path, site]
        self.history: list[list] = []  # [container path, key, records]

    def fail(self, path: tuple, value: Any, why: str) -> SerializationError:
        where = _tree.format_path(path) or "<root>"
        return SerializationError(
            f"cannot save {where}: {why} ({type(value).__name__}: {value!r:.80}); {_FIX}", where)

    def encode(self, value: Any, path: tuple, t: _tree.Traversal) -> Any:
        """The traversal function: YAML data for ``value`` (its children already encoded)."""
        if type(value) in _KEY_TYPES:
            return value
        if isinstance(value, _KEY_TYPES) and not isinstance(value, enum.Enum):
            # numpy scalars and other subclasses: store the plain value
            return next(b for b in (bool, int, float, str) if isinstance(value, b))(value)
        kind = _tree.kind_of(value)
        if kind == "leaf":
            return self.encode_leaf(value, path, t)
        items = t.map_children(value, path)
        if kind in ("list", "tuple"):
            seq = _flow([v for _, v in items])
            return _flow({"__tuple__": seq}) if kind == "tuple" else seq
        if kind == "attrs":
            return {"_class_": _class_name(value, path, self.fail), **dict(items)}
        if kind == "node":
            out: dict = {"_target_": _target(value, path, self.fail)}
            args = [v for k, v in items if isinstance(k, int)]
            if args:
                out["_args_"] = args
            if not value.__lz_recursive__:
                out["_recursive_"] = False
            out.update((k, v) for k, v in items if not isinstance(k, int))
            return out
        for key, _ in items:
            if not isinstance(key, _KEY_TYPES):
                raise self.fail((*path, key), key, "mapping keys must be str, int, float, bool "
                                "or None")
        out = dict(items)
        return {"__mapping__": out} if any(_reserved(k) for k in out) else out

    def encode_leaf(self, value: Any, path: tuple, t: _tree.Traversal) -> Any:
        if value is PLACEHOLDER:
            return _FlowDict(__placeholder__=True)
        if isinstance(value, LazyRef):
            return _FlowDict(__lazyref__=str(value))
        if isinstance(value, bytes):
            return value
        name = _leaf_name(value, path, self.fail)
        if not isinstance(value, functools.partial):
            return _FlowDict(__object__=name)
        out: dict = {"__partial__": name}
        if value.args:
            out["args"] = [t(v, (*path, i)) for i, v in enumerate(value.args)]
        if value.keywords:
            out["keywords"] = {k: t(v, (*path, k)) for k, v in value.keywords.items()}
        return out

    def note_meta(self, container: Any, path: tuple, parent_site: str) -> str:
        """Record site and history of one container; returns its site for its children."""
        where = _tree.format_path(path) or "."
        site = P.get_site(container) or parent_site
        if site != parent_site:  # most nested nodes share their parent's line: not repeated
            self.sites.append([where, site])
        hist = P.histories(container)
        if hist:
            kids = dict(_tree.children(container))
            self.history += [[where, key, [self.encode_record(r, kids.get(key, P.DELETED))
                                           for r in recs]]
                             for key, recs in hist.items() if isinstance(key, _KEY_TYPES)]
        return site

    def encode_record(self, rec: P.Record, current: Any) -> list:
        """``[source, kind]`` (value: what the key holds now), ``[source, kind, value]``,
        ``[source, kind, {"repr": text}]`` or ``[source, kind, {"deleted": true}]``."""
        value = rec.value
        if value is current and type(value) not in _KEY_TYPES:
            return [rec.source, rec.kind]  # the value the key holds now: restored as that object
        if value is P.DELETED:
            enc: Any = {"deleted": True}
        elif type(value) in _KEY_TYPES:
            enc = value
        else:
            enc = {"repr": P._short_repr(value)}  # an old, replaced value: a summary
        return [rec.source, rec.kind, enc]


class _FlowList(list):
    """A list of plain values, written on one line (``[0.9, 0.999]``)."""


class _FlowDict(dict):
    """A small tagged value, written on one line (``{__tuple__: [704, 1280]}``)."""


def _flow(data: Any) -> Any:
    """Mark a list or tag mapping holding only plain values for one-line YAML."""
    values = data.values() if isinstance(data, dict) else data
    if all(type(v) in _KEY_TYPES or type(v) in (_FlowList, _FlowDict) for v in values):
        return _FlowDict(data) if isinstance(data, dict) else _FlowList(data)
    return data


def _reserved(key: Any) -> bool:
    return isinstance(key, str) and (key in ("_target_", "_class_") or
                                     key.startswith("__") and key.endswith("__"))


def to_data(cfg: Any, *, meta: bool = True) -> dict:
    """The YAML-ready document for ``cfg`` (``meta``: include choices, sites and history)."""
    enc = _Encoder()
    doc: dict = {FORMAT_KEY: _FlowDict(version=VERSION)}
    choices = P.get_choices(cfg) if meta else {}
    if choices:
        doc["choices"] = {g: _FlowList(o) if isinstance(o, list) else o
                          for g, o in choices.items()}
    doc["config"] = _tree.traverse(enc.encode, cfg)
    if meta:
        # After the whole tree: a record's value that is in the tree becomes an alias of it.
        site_of: dict[tuple, str] = {}
        for path, obj in _tree.walk(cfg):
            if _tree.kind_of(obj) != "leaf":
                site_of[path] = enc.note_meta(obj, path, site_of.get(path[:-1], ""))
        if enc.sites:
            doc["sites"] = _json_lines(enc.sites)
        if enc.history:  # one JSON line per [container, key, records]: one YAML scalar is fast
            doc["history"] = _json_lines(enc.history)
    return doc


class _Block(str):
    """A string YAML writes as a literal block (``|``)."""


def _json_lines(rows: Any) -> _Block:
    import json

    return _Block("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def dumps(cfg: Any, *, history: bool = True) -> str:
    """Return the YAML text ``save`` would write (``history``: with provenance and choices)."""
    return _yaml().dump(to_data(cfg, meta=history), Dumper=_dumper(), sort_keys=False,
                        allow_unicode=True, default_flow_style=False, width=100)


def save(cfg: Any, path: str | os.PathLike) -> None:
    """Write ``cfg`` atomically as YAML that ``load`` restores (a SerializationError naming the
    path of a value that cannot be written losslessly)."""
    text = dumps(cfg)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)  # never leave a half-written config.yaml behind


def fingerprint(cfg: Any) -> str:
    """Stable sha256 of the YAML of ``cfg`` without history (equal on ranks: equal configs)."""
    import hashlib  # lazy: loading OpenSSL is not free and only fingerprints need it

    return hashlib.sha256(dumps(cfg, history=False).encode()).hexdigest()


# ----------------------------------------------------------------------------- decoding
_TAG_SHAPES = {"__tuple__": list, "__mapping__": dict, "__placeholder__": bool, "__lazyref__": str,
               "__object__": str, "__partial__": str}
_TAG_EXTRAS = {"__partial__": {"args": list, "keywords": dict}}
_NODE_SLOTS = {"_target_": str, "_args_": list, "_recursive_": bool}


class _Decoder:
    """Rebuilds a config tree from YAML data (an alias gives one shared object); every shape is
    checked, and only trusted packages are imported (``lazycfg.trust``)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.memo: dict[int, Any] = {}
        self.active: set[int] = set()  # containers being decoded: an alias to one is a cycle

    def fail(self, path: tuple, msg: str) -> SerializationError:
        where = _tree.format_path(path) or "<root>"
        return SerializationError(f"{self.source}: cannot load {where}: {msg}", where)

    def need(self, ok: bool, path: tuple, msg: str) -> None:
        if not ok:
            raise self.fail(path, msg + "; was the file edited by hand? `lazycfg.save` writes "
                            "files this loader reads")

    def decode(self, data: Any, path: tuple) -> Any:
        if type(data) in _KEY_TYPES or isinstance(data, bytes):
            return NAN if type(data) is float and data != data else data
        oid = id(data)
        if oid in self.memo:
            self.need(oid not in self.active, path, "a YAML alias refers to a value that "
                      "contains it (a recursive anchor)")
            return self.memo[oid]
        self.need(isinstance(data, (list, dict)), path, f"unexpected YAML value {data!r:.60}")
        self.active.add(oid)
        if isinstance(data, list):
            out: Any = []
            self.memo[oid] = out
            out.extend(self.decode(v, (*path, i)) for i, v in enumerate(data))
        elif "_target_" in data:
            out = self.decode_node(data, path)
        elif "_class_" in data:
            out = self.decode_attrs(data, path)
        elif data and _reserved(next(iter(data))):
            out = self.memo[oid] = self.decode_tagged(next(iter(data)), data, path)
        else:
            out = self.decode_mapping(data, data, path)
        self.active.discard(oid)
        return out

    def decode_mapping(self, data: dict, items: dict, path: tuple) -> ConfigDict:
        out = ConfigDict.__new__(ConfigDict)
        _init_meta(out, "")
        self.memo[id(data)] = out
        for key, value in items.items():
            self.need(isinstance(key, _KEY_TYPES), path, f"mapping key {key!r:.40} is not a "
                      "str, int, float, bool or None")
            dict.__setitem__(out, key, self.decode(value, (*path, key)))
        return out

    def decode_node(self, data: dict, path: tuple) -> Any:
        for slot, kind in _NODE_SLOTS.items():
            self.need(slot not in data or isinstance(data[slot], kind), (*path, slot),
                      f"{slot} must be a {kind.__name__}, got {data.get(slot)!r:.40}")
        target = data["_target_"]
        self.need(_is_dotted(target), (*path, "_target_"), f"{target!r} is not a dotted name")
        node = new_node(target, [], {}, data.get("_recursive_", True), "")
        self.memo[id(data)] = node
        node.__lz_args__.extend(self.decode(v, (*path, i))
                                for i, v in enumerate(data.get("_args_") or []))
        for key, value in data.items():
            if key not in _NODE_SLOTS:
                self.need(isinstance(key, str), path, f"argument name {key!r} is not a str")
                node.__lz_kwargs__[key] = self.decode(value, (*path, key))
        return node

    def decode_attrs(self, data: dict, path: tuple) -> Any:
        name = data["_class_"]
        self.need(_is_dotted(name), (*path, "_class_"), f"_class_ {name!r:.60} is not a "
                  "dotted class name")
        cls = self.trusted(name, path)
        self.need(isinstance(cls, type) and hasattr(cls, "__attrs_attrs__"), path,
                  f"{name!r} is not an attrs class")
        obj = cls.__new__(cls)  # no __init__: values are restored exactly, not re-validated
        self.memo[id(data)] = obj
        types = field_types(cls)
        unknown = [k for k in data if k != "_class_" and k not in types]
        if unknown:
            raise self.fail(path, f"{name} has no field(s) {', '.join(map(repr, unknown))}: the "
                            "class changed since the file was saved")
        import attrs

        for a in cls.__attrs_attrs__:
            fname = a.name
            if fname in data:
                value = check_value(self.decode(data[fname], (*path, fname)), types[fname],
                                    f"{self.source}: {_tree.format_path((*path, fname))}")
            elif a.default is attrs.NOTHING:
                raise self.fail((*path, fname), f"required field {fname!r} of {name} is missing")
            elif isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
                value = a.default.factory(obj) if a.default.takes_self else a.default.factory()
            else:
                value = a.default
            object.__setattr__(obj, fname, value)
        return obj

    def decode_tagged(self, tag: str, data: dict, path: tuple) -> Any:
        value = data[tag]
        if tag not in _TAG_SHAPES:
            raise self.fail(path, f"unknown tag {tag!r} (written by a newer lazycfg?)")
        extras = _TAG_EXTRAS.get(tag, {})
        self.need(isinstance(value, _TAG_SHAPES[tag]), path, f"{tag} must hold a "
                  f"{_TAG_SHAPES[tag].__name__}, got {value!r:.40}")
        for key, item in data.items():
            self.need(key == tag or (key in extras and isinstance(item, extras[key])), path,
                      f"unexpected entry {key!r} beside {tag}")
        if tag == "__tuple__":
            return tuple(self.decode(v, (*path, i)) for i, v in enumerate(value))
        if tag == "__mapping__":
            return self.decode_mapping(data, value, path)
        if tag == "__placeholder__":
            return PLACEHOLDER
        self.need(_is_dotted(value), path, f"{value!r} is not a dotted name")
        if tag == "__lazyref__":
            return LazyRef(value)
        obj = self.trusted(value, path)
        if tag == "__object__":
            return obj
        args = [self.decode(v, (*path, i)) for i, v in enumerate(data.get("args") or [])]
        kw = {k: self.decode(v, (*path, k)) for k, v in (data.get("keywords") or {}).items()}
        self.need(callable(obj) and all(isinstance(k, str) for k in kw), path,
                  f"{value!r} with these keywords is not a functools.partial")
        return ConfigPartial(obj, *args, **kw)  # equal by content, like wrap() makes it

    def trusted(self, name: str, path: tuple) -> Any:
        """Imports ``name`` only from a trusted package (loading never runs other code)."""
        top = name.split(".", 1)[0]
        if not is_trusted(top):
            raise self.fail(path, f"refusing to import {name!r}: package {top!r} is not "
                            "trusted (loading a config file imports only packages that "
                            "registered config classes or options, and the allow-list). If you "
                            f"trust it: lazycfg.trust({top!r}) or LAZYCFG_TRUST={top}")
        try:
            return locate(name)
        except ConfigError as e:
            raise self.fail(path, f"{name!r} does not import ({e})") from e


def _is_dotted(name: Any) -> bool:
    return isinstance(name, str) and bool(name) and all(
        p.isidentifier() for p in name.split("."))


class _Summary:
    """A replaced value in a restored history, kept as the text it was saved as."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return self.text == (other.text if isinstance(other, _Summary) else P._short_repr(other))

    __hash__ = None  # type: ignore[assignment]


def from_data(doc: Any, source: str = "<string>") -> Any:
    """Rebuild a config from a document produced by ``to_data`` (YAML-loaded)."""
    if not isinstance(doc, dict) or FORMAT_KEY not in doc:
        raise ConfigError(
            f"{source} is not a lazycfg config file: it has no '{FORMAT_KEY}' header. "
            "Only files written by lazycfg.save (e.g. a run's config.yaml) can be loaded; "
            "write experiments as Python files.", None)
    version = doc[FORMAT_KEY].get("version") if isinstance(doc[FORMAT_KEY], dict) else None
    if version != VERSION:
        raise ConfigError(f"{source}: unsupported lazycfg file version {version!r} (this "
                          f"lazycfg reads version {VERSION}); upgrade lazycfg", None)
    if "config" not in doc:
        raise SerializationError(f"{source}: the file has no 'config:' entry (the config "
                                 "itself); was it edited by hand?", None)
    cfg = _Decoder(source).decode(doc["config"], ())
    if _tree.kind_of(cfg) == "leaf":
        raise SerializationError(f"{source}: 'config:' holds a {type(cfg).__name__}, not a "
                                 "config (a mapping, lazy node, config class or list)", None)
    sites = _parse_lines(doc.get("sites") or "", "sites", source, [str, str])
    rows = _parse_lines(doc.get("history") or "", "history", source, [str, object, list])
    if sites or rows:
        own = dict(sites)
        index: dict[str, Any] = {}
        site_of: dict[tuple, str] = {}
        for p, obj in _tree.walk(cfg):
            if _tree.kind_of(obj) == "leaf":
                continue
            where = _tree.format_path(p) or "."
            index[where] = obj
            # a container without its own entry was created on its parent's line
            site = site_of[p] = own.get(where) or site_of.get(p[:-1], "")
            if site:
                P.set_site(obj, site)
        for where, key, recs in rows:
            container = index.get(where)
            if container is None:
                continue
            if not all(isinstance(r, list) and len(r) in (2, 3) and isinstance(r[0], str)
                       and isinstance(r[1], str) for r in recs):
                raise SerializationError(f"{source}: history of {where} {key!r}: each record is "
                                         "[source, kind] or [source, kind, value]", where)
            current = dict(_tree.children(container)).get(key)
            P.set_history(container, key, [P.Record(
                current if len(r) == 2 else _record_value(r[2]), r[0], r[1]) for r in recs])
    choices = doc.get("choices")
    if choices is not None:
        if not isinstance(choices, dict) or not all(
                isinstance(g, str) and (o is None or isinstance(o, str) or isinstance(o, list)
                                        and all(isinstance(x, str) for x in o))
                for g, o in choices.items()):
            raise SerializationError(f"{source}: 'choices' must map group names to an option "
                                     f"name or a list of them, got {choices!r:.60}", None)
        P.set_choices(cfg, choices)
    return cfg


def _parse_lines(block: Any, what: str, source: str, shape: list) -> list:
    """JSON lines of ``block``, each a list of ``len(shape)`` items of those types."""
    import json

    if not isinstance(block, str):
        raise SerializationError(f"{source}: '{what}' must be the JSON-lines block "
                                 "lazycfg.save writes", None)
    try:
        rows = [json.loads(line) for line in block.splitlines() if line.strip()]
    except ValueError as e:
        raise SerializationError(f"{source}: unreadable {what} line: {e}", None) from e
    for row in rows:
        if not (isinstance(row, list) and len(row) == len(shape) and all(
                isinstance(x, t) for x, t in zip(row, shape))):
            raise SerializationError(f"{source}: malformed {what} line {row!r:.80} (expected "
                                     f"{len(shape)} items: " + ", ".join(t.__name__ for t in
                                                                        shape) + ")", None)
    return rows


def _record_value(enc: Any) -> Any:
    if not isinstance(enc, dict):
        return enc
    return P.DELETED if enc.get("deleted") else _Summary(str(enc.get("repr", "")))


def loads(text: str, *, source: str = "<string>") -> Any:
    """Restore a config from the text of ``dumps`` (a SerializationError naming ``source``)."""
    yaml = _yaml()
    try:
        doc = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        what = " ".join(str(x) for x in (getattr(e, "context", None), getattr(e, "problem", None))
                        if x) or str(e)
        raise SerializationError(f"{where}: not valid YAML ({what}); was the file edited by "
                                 f"hand? `lazycfg.save` writes files this loader reads",
                                 None) from e
    except (ValueError, TypeError, OverflowError) as e:  # a tag whose text does not fit (!!int x)
        raise SerializationError(f"{source}: a YAML value does not fit its tag ({e})",
                                 None) from e
    return from_data(doc, source)


def load_yaml(path: str | os.PathLike) -> Any:
    """Restore a config from a file written by ``save``."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigFileNotFoundError(f"config file not found: {os.fspath(path)!r}",
                                      None) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise SerializationError(f"{os.fspath(path)}:{line}: not UTF-8 text (byte "
                                 f"{raw[e.start]:#x}); `lazycfg.save` writes UTF-8", None) from e
    return loads(text, source=os.fspath(path))


# ----------------------------------------------------------------------------- to_py
_WIDTH = 96


class _Writer:
    """Python source for a config, on the traversal engine: a container reachable twice is
    written once, as a variable (the engine's memo hands its name to the later places)."""

    def __init__(self, cfg: Any) -> None:
        self.imports: dict[str, str] = {}  # dotted name -> local name
        self.used = {"L", "PLACEHOLDER", "LazyRef", "ConfigDict", "functools", "config"}
        self.defs: list[str] = []
        refs: dict[int, int] = {}
        for _, obj in _tree.walk(cfg):
            for _, child in _tree.children(obj):
                refs[id(child)] = refs.get(id(child), 0) + 1
        self.shared = {i for i, n in refs.items() if n > 1}

    def fail(self, path: tuple, value: Any, why: str) -> SerializationError:
        where = _tree.format_path(path) or "<root>"
        return SerializationError(
            f"cannot write {where} as Python: {why} ({value!r:.80}); {_FIX}", where)

    def local(self, dotted: str, base: str | None = None) -> str:
        """A free local name for an import (``base``: a variable name instead)."""
        if base is None and dotted in self.imports:
            return self.imports[dotted]
        stem = base or dotted.rsplit(".", 1)[-1]
        name, i = stem, 1
        while name in self.used or not name.isidentifier():
            name, i = f"{stem}_{i}", i + 1
        self.used.add(name)
        if base is None:
            self.imports[dotted] = name
        return name

    def render(self, value: Any, path: tuple, t: _tree.Traversal) -> str:
        kind = _tree.kind_of(value)
        if kind == "leaf":
            return self.leaf(value, path, t)
        body = self.container(value, kind, path, t)
        if kind == "tuple" or id(value) not in self.shared:
            return body
        stem = target_name(value.__lz_target__).rsplit(".", 1)[-1] if kind == "node" else "shared"
        name = self.local("", f"_{stem.lower()}")
        self.defs.append(f"{name} = {body}")
        return name

    def container(self, value: Any, kind: str, path: tuple, t: _tree.Traversal) -> str:
        if kind == "attrs":
            return self.attrs(value, path, t)
        items = t.map_children(value, path)
        if kind == "list":
            return _seq("[", "]", [v for _, v in items], path)
        if kind == "tuple":
            return f"({items[0][1]},)" if len(items) == 1 else _seq("(", ")", [
                v for _, v in items], path)
        if kind == "mapping":
            rows = [f"{self.key(k, path)}: {v}" for k, v in items]
            # a dict literal is copied wherever it is placed: one that must stay one object
            # (shared, or the root) is built as a ConfigDict
            if id(value) in self.shared or not path:
                self.imports["lazycfg.ConfigDict"] = "ConfigDict"
                return _seq("ConfigDict({", "})", rows, path)
            return _seq("{", "}", rows, path)
        args = [v if isinstance(k, int) else _kwarg(k, v) for k, v in items]
        if not value.__lz_recursive__:
            args.append("_recursive_=False")
        return _seq(f"L({_target(value, path, self.fail)!r})(", ")", args, path)

    def attrs(self, value: Any, path: tuple, t: _tree.Traversal) -> str:
        cls = type(value)
        items = []
        for a in cls.__attrs_attrs__:
            current = getattr(value, a.name)
            if not _differs_from_default(a, current):
                continue
            if not a.init:
                raise self.fail((*path, a.name), current, "a non-init field differs from "
                                "its default and cannot be passed to the constructor")
            arg = getattr(a, "alias", None) or a.name.lstrip("_")
            items.append(_kwarg(arg, t(current, (*path, a.name))))
        return _seq(f"{self.local(_class_name(value, path, self.fail))}(", ")", items, path)

    def key(self, key: Any, path: tuple) -> str:
        if isinstance(key, float):
            return self.leaf(key, path, None)
        if isinstance(key, _KEY_TYPES):
            return repr(key)
        raise self.fail(path, key, "mapping keys must be str, int, float, bool or None")

    def leaf(self, value: Any, path: tuple, t: Any) -> str:
        if isinstance(value, float):
            return f"float({str(value)!r})" if not math.isfinite(value) else repr(float(value))
        if value is None or isinstance(value, (bool, int, str, bytes)) and not isinstance(
                value, enum.Enum):
            return repr(value)
        if value is PLACEHOLDER:
            return "PLACEHOLDER"
        if isinstance(value, LazyRef):
            self.imports["lazycfg.LazyRef"] = "LazyRef"
            return f"LazyRef({str(value)!r})"
        dotted = _leaf_name(value, path, self.fail)
        if isinstance(value, functools.partial):
            self.imports["functools"] = "functools"
            parts = [self.local(dotted), *(t(v, (*path, i)) for i, v in enumerate(value.args)),
                     *(_kwarg(k, t(v, (*path, k))) for k, v in value.keywords.items())]
            return f"functools.partial({', '.join(parts)})"
        if isinstance(value, enum.Enum):
            return f"{self.local(dotted.rsplit('.', 1)[0])}.{value.name}"
        if not isinstance(value, type) and not callable(value):
            module, attr = dotted.rsplit(".", 1)  # torch.float32 & co: module.attribute
            self.imports["import " + module] = module
            self.used.add(module.split(".")[0])
            return f"{module}.{attr}"
        return self.local(dotted)


def _kwarg(name: str, rendered: str) -> str:
    return f"{name}={rendered}" if name.isidentifier() else f"**{{{name!r}: {rendered}}}"


def _seq(open_: str, close: str, items: list[str], path: tuple) -> str:
    """``items`` on one line when they fit, else one per line (nested lines indented)."""
    one = open_ + ", ".join(items) + close
    if len(one) + 4 * len(path) <= _WIDTH and "\n" not in one:
        return one
    return open_ + "\n" + "".join("    " + it.replace("\n", "\n    ") + ",\n"
                                  for it in items) + close


def _differs_from_default(a: Any, current: Any) -> bool:
    import attrs

    default = a.default
    if default is attrs.NOTHING:
        return True
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            return True
        default = default.factory()
    try:
        return not (type(default) is type(current) and default == current)
    except Exception:  # noqa: BLE001 - values that refuse comparison are written out
        return True


def to_py(cfg: Any) -> str:
    """Python source that ``load`` turns into an equal config (a SerializationError naming the
    path of a value without a Python spelling)."""
    w = _Writer(cfg)
    body = _tree.traverse(w.render, cfg)
    lazy = ["L"] + [n for n in ("PLACEHOLDER", "LazyRef", "ConfigDict")
                    if n == "PLACEHOLDER" and n in body + "".join(w.defs)
                    or f"lazycfg.{n}" in w.imports]
    lines = ['"""Config written by lazycfg.to_py; `lazycfg.load` of this file returns `config`."""',
             ""]
    lines += sorted(f"import {v}" for k, v in w.imports.items() if k.startswith("import ")
                    or k == "functools")
    lines.append(f"from lazycfg import {', '.join(lazy)}")
    for dotted, local in sorted(w.imports.items()):
        module, _, attr = dotted.rpartition(".")
        if module and not dotted.startswith("import ") and local not in lazy:
            lines.append(f"from {module} import {attr}" + (f" as {local}" if local != attr
                                                            else ""))
    choices = P.get_choices(cfg)
    if choices:
        lines += ["", f"# group choices when saved: {choices!r}"]
    lines += ["", *w.defs, *([""] if w.defs else []), f"config = {body}"]
    return "\n".join(lines) + "\n"
