"""``Registry``: config groups and options (the ConfigStore replacement) and command-line pins.

A group (``optimizer``) holds named options (``adamw``), each a lazy node, mapping or config
instance, and a *package*: the dotted config path where the option lands (default: the group
name). Package ``"_global_"`` means the option is a mapping of root paths and exactly those paths
are replaced. ``select(cfg, group, name)`` puts a fresh copy of the option at its package
(replacing the whole subtree), remembers the choice on the config root (``choices(cfg)``) and
records ``group=name`` as provenance. A list of names merges the options' mappings in order.

Command-line pins (``load(path, ["optimizer=fused"])``): while a pin is active for a registry,
every ``select`` of that group uses the pinned option instead (DESIGN section 4, precedence 3).
"""

from __future__ import annotations

import contextvars
from copy import deepcopy
from typing import Any, Iterator

from ._errors import ConfigError, RegistryError
from ._node import ConfigDict, suggest, target_name, trust
from ._provenance import _note_choice, _safe_eq, get_choices
from .tree import get_child, is_attrs, kind_of, parse_path, set_child, walk

__all__ = [
    "Registry",
    "default_registry",
    "register",
    "select",
    "choices",
    "Pins",
]


class _Option:
    __slots__ = ("node", "package")

    def __init__(self, node: Any, package: str) -> None:
        self.node = node
        self.package = package


class Pins:
    """Group choices pinned from the command line for one registry (see ``load``)."""

    def __init__(self, registry: Registry, choices: dict[str, Any]) -> None:
        self.registry = registry
        self.choices = dict(choices)
        self.used: set[str] = set()
        self.texts: dict[str, str] = {}


_PINS: contextvars.ContextVar[Pins | None] = contextvars.ContextVar("lazycfg_pins", default=None)


class Registry:
    """Groups of named config options (see the module docstring)."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, _Option]] = {}

    def __repr__(self) -> str:
        return f"Registry({', '.join(f'{g}[{len(o)}]' for g, o in self._groups.items())})"

    def register(self, group: str, name: str, node: Any, package: str | None = None,
                 replace: bool = False) -> None:
        """Registers option ``name`` of ``group``.

        Args:
            group: group name (an identifier-like string, e.g. ``"optimizer"``).
            name: option name (``"adamw"``).
            node: a lazy node, mapping or config instance (stored as a private copy); for
                package ``"_global_"`` a mapping ``{root path: value}``.
            package: dotted path where the option lands; default: ``group``.
            replace: allow replacing a different option already registered under that name.

        Raises:
            RegistryError: a different option is already registered under (group, name).
        """
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
        if name is None:
            return next(iter(options.values())).package
        return self._option(group, name).package

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
        """Puts a fresh copy of option(s) ``name`` of ``group`` into ``cfg``; returns ``cfg``.

        Args:
            cfg: the config root.
            group: the group.
            name: an option name, or a list of names whose mappings merge in order.
            source: provenance text (default ``"group=name"``).

        A command-line pin for ``group`` (see ``load``) takes precedence over ``name``.
        """
        pins = _PINS.get()
        if pins is not None and pins.registry is self and group in pins.choices:
            name = pins.choices[group]
            pins.used.add(group)
            source = pins.texts.get(group, source)
            for n in (name if isinstance(name, list) else [name]):
                if n not in self._groups.get(group, {}):
                    from ._errors import OverrideError

                    raise OverrideError(
                        f"override {source!r}: unknown option {n!r} of group {group!r}."
                        f"{suggest(n, self._groups[group])} Valid options: "
                        f"{', '.join(self._groups[group])}", group)
        if name is None:
            raise RegistryError(f"{group}=null: select an option ({', '.join(self.options(group))}"
                                f") or delete the group with ~{group}", group)
        multi = isinstance(name, (list, tuple))
        names = list(name) if multi else [name]
        if multi and not names:
            raise RegistryError(f"{group}=[]: select at least one option", group)
        opts = [self._option(group, n) for n in names]
        label = f"{group}=[{','.join(names)}]" if multi else f"{group}={name}"
        source = source or label
        package = opts[0].package
        if multi:
            value = self._merge(group, names, opts)
        else:
            value = deepcopy(opts[0].node)
        previous = get_choices(cfg)
        if package == "_global_":
            replaced = [str(p) for p in value]
            for path, sub in value.items():
                _set_path(cfg, str(path), sub, source)
        else:
            replaced = [package]
            _set_path(cfg, package, value, source)
        _note_choice(cfg, group, names if multi else name)
        self._reselect_nested(cfg, group, replaced, previous)
        return cfg

    def _reselect_nested(self, cfg: Any, group: str, replaced: list[str],
                         previous: dict[str, Any]) -> None:
        """Re-applies the choices of groups whose package lies inside a replaced subtree.

        Selecting ``model`` replaces ``model`` wholesale; the ``net`` option chosen earlier
        (package ``model.config.net``) is selected again on top, as Hydra's defaults list
        composes nested groups after their parent.
        """
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
        merged: Any = None
        for n, opt in zip(names, opts):
            value = deepcopy(opt.node)
            kind = kind_of(value)
            if kind not in ("mapping", "node"):
                raise RegistryError(f"{group}={n}: only mapping or lazy-node options can be "
                                    f"combined in a list, got {type(value).__name__}", group)
            if merged is None:
                merged = value
                continue
            if kind != kind_of(merged):
                raise RegistryError(f"{group}={names}: {names[0]!r} is a "
                                    f"{kind_of(merged).replace('node', 'lazy node')} and {n!r} "
                                    f"a {kind.replace('node', 'lazy node')}; only options of "
                                    f"one kind can be combined", group)
            merged = _combine(merged, value)
        return merged


def _combine(old: Any, new: Any) -> Any:
    """``new`` merged over ``old`` (Hydra's merge order: later keys win).

    Mappings merge key by key, recursively; lazy nodes with the same target merge their kwargs
    the same way (a later node's positional args replace earlier ones when it has any). Anything
    else, a node with another target included, is replaced by ``new`` (no stale kwargs).
    """
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
    for key, value in new_items.items():
        value = _combine(items[key], value) if key in items else value
        if isinstance(items, dict) and type(items) is not dict:
            dict.__setitem__(items, key, value)  # a ConfigDict: no provenance for the merge
        else:
            items[key] = value
    return old


def _set_path(cfg: Any, path: str, value: Any, source: str) -> None:
    keys = parse_path(path)
    parent = cfg
    trail: list = []
    from .tree import format_path

    for key in keys[:-1]:
        try:
            child = get_child(parent, key, path=format_path(trail))
        except AttributeError:
            if isinstance(parent, dict):  # create intermediate mappings in untyped trees
                child = ConfigDict()
                set_child(parent, key, child, source, "select")
            else:
                raise
        if child is None and (isinstance(parent, dict) or is_attrs(parent)):
            raise ConfigError(f"cannot place {source!r} at {path!r}: "
                              f"{format_path((*trail, key))!r} is None", path)
        parent = child
        trail.append(key)
    set_child(parent, keys[-1], value, source, "select", path=format_path(trail))


_DEFAULT = Registry()


def default_registry() -> Registry:
    """The process-wide default registry used whenever no registry is passed."""
    return _DEFAULT


def register(group: str, name: str, node: Any, package: str | None = None,
             replace: bool = False) -> None:
    """``default_registry().register(...)``."""
    _DEFAULT.register(group, name, node, package, replace)


def select(cfg: Any, group: str, name: Any, registry: Registry | None = None) -> Any:
    """Selects option(s) ``name`` of ``group`` into ``cfg`` (default registry); returns ``cfg``."""
    return (registry or _DEFAULT).select(cfg, group, name)


def choices(cfg: Any) -> dict[str, Any]:
    """The option selected per group, as remembered on the config root (a copy)."""
    return get_choices(cfg)


def active_pins() -> Pins | None:
    """The pins of the innermost ``load`` in progress (None outside ``load``)."""
    return _PINS.get()


def _push_pins(pins: Pins | None) -> contextvars.Token:
    return _PINS.set(pins)


def _pop_pins(token: contextvars.Token) -> None:
    _PINS.reset(token)


def iter_options(registry: Registry) -> Iterator[tuple[str, str, Any]]:
    """``(group, name, node)`` of every registered option (the stored objects, do not mutate)."""
    for group, options in registry._groups.items():
        for name, opt in options.items():
            yield group, name, opt.node
