"""``apply_overrides``: apply parsed overrides (DESIGN section 4) to a config, in place.

Order: group selections (``group=option``, ``group=[a,b]``, ``~group``) first, each in
command-line order, then every other override in order (last wins).

Checks, so typos never pass silently:
* a plain set needs an existing key, or (on a lazy node) a parameter of the target's signature;
* ``+key`` needs a missing key: a mapping entry, an unwritten parameter of the target, or any
  name when the target takes ``**kwargs``; attrs fields can never be added;
* values are converted and checked against the attrs annotation, the target's parameter
  annotation, or the type of the value they replace (bool/int/float/str/list/tuple; None accepts
  anything);
* ``key={...}`` merges into an existing mapping, node or attrs instance; ``key=[...]`` replaces;
* a glob segment matches the children where the rest of the path exists; zero matches is an
  error; the provenance text carries the match count.

Signature checks need the target imported: they are made when the target is a callable object
or its module is already in ``sys.modules``; otherwise unknown names are accepted and left to
``check()``.
"""

from __future__ import annotations

import fnmatch
from copy import deepcopy
from typing import Any, Iterable

from ._errors import ConfigError, ConfigTypeError, FrozenConfigError, OverrideError, RegistryError
from ._grammar import Override, is_glob, parse_override
from ._node import ConfigDict, LazyNode, suggest, target_name
from ._provenance import record
from ._registry import Registry, default_registry
from ._sig import checkable_target, params
from .tree import children, del_child, format_path, get_child, is_attrs, kind_of, set_child
from ._configclass import field_types
from ._types import check_value, item_annotations

__all__ = ["apply_overrides", "apply_one", "split_group_overrides", "is_group_override"]

_REPLACED_TYPES = (bool, int, float, str, list, tuple)


def apply_overrides(cfg: Any, overrides: Iterable[str | Override] = (),
                    registry: Registry | None = None) -> Any:
    """Applies overrides in place (group selections first) and returns ``cfg``.

    Raises:
        OverrideError: malformed or inapplicable override (quotes it, names the path, suggests).
        ConfigTypeError: a value whose type contradicts the field or parameter annotation.
    """
    reg = registry or default_registry()
    groups, rest = split_group_overrides(overrides, reg)
    for ov in groups:
        apply_group(cfg, ov, reg)
    for ov in rest:
        apply_one(cfg, ov)
    return cfg


def _parse_all(overrides: Iterable[str | Override]) -> list[Override]:
    if isinstance(overrides, str):
        raise OverrideError(f"overrides must be a list of strings, got the string {overrides!r}; "
                            f"write [{overrides!r}]")
    if not hasattr(overrides, "__iter__"):
        raise OverrideError(f"overrides must be a list of strings like 'key=value', got "
                            f"{type(overrides).__name__}")
    return [o if isinstance(o, Override) else parse_override(o) for o in overrides]


def is_group_override(ov: Override, registry: Registry) -> bool:
    """True when ``ov`` selects (or removes) a registered group's option.

    Raises:
        OverrideError: the override names a group but its value is not an option name.
    """
    if len(ov.keys) != 1 or ov.keys[0] not in registry:
        return False
    group, value = ov.keys[0], ov.value
    if ov.kind == "delete" or (ov.kind == "force" and value is None):
        return True  # ``~group`` / ``++group=null``: the group's package becomes None
    options = ", ".join(registry.options(group))
    if ov.kind in ("add", "force"):
        raise OverrideError(f"{ov.text!r}: {group!r} is a config group: select an option with "
                            f"{group}=OPTION (one of {options}; no '+' prefix)", group)
    if ov.kind != "set":
        return False
    if value is None:
        raise OverrideError(f"{ov.text!r}: a group choice cannot be null; select one of "
                            f"{options}, or remove the group with ~{group}", group)
    if isinstance(value, list) and not value:
        raise OverrideError(f"{ov.text!r}: select at least one option of {group!r} (one of "
                            f"{options}), e.g. {group}=[a,b]", group)
    if isinstance(value, str) or (isinstance(value, list) and all(
            isinstance(v, str) for v in value)):
        return True
    raise OverrideError(
        f"override {ov.text!r}: {group!r} is a config group, so its value names an option: one "
        f"of {options} (or a list of them), not {value!r}. To edit a value inside the group, "
        f"write {registry.package(group)}.KEY=VALUE", group)


def split_group_overrides(overrides: Iterable[str | Override],
                          registry: Registry) -> tuple[list[Override], list[Override]]:
    """Parses and splits overrides into (group selections, everything else), keeping order."""
    groups: list[Override] = []
    rest: list[Override] = []
    for ov in _parse_all(overrides):
        (groups if is_group_override(ov, registry) else rest).append(ov)
    return groups, rest


def apply_group(cfg: Any, ov: Override, registry: Registry) -> None:
    """Applies one group override on a built config (replaces the subtree with a fresh copy)."""
    group = ov.keys[0]
    try:
        if ov.kind in ("delete", "force"):
            _clear_group(cfg, group, ov, registry)
        else:
            registry.select(cfg, group, ov.value, source=ov.text)
    except RegistryError as exc:
        raise OverrideError(f"override {ov.text!r}: {exc}", group) from exc
    except ConfigTypeError:
        raise
    except FrozenConfigError as exc:
        raise OverrideError(f"override {ov.text!r}: {exc}", exc.path) from exc
    except ConfigError as exc:
        if isinstance(exc, OverrideError):
            raise
        raise OverrideError(f"override {ov.text!r}: {exc}", exc.path) from exc


def _clear_group(cfg: Any, group: str, ov: Override, registry: Registry) -> None:
    package = registry.package(group)
    if package == "_global_":
        raise OverrideError(f"{ov.text!r}: group {group!r} lands at the root ('_global_'); it "
                            f"cannot be removed, select another option instead", group)
    from .tree import parse_path

    keys = parse_path(package)
    parent = _walk(cfg, keys[:-1], ov)
    try:
        set_child(parent, keys[-1], None, ov.text, "override", path=format_path(keys[:-1]))
    except ConfigTypeError as exc:
        raise OverrideError(f"{ov.text!r}: {package!r} cannot be None ({exc}); select another "
                            f"option of {group!r} instead: {', '.join(registry.options(group))}",
                            package) from exc
    from ._provenance import _get_meta

    choices = _get_meta(cfg, "__lz_choices__")
    if choices:
        choices[group] = None


# ----------------------------------------------------------------------------- single override
def apply_one(cfg: Any, ov: Override | str) -> None:
    """Applies one non-group override (errors become OverrideError/ConfigTypeError)."""
    if isinstance(ov, str):
        ov = parse_override(ov)
    try:
        _apply(cfg, ov)
    except OverrideError:
        raise
    except ConfigTypeError as exc:
        if exc.message.startswith("override "):
            raise
        raise ConfigTypeError(f"override {ov.text!r}: {exc.message}", exc.path, exc.expected,
                              exc.value) from exc
    except ConfigError as exc:
        raise OverrideError(f"override {ov.text!r}: {exc}", exc.path) from exc


def _apply(cfg: Any, ov: Override) -> None:
    if any(is_glob(k) for k in ov.keys):
        targets = _expand(cfg, ov.keys, (), ov)
        if not targets:
            raise OverrideError(
                f"override {ov.text!r}: the glob matched nothing (no child of "
                f"{_glob_parent(ov.keys)!r} has {format_path(_after_glob(ov.keys))!r})",
                ov.path)
        source = f"{ov.text} ({len(targets)} match{'es' if len(targets) != 1 else ''})"
        for keys in targets:
            _apply_path(cfg, keys, ov, source, deepcopy(ov.value))
        return
    _apply_path(cfg, ov.keys, ov, ov.text, ov.value)


def _glob_parent(keys: tuple) -> str:
    for i, k in enumerate(keys):
        if is_glob(k):
            return format_path(keys[:i]) or "<root>"
    return format_path(keys)


def _after_glob(keys: tuple) -> tuple:
    for i, k in enumerate(keys):
        if is_glob(k):
            return keys[i + 1:]
    return ()


def _expand(obj: Any, keys: tuple, prefix: tuple, ov: Override) -> list[tuple]:
    """Concrete key paths matching a globbed path whose rest exists."""
    for i, key in enumerate(keys):
        if is_glob(key):
            try:
                container = _walk(obj, keys[:i], ov) if i else obj
            except OverrideError:
                return []
            out = []
            for child_key, _ in children(container):
                if isinstance(child_key, int) and kind_of(container) == "node":
                    continue  # globs match kwargs of nodes, not positional args
                if key == "*" or fnmatch.fnmatchcase(str(child_key), key):
                    out += _expand(obj, (*keys[:i], child_key, *keys[i + 1:]), prefix, ov)
            return out
    return [keys] if _target_exists(obj, keys, ov) else []


def _target_exists(cfg: Any, keys: tuple, ov: Override) -> bool:
    try:
        parent = _walk(cfg, keys[:-1], ov)
    except OverrideError:
        return False
    last = keys[-1]
    if _has(parent, last):
        return True
    if ov.kind in ("add", "force"):
        return kind_of(parent) in ("mapping", "node")
    return type(parent) is LazyNode and _param_status(parent, last) == "param"


def _walk(cfg: Any, keys: tuple, ov: Override, create: bool = False) -> Any:
    obj = cfg
    for i, key in enumerate(keys):
        try:
            obj = get_child(obj, key, path=format_path(keys[:i]))
        except AttributeError as exc:
            if create and isinstance(obj, dict):
                # '+a.new.key=V' creates the missing intermediate mappings (Hydra's behaviour)
                child = ConfigDict()
                _guard(lambda: set_child(obj, key, child, ov.text, "override",
                                         format_path(keys[:i])), ov)
                obj = child
                continue
            msg = str(exc)
            raise OverrideError(f"override {ov.text!r}: {msg}", format_path(keys[:i + 1])) from exc
        if obj is None and i < len(keys) - 1:
            raise OverrideError(f"override {ov.text!r}: {format_path(keys[:i + 1])!r} is None, "
                                f"so it has no {keys[i + 1]!r}", format_path(keys[:i + 1]))
    return obj


def _has(parent: Any, key: Any) -> bool:
    if isinstance(parent, dict):  # exact, but ``a.0`` also finds a str key "0"
        return key in parent or (type(key) is int and str(key) in parent)
    try:
        get_child(parent, key)
        return True
    except AttributeError:
        return False


def _param_status(node: LazyNode, name: Any) -> str:
    """"param", "var_kw" (accepted by **kwargs), "unknown" (cannot check) or "no"."""
    if not isinstance(name, str):
        return "no"
    target = checkable_target(node)
    if target is None:
        return "unknown"
    p = params(target)
    if p is None:
        return "unknown"
    if name in p.names:
        return "param"
    return "var_kw" if p.var_kw else "no"


def _param_names(node: LazyNode) -> list[str]:
    target = checkable_target(node)
    p = params(target) if target is not None else None
    names = list(node.__lz_kwargs__)
    if p is not None:
        names += [n for n in p.names if n not in names]
    return names


def _unknown_key(ov: Override, parent: Any, key: Any, path: str) -> OverrideError:
    k = kind_of(parent)
    if k == "node":
        status = _param_status(parent, key)
        cands = _param_names(parent)
        what = f"L({target_name(parent.__lz_target__)})"
        if status == "no":
            return OverrideError(
                f"override {ov.text!r}: {what} at {format_path(_parent_keys(path)) or '<root>'} "
                f"has no parameter {key!r}.{suggest(key, cands)} Valid: {', '.join(cands)}",
                path)
        if ov.kind == "delete":
            written = list(parent.__lz_kwargs__)
            return OverrideError(
                f"override {ov.text!r}: nothing to delete: {path!r} is not written on {what}."
                f"{suggest(key, written)} Written: "
                f"{', '.join(written) or 'none'}", path)
        return OverrideError(f"override {ov.text!r}: {path!r} is not set on {what}; add it with "
                             f"+{path}=...{suggest(key, cands)}", path)
    if k == "attrs":
        fields = [n for n, _ in children(parent)]
        return OverrideError(
            f"override {ov.text!r}: {type(parent).__name__} has no field {key!r} "
            f"({path!r}).{suggest(key, fields)} Fields: {', '.join(fields)}", path)
    if k == "mapping":
        keys = [str(x) for x in parent]
        hint = "" if ov.kind == "delete" else f". To add a new key use +{path}=..."
        return OverrideError(
            f"override {ov.text!r}: no key {path!r}.{suggest(key, keys)} Existing keys: "
            f"{', '.join(keys) or 'none'}{hint}", path)
    if k in ("list", "tuple"):
        return OverrideError(
            f"override {ov.text!r}: {path!r}: index {key!r} out of range (length "
            f"{len(parent)}); append with {format_path(_parent_keys(path))}+=VALUE", path)
    return OverrideError(f"override {ov.text!r}: no key {path!r}", path)


def _parent_keys(path: str) -> tuple:
    from .tree import parse_path

    return parse_path(path)[:-1]


def _apply_path(cfg: Any, keys: tuple, ov: Override, source: str, value: Any) -> None:
    ppath = format_path(keys[:-1])
    path = format_path(keys)
    parent = _walk(cfg, keys[:-1], ov, create=ov.kind in ("add", "force"))
    last = keys[-1]
    pkind = kind_of(parent)
    if pkind == "leaf":
        raise OverrideError(f"override {ov.text!r}: {ppath or '<root>'!r} is a "
                            f"{type(parent).__name__} value, not a config container", path)
    exists = _has(parent, last)
    if ov.kind == "delete":
        if not exists:
            raise _unknown_key(ov, parent, last, path)
        if pkind == "attrs":
            raise OverrideError(f"override {ov.text!r}: {path!r} is a field of "
                                f"{type(parent).__name__} and cannot be deleted; set it instead "
                                f"({path}=...)", path)
        if ov.has_value:
            current = get_child(parent, last)
            if current != value:
                raise OverrideError(f"override {ov.text!r}: {path!r} is {current!r}, not "
                                    f"{value!r}; nothing deleted", path)
        _guard(lambda: del_child(parent, last, source, ppath), ov)
        return
    if ov.kind == "set" and not exists:
        if not (pkind == "node" and _param_status(parent, last) in ("param", "unknown")):
            raise _unknown_key(ov, parent, last, path)
    if ov.kind in ("add", "force") and not exists:
        if pkind == "attrs":
            raise _unknown_key(ov, parent, last, path)
        if pkind in ("list", "tuple"):
            raise OverrideError(f"override {ov.text!r}: cannot add index {last!r} to a list; "
                                f"append with {format_path(keys[:-1])}+=VALUE", path)
        if pkind == "node" and _param_status(parent, last) == "no":
            raise _unknown_key(ov, parent, last, path)
    if ov.kind == "add" and exists:
        raise OverrideError(f"override {ov.text!r}: {path!r} already exists; set it with "
                            f"{path}=... (or ++{path}=... to add or set)", path)
    # a mapping or list inside a typed field takes only what the annotation allows
    pann = _ann_at(cfg, keys[:-1]) if pkind in ("mapping", "list") else None
    if ov.kind == "append":
        _append(parent, last, value, ov, source, path, ppath, pann)
        return
    old = get_child(parent, last) if exists and pkind == "list" else None
    value = _assign(parent, last, value, exists, ov, source, path, ppath, pann)
    if value is not _MERGED and pkind == "list" and len(keys) >= 2:
        _record_list_element(_walk(cfg, keys[:-2], ov), keys[-2], last, old, value, source)


_MERGED = object()


def _assign(parent: Any, key: Any, value: Any, exists: bool, ov: Override, source: str,
            path: str, ppath: str, pann: Any = None) -> Any:
    """``parent[key] = value`` by the override rules; returns the value set, or ``_MERGED``.

    A dict merges into an existing mapping, node or config instance (``key={...}``); anything
    else is checked against the annotation or the type it replaces, then set.
    """
    if exists and isinstance(value, dict):
        current = get_child(parent, key)
        if kind_of(current) in ("mapping", "node", "attrs"):
            _merge(current, value, ov, source, path, _child_ann(parent, key, pann))
            return _MERGED
    checked = _checked(parent, key, value, exists, path, pann)
    _guard(lambda: set_child(parent, key, checked, source, "override", ppath), ov)
    return checked


def _guard(fn: Any, ov: Override) -> None:
    try:
        fn()
    except FrozenConfigError as exc:
        raise OverrideError(f"override {ov.text!r}: {exc}", exc.path) from exc


def _child_ann(parent: Any, key: Any, pann: Any) -> Any:
    """The annotation of ``parent[key]`` (``pann``: the parent's own annotation); None: unknown."""
    k = kind_of(parent)
    if k == "attrs":
        return field_types(type(parent)).get(key)
    if k == "node":
        target = checkable_target(parent) if isinstance(key, str) else None
        p = params(target) if target is not None else None
        return p.hints.get(key) if p is not None else None
    return item_annotations(pann)[1] if k in ("mapping", "list") else None


def _ann_at(cfg: Any, keys: tuple) -> Any:
    """The annotation governing the value at ``keys`` (None when nothing types it)."""
    obj, ann = cfg, None
    for key in keys:
        ann = _child_ann(obj, key, ann)
        obj = get_child(obj, key)
    return ann


def _checked(parent: Any, key: Any, value: Any, exists: bool, path: str,
             pann: Any = None) -> Any:
    """Converts/checks ``value`` for ``parent[key]`` (attrs parents check on assignment)."""
    k = kind_of(parent)
    if k == "attrs":
        return value
    if k == "mapping" and pann is not None:
        kann = item_annotations(pann)[0]
        if kann is not None:
            check_value(key, kann, f"{path} (the key)")
    ann = _child_ann(parent, key, pann)
    if ann is not None:
        return check_value(value, ann, path)
    if exists:
        current = get_child(parent, key)
        t = type(current)
        if t in _REPLACED_TYPES and current is not None:
            return check_value(value, t, path)
    return value


def _append(parent: Any, key: Any, value: Any, ov: Override, source: str, path: str,
            ppath: str, pann: Any = None) -> None:
    try:
        current = get_child(parent, key)
    except AttributeError:
        raise _unknown_key(ov, parent, key, path) from None
    if not isinstance(current, (list, tuple)):
        raise OverrideError(f"override {ov.text!r}: {path!r} is a {type(current).__name__}, "
                            f"not a list; '+=' appends to lists", path)
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    new = [*current, *items]
    if isinstance(current, tuple):
        new_value: Any = tuple(new)
    else:
        new_value = new
    new_value = _checked(parent, key, new_value, True, path, pann)
    _guard(lambda: set_child(parent, key, new_value, source, "override", ppath), ov)


def _merge(current: Any, value: dict, ov: Override, source: str, path: str,
           ann: Any = None) -> None:
    """Merges a parsed dict into a mapping, node or attrs instance (recursively)."""
    ck = kind_of(current)
    for key, sub in value.items():
        sub_path = format_path((*_split(path), key))
        exists = _has(current, key)
        if not exists:
            if ck == "attrs":
                raise _unknown_key(ov, current, key, sub_path)
            if ck == "node" and _param_status(current, key) == "no":
                raise _unknown_key(ov, current, key, sub_path)
        _assign(current, key, sub, exists, ov, source, sub_path, path, ann)


def _split(path: str) -> tuple:
    from .tree import parse_path

    return parse_path(path)


# provenance for list elements set by override lives on the list's parent (see _provenance)
def _record_list_element(grandparent: Any, list_key: Any, index: int, old: Any, new: Any,
                         source: str) -> None:
    record(grandparent, f"{list_key}.{index}", old, True, new, source, "override")


__all__ += ["apply_group"]
_ = (is_attrs,)
