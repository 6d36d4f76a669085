"""``to_py``: render a config as an experiment file a person can read and edit.

The output imports what it needs (``L``, ``PLACEHOLDER``, config classes, functions used as
values), binds a node reachable from two places to one variable (so ``load`` gives one object
again) and ends with ``config = ...``. Targets stay dotted strings, so loading it imports nothing
heavy. Attrs fields equal to their default are left out.
"""
from __future__ import annotations

import enum
import functools
import math
from typing import Any

from lazycfg import _provenance as P
from lazycfg import tree as _tree
from lazycfg._errors import SerializationError
from lazycfg._node import PLACEHOLDER, LazyRef, target_name
from lazycfg._serialize import _FIX, _dotted

_WIDTH = 96
_NOTHING: Any = None


class _Writer:
    def __init__(self) -> None:
        self.imports: dict[str, str] = {}  # dotted name -> local name
        self.used_names: set[str] = {"L", "PLACEHOLDER", "LazyRef", "ConfigDict", "functools",
                                     "config"}
        self.defs: list[str] = []
        self.shared: set[int] = set()
        self.names: dict[int, str] = {}
        self.keep: list[Any] = []
        self.needs_configdict = False

    # -- sharing
    def count_refs(self, root: Any) -> None:
        seen: set[int] = set()
        stack = [root]
        while stack:
            obj = stack.pop()
            if _tree.kind_of(obj) in ("leaf", "tuple"):
                if _tree.kind_of(obj) == "tuple":
                    stack.extend(obj)
                continue
            if id(obj) in seen:
                self.shared.add(id(obj))
                continue
            seen.add(id(obj))
            self.keep.append(obj)
            stack.extend(child for _, child in _tree.children(obj))

    # -- names
    def name_for(self, dotted: str) -> str:
        if dotted in self.imports:
            return self.imports[dotted]
        base = dotted.rsplit(".", 1)[-1]
        name, i = base, 1
        while name in self.used_names or not name.isidentifier():
            name, i = f"{base}_{i}", i + 1
        self.used_names.add(name)
        self.imports[dotted] = name
        return name

    def fail(self, path: tuple, value: Any, why: str) -> SerializationError:
        where = _tree.format_path(path) or "<root>"
        return SerializationError(
            f"cannot write {where} as Python: {why} ({value!r:.80}); {_FIX}", where)

    # -- rendering
    def render(self, value: Any, path: tuple, indent: int) -> str:
        kind = _tree.kind_of(value)
        if kind not in ("leaf", "tuple") and id(value) in self.shared:
            name = self.names.get(id(value))
            if name is None:
                self.names[id(value)] = "__pending__"
                body = self.render_container(value, kind, path, 0)
                name = self.var_name(value)
                self.names[id(value)] = name
                self.defs.append(f"{name} = {body}")
            return name
        if kind == "leaf":
            return self.render_leaf(value, path)
        return self.render_container(value, kind, path, indent)

    def var_name(self, value: Any) -> str:
        base = "shared"
        if _tree.kind_of(value) == "node":
            base = target_name(value.__lz_target__).rsplit(".", 1)[-1].lower()
        name, i = f"_{base}", 1
        while name in self.used_names:
            name, i = f"_{base}_{i}", i + 1
        self.used_names.add(name)
        return name

    def render_container(self, value: Any, kind: str, path: tuple, indent: int) -> str:
        if kind == "list":
            return self.seq("[", "]", [self.render(v, (*path, i), indent + 1)
                                       for i, v in enumerate(value)], indent)
        if kind == "tuple":
            items = [self.render(v, (*path, i), indent + 1) for i, v in enumerate(value)]
            if len(items) == 1:
                return f"({items[0]},)"
            return self.seq("(", ")", items, indent)
        if kind == "mapping":
            items = [f"{self.render_key(k, path)}: {self.render(v, (*path, k), indent + 1)}"
                     for k, v in value.items()]
            if id(value) in self.shared or not path:
                # A plain dict literal is copied into a ConfigDict wherever it is placed; a
                # mapping that must stay one object (shared, or the root) is built as one.
                self.needs_configdict = True
                return self.seq("ConfigDict({", "})", items, indent)
            return self.seq("{", "}", items, indent)
        if kind == "node":
            target = value.__lz_target__
            name = str(target) if isinstance(target, (str, LazyRef)) else _dotted(target)
            if name is None:
                raise self.fail((*path, "_target_"), target, "the target is not importable")
            items = [self.render(v, (*path, i), indent + 1)
                     for i, v in enumerate(value.__lz_args__)]
            items += [self.kwarg(k, self.render(v, (*path, k), indent + 1))
                      for k, v in value.__lz_kwargs__.items()]
            if not value.__lz_recursive__:
                items.append("_recursive_=False")
            return self.seq(f"L({name!r})(", ")", items, indent)
        # attrs instance
        cls = type(value)
        dotted = _dotted(cls)
        if dotted is None:
            raise self.fail(path, value, f"class {cls.__qualname__} is not importable")
        items = []
        for a in cls.__attrs_attrs__:
            current = getattr(value, a.name)
            if not a.init:
                if _differs_from_default(a, current):
                    raise self.fail((*path, a.name), current, "a non-init field differs from "
                                    "its default and cannot be passed to the constructor")
                continue
            if not _differs_from_default(a, current):
                continue
            arg = getattr(a, "alias", None) or a.name.lstrip("_")
            items.append(self.kwarg(arg, self.render(current, (*path, a.name), indent + 1)))
        return self.seq(f"{self.name_for(dotted)}(", ")", items, indent)

    def kwarg(self, name: str, rendered: str) -> str:
        if name.isidentifier():
            return f"{name}={rendered}"
        return f"**{{{name!r}: {rendered}}}"

    def render_key(self, key: Any, path: tuple) -> str:
        if isinstance(key, (str, int, bool)) or key is None:
            return repr(key)
        if isinstance(key, float):
            return self.render_leaf(key, path)
        raise self.fail(path, key, "mapping keys must be str, int, float, bool or None")

    def render_leaf(self, value: Any, path: tuple) -> str:
        if value is None or isinstance(value, (bool, int, str, bytes)) and not isinstance(
                value, enum.Enum):
            return repr(value)
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                return f"float({str(value)!r})"
            return repr(float(value))
        if value is PLACEHOLDER:
            return "PLACEHOLDER"
        if isinstance(value, LazyRef):
            self.imports.setdefault("lazycfg.LazyRef", "LazyRef")
            return f"LazyRef({str(value)!r})"
        if isinstance(value, functools.partial):
            func = _dotted(value.func)
            if func is None:
                raise self.fail(path, value, "the partial's function is not importable")
            self.imports.setdefault("functools", "functools")
            parts = [self.name_for(func)]
            parts += [self.render(v, (*path, i), 1) for i, v in enumerate(value.args)]
            parts += [self.kwarg(k, self.render(v, (*path, k), 1))
                      for k, v in value.keywords.items()]
            return f"functools.partial({', '.join(parts)})"
        dotted = _dotted(value)
        if dotted is None:
            why = ("a lambda or local function" if "<" in getattr(value, "__qualname__", "<")
                   and callable(value) else "a live object, not a config value")
            raise self.fail(path, value, why)
        if isinstance(value, enum.Enum):
            owner = self.name_for(dotted.rsplit(".", 1)[0])
            return f"{owner}.{value.name}"
        if not isinstance(value, type) and not callable(value):
            # torch.float32 & co: import the module, refer to the attribute
            module, attr = dotted.rsplit(".", 1)
            return f"{self.module_name(module)}.{attr}"
        return self.name_for(dotted)

    def module_name(self, module: str) -> str:
        key = "import " + module
        if key not in self.imports:
            self.imports[key] = module
            self.used_names.add(module.split(".")[0])
        return module

    def seq(self, open_: str, close: str, items: list[str], indent: int) -> str:
        one = open_ + ", ".join(items) + close
        if len(one) + 4 * indent <= _WIDTH and "\n" not in one:
            return one
        pad = "    " * (indent + 1)
        return open_ + "\n" + "".join(f"{pad}{it},\n" for it in items) + "    " * indent + close


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
    """Return executable Python source that ``load`` turns into an equal config.

    Raises:
        SerializationError: a value has no Python spelling (lambda, live object); names its path.
    """
    w = _Writer()
    w.count_refs(cfg)
    body = w.render(cfg, (), 0)
    lines = ['"""Config written by lazycfg.to_py; `lazycfg.load` of this file returns `config`."""']
    imports = ["from lazycfg import L"]
    if "PLACEHOLDER" in body or any("PLACEHOLDER" in d for d in w.defs):
        imports[0] += ", PLACEHOLDER"
    if "lazycfg.LazyRef" in w.imports:
        imports[0] += ", LazyRef"
    if w.needs_configdict:
        imports[0] += ", ConfigDict"
    plain = sorted(v for k, v in w.imports.items() if k.startswith("import "))
    if "functools" in w.imports:
        plain.append("functools")
    froms = sorted((k, v) for k, v in w.imports.items()
                   if "." in k and not k.startswith("import ") and k != "lazycfg.LazyRef")
    lines.append("")
    lines += [f"import {m}" for m in sorted(set(plain))]
    lines += imports
    for dotted, local in froms:
        module, attr = dotted.rsplit(".", 1)
        lines.append(f"from {module} import {attr}" + (f" as {local}" if local != attr else ""))
    choices = P.get_choices(cfg)
    if choices:
        lines += ["", f"# group choices when saved: {choices!r}"]
    lines.append("")
    if w.defs:
        lines += w.defs + [""]
    lines.append(f"config = {body}")
    return "\n".join(lines) + "\n"
