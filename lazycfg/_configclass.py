"""``@configclass``: ``attrs.define(slots=False)`` whose assignments are type-checked (lossless
conversion; converters and validators run on every assignment), recorded for provenance and
freezable. Plain dicts become ``ConfigDict``; an unknown public attribute is a ``ConfigKeyError``
with a suggestion; mutable class-level defaults become per-instance factories. Plain attrs
classes work too (``set_plain_attrs`` is their checked, recorded override path).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from copy import deepcopy
from typing import Any, TypeVar

from ._errors import ConfigError, ConfigKeyError
from ._node import (
    ConfigDict,
    LazyNode,
    _repr_html_,
    _repr_pretty_,
    caller_site,
    frozen_error,
    record,
    suggest,
    trust,
    wrap,
)
from ._types import check_value
from .tree import attrs_fields, register_kind

__all__ = ["configclass", "is_configclass", "field_types", "set_plain_attrs"]

T = TypeVar("T")
_WRAPPED = frozenset({dict, list, tuple, functools.partial})  # types wrap() converts
_SPECS: dict[type, dict[str, tuple[Any, Any]]] = {}


def is_configclass(obj: object) -> bool:
    """True for a ``@configclass`` class or instance."""
    cls = obj if isinstance(obj, type) else type(obj)
    return bool(cls.__dict__.get("__lz_configclass__")) or any(
        b.__dict__.get("__lz_configclass__") for b in cls.__mro__[1:])


def field_types(cls: type) -> dict[str, Any]:
    """``{field name: resolved annotation}`` of an attrs class (unresolvable ones are ``Any``)."""
    return {name: spec[0] for name, spec in _spec(cls).items()}


def _spec(cls: type) -> dict[str, tuple[Any, Any]]:
    """``{name: (annotation, attrs.Attribute)}`` for a class, resolved once."""
    spec = _SPECS.get(cls)
    if spec is not None:
        return spec
    import typing

    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - fall back to resolving fields one by one
        hints = {}
        module = sys.modules.get(cls.__module__)
        ns = dict(vars(module)) if module else {}
        for a in cls.__attrs_attrs__:
            tp = a.type
            if isinstance(tp, str):
                try:
                    tp = eval(tp, ns, dict(vars(cls)))  # noqa: S307 - the class's own annotation
                except Exception:  # noqa: BLE001
                    tp = Any
            hints[a.name] = tp if tp is not None else Any
    spec = {a.name: (hints.get(a.name, a.type if a.type is not None else Any), a)
            for a in cls.__attrs_attrs__}
    spec = _SPECS[cls] = {n: (Any if isinstance(tp, str) else tp, a)
                          for n, (tp, a) in spec.items()}
    return spec


def _owner_path(obj: object, name: str, path: str | None) -> str:
    if path is not None:
        return f"{path}.{name}" if path else name
    return f"{getattr(obj, '__dict__', {}).get('__lz_frozen__') or type(obj).__name__}.{name}"


def _no_field(obj: object, name: str, path: str | None) -> ConfigKeyError:
    spec, full = _spec(type(obj)), _owner_path(obj, name, path)
    return ConfigKeyError(f"{full!r}: {type(obj).__name__} has no field {name!r}."
                          f"{suggest(name, spec)} Fields: {', '.join(spec)}.", full)


def _convert_and_check(obj: object, name: str, value: Any, tp: Any, a: Any,
                       path: str) -> Any:
    if a.converter is not None and not isinstance(value, LazyNode):
        try:
            value = a.converter(value)
        except Exception as exc:  # noqa: BLE001 - report with the path
            raise ConfigError(f"{path}: converter of {type(obj).__name__}.{name} rejected "
                              f"{value!r}: {exc}", path) from exc
    value = check_value(value, tp, path)
    if a.validator is not None:
        try:
            a.validator(obj, a, value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: invalid value {value!r}: {exc}", path) from exc
    return value


def _setattr(self: Any, name: str, value: Any) -> None:
    _lz_set(self, name, value, None, "python", None)


def _lz_set(self: Any, name: str, value: Any, source: str | None, kind: str,
            path: str | None) -> None:
    d = self.__dict__
    if name.startswith("__lz_"):
        d[name] = value
        return
    spec = _SPECS.get(type(self)) or _spec(type(self))
    field = spec.get(name)
    frozen = d.get("__lz_frozen__")
    if frozen is not None:
        raise frozen_error(frozen if path is None else path, name)
    if field is None:
        if name.startswith("_") or _is_class_attr(type(self), name):
            object.__setattr__(self, name, value)
            return
        raise _no_field(self, name, path)
    tp, a = field
    if type(value) in _WRAPPED:
        value = wrap(value, d.get("__lz_site__", ""))
    value = _convert_and_check(self, name, value, tp, a, _owner_path(self, name, path))
    if name in d:
        record(self, name, d[name], True, value, source, kind)
    d[name] = value


def _is_class_attr(cls: type, name: str) -> bool:
    return any(name in klass.__dict__ for klass in cls.__mro__)


def _delattr(self: Any, name: str) -> None:
    if name.startswith("__lz_"):
        object.__delattr__(self, name)
        return
    path = _owner_path(self, name, None)
    if name in _spec(type(self)):
        raise ConfigError(f"cannot delete {path!r}: it is a field of {type(self).__name__}; set "
                          f"it instead", path)
    object.__delattr__(self, name)


def _getattr(self: Any, name: str) -> Any:
    raise AttributeError(name) if name.startswith("__") else _no_field(self, name, None)


def _is_mutable_default(value: Any) -> bool:
    return (type(value) in (list, dict, set) or isinstance(value, (LazyNode, ConfigDict))
            or getattr(type(value), "__attrs_attrs__", None) is not None)


def _fresh(value: Any) -> Callable[[], Any]:
    return functools.partial(deepcopy, value)


def _fix_mutable_defaults(cls: type) -> None:
    """Turns shared mutable class-level defaults into per-instance factories."""
    import attrs

    anns = cls.__dict__.get("__annotations__", {})
    for name in anns:
        if name not in cls.__dict__:
            continue
        value = cls.__dict__[name]
        if type(value).__name__ == "_CountingAttr":
            default = getattr(value, "_default", None)
            if _is_mutable_default(default):
                value._default = attrs.Factory(_fresh(default))
        elif _is_mutable_default(value):
            setattr(cls, name, attrs.field(factory=_fresh(value)))


def configclass(maybe_cls: type[T] | None = None, **attrs_kwargs: Any) -> Any:
    """Decorator: a type-checked, recorded, freezable attrs class; ``attrs_kwargs`` go to
    ``attrs.define`` (``slots`` must stay False)."""
    if attrs_kwargs.get("slots"):
        raise ConfigError("@configclass needs slots=False (instances carry metadata)")

    def wrap_cls(cls: type[T]) -> type[T]:
        import attrs

        _fix_mutable_defaults(cls)
        kwargs = {"slots": False, "on_setattr": attrs.setters.NO_OP, **attrs_kwargs}
        new_cls = attrs.define(cls, **kwargs)
        orig_init = new_cls.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            self.__dict__["__lz_site__"] = caller_site()
            orig_init(self, *args, **kwargs)

        __init__.__doc__ = orig_init.__doc__
        __init__.__wrapped__ = orig_init  # type: ignore[attr-defined]
        new_cls.__init__ = __init__
        new_cls.__setattr__ = _setattr
        new_cls.__delattr__ = _delattr
        new_cls.__getattr__ = _getattr
        new_cls._lz_set = _lz_set
        new_cls.__lz_configclass__ = True
        trust(new_cls.__module__)  # a package defining config classes may be imported by load
        for hook, fn in (("_repr_pretty_", _repr_pretty_), ("_repr_html_", _repr_html_)):
            if not _is_class_attr(new_cls, hook):  # the class's own display wins
                setattr(new_cls, hook, fn)
        return new_cls

    return wrap_cls if maybe_cls is None else wrap_cls(maybe_cls)


def set_plain_attrs(obj: Any, name: str, value: Any, source: str | None, kind: str,
                    path: str | None) -> None:
    """Override path for plain (non-configclass) attrs instances: checked, recorded if possible."""
    spec = _spec(type(obj))
    if name not in spec:
        raise _no_field(obj, name, path)
    tp, a = spec[name]
    value = _convert_and_check(obj, name, wrap(value), tp, a, _owner_path(obj, name, path))
    old = getattr(obj, name)
    setattr(obj, name, value)  # raises when frozen (guarded class) or attrs-frozen
    record(obj, name, old, True, value, source, kind)


def _attrs_flatten(obj: Any) -> list[tuple[str, Any]]:
    d = getattr(obj, "__dict__", None) or {}
    return [(n, d[n]) if n in d else (n, getattr(obj, n)) for n in attrs_fields(type(obj))]


def _attrs_unflatten(template: Any, items: list) -> Any:
    new = type(template).__new__(type(template))
    for key, value in items:
        object.__setattr__(new, key, value)
    return new


def _attrs_set(obj: Any, key: str, value: Any, source: str | None, kind: str,
               path: str | None) -> None:
    lz_set = getattr(type(obj), "_lz_set", None)
    (lz_set or set_plain_attrs)(obj, key, value, source, kind, path)


register_kind("attrs", _attrs_flatten, _attrs_unflatten, _attrs_set)
