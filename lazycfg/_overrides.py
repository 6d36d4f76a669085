"""``apply_overrides`` (DESIGN section 4) and the registry of config groups.

Group selections (``group=option``, ``group=[a,b]``, ``~group``) apply first, then every other
override in order. A plain set needs an existing key or a parameter of the node's target; ``+key``
a missing one; values are checked against the field or parameter annotation (or the type of the
value they replace); ``key={...}`` merges; a glob must match. Signatures are checked only when the
target is already imported; otherwise ``check()`` reports unknown names.

A group (``optimizer``) holds named options (lazy nodes, mappings or config instances), each with
a *package*: the config path where it lands (``"_global_"``: a mapping of root paths). ``select``
puts a fresh copy there, remembers the choice on the root and records ``group=name``. While
``load`` runs, command-line pins override every ``select`` of their group.
"""

from __future__ import annotations

import contextvars
import fnmatch
from collections import namedtuple
from collections.abc import Iterable, Iterator
from copy import deepcopy
from typing import Any

from ._configclass import field_types
from ._errors import ConfigError, ConfigTypeError, FrozenConfigError, OverrideError, RegistryError
from ._grammar import Override, parse_override
from ._node import (
    ConfigDict,
    LazyNode,
    _note_choice,
    _safe_eq,
    get_choices,
    record,
    suggest,
    target_name,
    trust,
)
from ._types import check_value, checkable_target, item_annotations, params
from .tree import (
    children,
    del_child,
    format_path,
    get_child,
    is_glob,
    join_path,
    kind_of,
    parse_path,
    set_child,
    walk,
)

# ----------------------------------------------------------------------------- registry
_Option = namedtuple("_Option", "node package")


class Pins:
    """Group choices pinned from the command line for one registry (see ``load``)."""

    def __init__(self, registry: Registry, pins: dict[str, Override]) -> None:
        self.registry = registry
        self.choices = {group: ov.value for group, ov in pins.items()}
        self.texts = {group: ov.text for group, ov in pins.items()}
        self.used: set[str] = set()


_PINS: contextvars.ContextVar[Pins | None] = contextvars.ContextVar("lazycfg_pins", default=None)


class Registry:
    """Groups of named config options (see the module docstring)."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, _Option]] = {}

    def __repr__(self) -> str:
        return f"Registry({', '.join(f'{g}[{len(o)}]' for g, o in self._groups.items())})"

    def register(self, group: str, name: str, node: Any, package: str | None = None,
                 replace: bool = False) -> None:
        """Registers a copy of ``node`` as option ``name`` of ``group``, landing at ``package``
        (default: the group name); a different option already there needs ``replace``."""
        if not isinstance(group, str) or not group or not isinstance(name, str) or not name:
            raise RegistryError(f"register(group, name, ...) needs non-empty strings, got "
                                f"{group!r}, {name!r}", str(group))
        package = group if package is None else package
        if package == "_global_" and not isinstance(node, dict):
            raise RegistryError(f"{group}={name}: a '_global_' option must be a mapping of root "
                                f"paths to values, got {type(node).__name__}", group)
        if package != "_global_":
            try:
                parse_path(package)  # validates the dotted path
            except ConfigError as exc:
                why = exc.message.splitlines()[0].rsplit(": ", 1)[-1]
                raise RegistryError(f"register({group!r}, {name!r}, package={package!r}): the "
                                    f"package is not a dotted config path ({why})", group) from exc
        options = self._groups.setdefault(group, {})
        existing = options.get(name)
        if existing is not None and not replace:
            if existing.package == package and _safe_eq(existing.node, node):
                return  # re-registering an equal option is a no-op
            raise RegistryError(
                f"{group}={name} is already registered with a different value; pass "
                f"replace=True to replace it (or pick another name)", group)
        options[name] = _Option(deepcopy(node), package)
        trust(*(target_name(v.__lz_target__) if kind_of(v) == "node" else type(v).__module__
                for _, v in walk(node) if kind_of(v) in ("node", "attrs")))

    def groups(self) -> list[str]:
        """Registered group names, in registration order."""
        return list(self._groups)

    def options(self, group: str) -> list[str]:
        """Option names of ``group``, in registration order."""
        return list(self._group(group))

    def package(self, group: str, name: str | None = None) -> str:
        """The package of an option (of the group's first option when ``name`` is None)."""
        options = self._group(group)
        return (self._option(group, name) if name else next(iter(options.values()))).package

    def get(self, group: str, name: str) -> Any:
        """A fresh copy of an option."""
        return deepcopy(self._option(group, name).node)

    def __contains__(self, group: object) -> bool:
        return group in self._groups

    def _group(self, group: str) -> dict[str, _Option]:
        try:
            return self._groups[group]
        except KeyError:
            raise RegistryError(
                f"unknown config group {group!r}.{suggest(group, self._groups)} Registered "
                f"groups: {', '.join(self._groups) or 'none'}", group) from None

    def _option(self, group: str, name: str) -> _Option:
        options = self._group(group)
        try:
            return options[name]
        except (KeyError, TypeError):
            raise RegistryError(
                f"{group}={name}: unknown option.{suggest(name, options)} Valid options of "
                f"{group!r}: {', '.join(options)}", group) from None

    def select(self, cfg: Any, group: str, name: Any, *, source: str | None = None) -> Any:
        """Puts a fresh copy of option ``name`` (a list: merged in order) of ``group`` into ``cfg``
        and returns it; a command-line pin for ``group`` takes precedence."""
        pins = _PINS.get()
        if pins is not None and pins.registry is self and group in pins.choices:
            name = pins.choices[group]
            pins.used.add(group)
            source = pins.texts.get(group, source)
            for n in (name if isinstance(name, list) else [name]):
                if n not in self._groups.get(group, {}):
                    raise OverrideError(
                        f"override {source!r}: unknown option {n!r} of group {group!r}."
                        f"{suggest(n, self._groups[group])} Valid options: "
                        f"{', '.join(self._groups[group])}", group)
        if name is None:
            raise RegistryError(f"{group}=null: select an option ({', '.join(self.options(group))}"
                                f") or delete the group with ~{group}", group)
        multi = isinstance(name, (list, tuple))
        names = list(name) if multi else [name]
        if not names:
            raise RegistryError(f"{group}=[]: select at least one option", group)
        opts = [self._option(group, n) for n in names]
        source = source or (f"{group}=[{','.join(names)}]" if multi else f"{group}={name}")
        value = self._merge(group, names, opts) if multi else deepcopy(opts[0].node)
        previous = get_choices(cfg)
        globl = opts[0].package == "_global_"
        replaced = [str(p) for p in value] if globl else [opts[0].package]
        for path, sub in value.items() if globl else [(opts[0].package, value)]:
            _set_path(cfg, str(path), sub, source)
        _note_choice(cfg, group, names if multi else name)
        self._reselect_nested(cfg, group, replaced, previous)
        return cfg

    def _reselect_nested(self, cfg: Any, group: str, replaced: list[str],
                         previous: dict[str, Any]) -> None:
        """Selects again the earlier choices of groups whose package lies inside a replaced
        subtree (``net`` at ``model.config.net`` after ``model``), as Hydra composes them."""
        for other, option in previous.items():
            if other == group or option is None or other not in self._groups:
                continue
            packages = {o.package for o in self._groups[other].values()}
            if any(pk != "_global_" and any(pk.startswith(p + ".") for p in replaced)
                   for pk in packages):
                self.select(cfg, other, option)

    def _merge(self, group: str, names: list[str], opts: list[_Option]) -> Any:
        packages = {o.package for o in opts}
        if len(packages) > 1:
            raise RegistryError(f"{group}={names}: options land in different packages "
                                f"({', '.join(sorted(packages))}) and cannot be merged", group)
        values = [deepcopy(opt.node) for opt in opts]
        for n, value in zip(names, values):
            kind = kind_of(value)
            if kind not in ("mapping", "node"):
                raise RegistryError(f"{group}={n}: only mapping or lazy-node options can be "
                                    f"combined in a list, got {type(value).__name__}", group)
            if kind != kind_of(values[0]):
                raise RegistryError(f"{group}={names}: {names[0]!r} is a "
                                    f"{kind_of(values[0]).replace('node', 'lazy node')} and "
                                    f"{n!r} a {kind.replace('node', 'lazy node')}; only options "
                                    f"of one kind can be combined", group)
        merged = values[0]
        for value in values[1:]:
            merged = _combine(merged, value)
        return merged


def _combine(old: Any, new: Any) -> Any:
    """``new`` merged over ``old``, later keys winning: mappings and same-target nodes merge
    recursively (args replaced when ``new`` has any); anything else is replaced."""
    kind = kind_of(old)
    if kind != kind_of(new) or kind not in ("mapping", "node"):
        return new
    if kind == "node":
        if target_name(old.__lz_target__) != target_name(new.__lz_target__):
            return new
        if new.__lz_args__:
            object.__setattr__(old, "__lz_args__", new.__lz_args__)
        object.__setattr__(old, "__lz_recursive__", new.__lz_recursive__)
        items, new_items = old.__lz_kwargs__, new.__lz_kwargs__
    else:
        items, new_items = old, new
    for key, value in new_items.items():  # dict.__setitem__: no provenance for the merge
        dict.__setitem__(items, key, _combine(items[key], value) if key in items else value)
    return old


def _set_path(cfg: Any, path: str, value: Any, source: str) -> None:
    keys = parse_path(path)
    parent = _walk(cfg, keys[:-1], source, create=True, kind="select")
    set_child(parent, keys[-1], value, source, "select", path=format_path(keys[:-1]))


_DEFAULT = Registry()


def default_registry() -> Registry:
    """The process-wide default registry used whenever no registry is passed."""
    return _DEFAULT


def register(group: str, name: str, node: Any, package: str | None = None,
             replace: bool = False) -> None:
    """``default_registry().register(...)``."""
    _DEFAULT.register(group, name, node, package, replace)


choices = get_choices  # the option selected per group, as remembered on the config root


def select(cfg: Any, group: str, name: Any, registry: Registry | None = None) -> Any:
    """Selects option(s) ``name`` of ``group`` into ``cfg`` (default registry); returns ``cfg``."""
    return (registry or _DEFAULT).select(cfg, group, name)


def iter_options(registry: Registry) -> Iterator[tuple[str, str, Any]]:
    """``(group, name, node)`` of every registered option (the stored objects, do not mutate)."""
    return ((group, name, opt.node) for group, options in registry._groups.items()
            for name, opt in options.items())


# ----------------------------------------------------------------------------- overrides
_REPLACED_TYPES = (bool, int, float, str, list, tuple)


def apply_overrides(cfg: Any, overrides: Iterable[str | Override] = (),
                    registry: Registry | None = None) -> Any:
    """Applies overrides in place (group selections first) and returns ``cfg``; errors are
    ``OverrideError``/``ConfigTypeError`` quoting the override and naming the path."""
    reg = registry or default_registry()
    parsed = [(ov, is_group_override(ov, reg)) for ov in _parse_all(overrides)]
    for ov, is_group in sorted(parsed, key=lambda p: not p[1]):  # group selections first
        if is_group:
            apply_group(cfg, ov, reg)
        else:
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
    """True when ``ov`` selects (or removes) a group's option; an OverrideError when it names a
    group but its value is no option name."""
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


def apply_group(cfg: Any, ov: Override, registry: Registry) -> None:
    """Applies one group override on a built config (replaces the subtree with a fresh copy)."""
    group = ov.keys[0]
    try:
        if ov.kind in ("delete", "force"):
            _clear_group(cfg, group, ov, registry)
        else:
            registry.select(cfg, group, ov.value, source=ov.text)
    except (OverrideError, ConfigTypeError):
        raise
    except ConfigError as exc:
        raise OverrideError(f"override {ov.text!r}: {exc}", group if isinstance(
            exc, RegistryError) else exc.path) from exc


def _clear_group(cfg: Any, group: str, ov: Override, registry: Registry) -> None:
    package = registry.package(group)
    if package == "_global_":
        raise OverrideError(f"{ov.text!r}: group {group!r} lands at the root ('_global_'); it "
                            f"cannot be removed, select another option instead", group)
    keys = parse_path(package)
    parent = _walk(cfg, keys[:-1], ov)
    try:
        set_child(parent, keys[-1], None, ov.text, "override", path=format_path(keys[:-1]))
    except ConfigTypeError as exc:
        raise OverrideError(f"{ov.text!r}: {package!r} cannot be None ({exc}); select another "
                            f"option of {group!r} instead: {', '.join(registry.options(group))}",
                            package) from exc
    if get_choices(cfg):
        _note_choice(cfg, group, None)


# ----------------------------------------------------------------------------- single override
def apply_one(cfg: Any, ov: Override | str) -> None:
    """Applies one non-group override (errors become OverrideError/ConfigTypeError)."""
    if isinstance(ov, str):
        ov = parse_override(ov)
    try:
        _apply(cfg, ov)
    except (OverrideError, ConfigTypeError) as exc:
        if isinstance(exc, OverrideError) or exc.message.startswith("override "):
            raise
        raise ConfigTypeError(f"override {ov.text!r}: {exc.message}", exc.path, exc.expected,
                              exc.value) from exc
    except ConfigError as exc:
        raise OverrideError(f"override {ov.text!r}: {exc}", exc.path) from exc


def _apply(cfg: Any, ov: Override) -> None:
    globs = [i for i, k in enumerate(ov.keys) if is_glob(k)]
    if globs:
        targets = _expand(cfg, ov.keys, ov)
        if not targets:
            raise OverrideError(
                f"override {ov.text!r}: the glob matched nothing (no child of "
                f"{format_path(ov.keys[:globs[0]]) or '<root>'!r} has "
                f"{format_path(ov.keys[globs[0] + 1:])!r})", ov.path)
        source = f"{ov.text} ({len(targets)} match{'es' if len(targets) != 1 else ''})"
        for keys in targets:
            _apply_path(cfg, keys, ov, source, deepcopy(ov.value))
        return
    _apply_path(cfg, ov.keys, ov, ov.text, ov.value)


def _expand(obj: Any, keys: tuple, ov: Override) -> list[tuple]:
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
                    out += _expand(obj, (*keys[:i], child_key, *keys[i + 1:]), ov)
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


def _walk(cfg: Any, keys: tuple, ov: Override | str, create: bool = False,
          kind: str = "override") -> Any:
    """The container at ``keys`` (``create``: adding missing mappings, as ``+a.new.key=V``)."""
    text = ov if isinstance(ov, str) else ov.text
    obj = cfg
    for i, key in enumerate(keys):
        where = format_path(keys[:i + 1])
        try:
            obj = get_child(obj, key, path=format_path(keys[:i]))
        except AttributeError as exc:
            if not (create and isinstance(obj, dict)):
                raise OverrideError(f"override {text!r}: {exc}", where) from exc
            parent, obj = obj, ConfigDict()
            _guard(text, set_child, parent, key, obj, text, kind, format_path(keys[:i]))
        if obj is None and i < len(keys) - 1:
            raise OverrideError(f"override {text!r}: {where!r} is None, so it has no "
                                f"{keys[i + 1]!r}", where)
    return obj


def _has(parent: Any, key: Any) -> bool:
    if isinstance(parent, dict):  # exact, but ``a.0`` also finds a str key "0"
        return key in parent or (type(key) is int and str(key) in parent)
    try:
        get_child(parent, key)
        return True
    except AttributeError:
        return False


def _node_params(node: LazyNode) -> Any:
    """The node's target's Params when it can be inspected without importing (else None)."""
    target = checkable_target(node)
    return params(target) if target is not None else None


def _param_status(node: LazyNode, name: Any) -> str:
    """"param", "var_kw" (accepted by **kwargs), "unknown" (cannot check) or "no"."""
    if not isinstance(name, str):
        return "no"
    p = _node_params(node)
    return "unknown" if p is None else "param" if name in p.names else (
        "var_kw" if p.var_kw else "no")


def _unknown_key(ov: Override, parent: Any, key: Any, path: str) -> OverrideError:
    k, where = kind_of(parent), format_path(parse_path(path)[:-1])
    if k == "node":
        p, written = _node_params(parent), list(parent.__lz_kwargs__)
        cands = list(dict.fromkeys([*written, *(p.names if p else ())]))
        what = f"L({target_name(parent.__lz_target__)})"
        if _param_status(parent, key) == "no":
            msg = (f"{what} at {where or '<root>'} has no parameter {key!r}."
                   f"{suggest(key, cands)} Valid: {', '.join(cands)}")
        elif ov.kind == "delete":
            msg = (f"nothing to delete: {path!r} is not written on {what}."
                   f"{suggest(key, written)} Written: {', '.join(written) or 'none'}")
        else:
            msg = f"{path!r} is not set on {what}; add it with +{path}=...{suggest(key, cands)}"
    elif k == "attrs":
        fields = [n for n, _ in children(parent)]
        msg = (f"{type(parent).__name__} has no field {key!r} ({path!r}).{suggest(key, fields)} "
               f"Fields: {', '.join(fields)}")
    elif k == "mapping":
        keys = [str(x) for x in parent]
        hint = "" if ov.kind == "delete" else f". To add a new key use +{path}=..."
        msg = (f"no key {path!r}.{suggest(key, keys)} Existing keys: {', '.join(keys) or 'none'}"
               f"{hint}")
    elif k in ("list", "tuple"):
        msg = (f"{path!r}: index {key!r} out of range (length {len(parent)}); append with "
               f"{where}+=VALUE")
    else:
        msg = f"no key {path!r}"
    return OverrideError(f"override {ov.text!r}: {msg}", path)


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
        _guard(ov, del_child, parent, last, source, ppath)
        return
    if ov.kind == "set" and not exists:
        if not (pkind == "node" and _param_status(parent, last) in ("param", "unknown")):
            raise _unknown_key(ov, parent, last, path)
    if ov.kind in ("add", "force") and not exists:
        if pkind in ("list", "tuple"):
            raise OverrideError(f"override {ov.text!r}: cannot add index {last!r} to a list; "
                                f"append with {ppath}+=VALUE", path)
        if pkind == "attrs" or pkind == "node" and _param_status(parent, last) == "no":
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
        # provenance of list elements lives on the list's parent (see ``explain``)
        record(_walk(cfg, keys[:-2], ov), f"{keys[-2]}.{last}", old, True, value, source,
               "override")


_MERGED = object()


def _assign(parent: Any, key: Any, value: Any, exists: bool, ov: Override, source: str,
            path: str, ppath: str, pann: Any = None) -> Any:
    """``parent[key] = value`` by the override rules (a dict merges into an existing container:
    ``_MERGED``); returns the value set."""
    if exists and isinstance(value, dict):
        current = get_child(parent, key)
        if kind_of(current) in ("mapping", "node", "attrs"):
            _merge(current, value, ov, source, path, _child_ann(parent, key, pann))
            return _MERGED
    checked = _checked(parent, key, value, exists, path, pann)
    _guard(ov, set_child, parent, key, checked, source, "override", ppath)
    return checked


def _guard(ov: Override | str, fn: Any, *args: Any) -> None:
    """``fn(*args)``, a frozen config's refusal quoting the override."""
    try:
        fn(*args)
    except FrozenConfigError as exc:
        text = ov if isinstance(ov, str) else ov.text
        raise OverrideError(f"override {text!r}: {exc}", exc.path) from exc


def _child_ann(parent: Any, key: Any, pann: Any) -> Any:
    """The annotation of ``parent[key]`` (``pann``: the parent's own annotation); None: unknown."""
    k = kind_of(parent)
    if k == "attrs":
        return field_types(type(parent)).get(key)
    if k == "node":
        p = _node_params(parent) if isinstance(key, str) else None
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
    new = [*current, *(value if isinstance(value, (list, tuple)) else [value])]
    _assign(parent, key, tuple(new) if isinstance(current, tuple) else new, True, ov, source,
            path, ppath, pann)


def _merge(current: Any, value: dict, ov: Override, source: str, path: str,
           ann: Any = None) -> None:
    """Merges a parsed dict into a mapping, node or attrs instance (recursively)."""
    ck = kind_of(current)
    for key, sub in value.items():
        sub_path = join_path(path, key)
        exists = _has(current, key)
        if not exists and (ck == "attrs" or ck == "node" and _param_status(current, key) == "no"):
            raise _unknown_key(ov, current, key, sub_path)
        _assign(current, key, sub, exists, ov, source, sub_path, path, ann)



