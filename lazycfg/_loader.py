"""``load`` / ``load_rel`` / ``lazy_imports``: run experiment files as configs.

Experiment files run (code cached by mtime) as fresh throw-away modules whose ``dict(...)`` gives a
``ConfigDict`` remembering its ``file:line``; a relative import runs the sibling file afresh, so
no mutation leaks between files or loads. ``load(path, overrides)``: single-key ``group=option``
overrides are pinned while the file runs; the config is ``make_config()``, else ``config``, else
the file's public config-like globals; pinned groups never selected are selected after it, then
the other overrides apply in order. ``.yaml`` files are restored by ``_io.load_yaml``.
"""

from __future__ import annotations

import builtins
import os
import sys
import types
from collections.abc import Iterable
from typing import Any

from ._errors import ConfigError, ConfigFileNotFoundError, ConfigImportError, OverrideError
from ._grammar import Override
from ._io import load_yaml
from ._node import ConfigDict, LazyNode, LazyRef, _short_source, suggest, wrap
from ._overrides import (
    _PINS,
    Pins,
    Registry,
    _parse_all,
    apply_group,
    apply_one,
    apply_overrides,
    default_registry,
    is_group_override,
)
from .tree import children

__all__ = ["load", "load_rel", "lazy_imports", "exec_config_file"]

_CODE_CACHE: dict[str, tuple[int, int, types.CodeType]] = {}
_COUNTER = [0]
_CONFIG_MARK = "__lz_config_file__"


def _abspath(path: Any) -> str:
    return os.path.abspath(os.fspath(path))


def _compile(path: str) -> types.CodeType:
    st = os.stat(path)
    cached = _CODE_CACHE.get(path)
    if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
        return cached[2]
    with open(path, encoding="utf-8") as f:
        source = f.read()
    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ConfigError(f"syntax error in config file {path}:{exc.lineno}: {exc.msg}",
                          path) from exc
    _CODE_CACHE[path] = (st.st_mtime_ns, st.st_size, code)
    return code


class _SiteDictMeta(type):
    """Metaclass of :class:`_SiteDict`: calls give ``ConfigDict``; type checks act as ``dict``."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is _SiteDict:
            return ConfigDict(*args, **kwargs)  # records the calling file:line as its site
        return super().__call__(*args, **kwargs)  # a class a config file derives from dict

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, dict) if cls is _SiteDict else type.__instancecheck__(cls, obj)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, dict) if cls is _SiteDict else type.__subclasscheck__(cls, sub)


class _SiteDict(dict, metaclass=_SiteDictMeta):
    """The ``dict`` of config files: ``dict(lr=1)`` gives a ``ConfigDict`` remembering its line;
    ``isinstance(x, dict)``, ``dict[str, int]`` and ``class X(dict)`` behave as usual."""

    def __class_getitem__(cls, item: Any) -> Any:
        return dict[item]


def exec_config_file(path: str) -> types.ModuleType:
    """Executes a config file as a fresh module (config-aware relative imports) and returns it."""
    path = _abspath(path)
    if not os.path.isfile(path):
        raise ConfigFileNotFoundError(f"config file not found: {path}", path)
    code = _compile(path)
    _COUNTER[0] += 1
    stem = os.path.splitext(os.path.basename(path))[0]
    name = f"lazycfg_config_{_COUNTER[0]}.{'' if stem.isidentifier() else '_'}{stem}"
    module = types.ModuleType(name)
    ns = module.__dict__
    # dict(...) remembers its file:line for explain; relative imports run sibling files
    ns.update(__file__=path, __package__=None, __builtins__={
        **builtins.__dict__, "__import__": _config_import, "dict": _SiteDict})
    ns[_CONFIG_MARK] = True
    sys.modules[name] = module  # dataclasses/typing look classes' modules up while the file runs
    try:
        exec(code, ns)  # noqa: S102 - executing the user's config file is the point
    finally:
        sys.modules.pop(name, None)
    return module


def _config_import(name: str, globals: dict | None = None, locals: Any = None,
                   fromlist: Any = (), level: int = 0) -> Any:
    """``__import__`` of config files: relative imports execute sibling config files afresh."""
    if level > 0 and globals is not None and globals.get(_CONFIG_MARK):
        base = os.path.dirname(globals["__file__"])
        for _ in range(level - 1):
            base = os.path.dirname(base)
        where = os.path.join(base, *name.split(".")) if name else base
        if name and os.path.isfile(where + ".py"):
            return _with_config_dicts(exec_config_file(where + ".py"))
        if os.path.isdir(where) and fromlist:
            pkg = types.ModuleType(name or os.path.basename(where))
            init = os.path.join(where, "__init__.py")
            if os.path.isfile(init):
                pkg.__dict__.update(vars(exec_config_file(init)))
            for item in fromlist:
                file = os.path.join(where, f"{item}.py")
                if os.path.isfile(file):
                    setattr(pkg, item, _with_config_dicts(exec_config_file(file)))
                elif not hasattr(pkg, item):
                    raise ConfigImportError(
                        f"{globals['__file__']}: relative import {'.' * level}{name} has no "
                        f"{item!r} (no {file})", globals["__file__"])
            return pkg
        raise ConfigImportError(
            f"{globals['__file__']}: relative import {'.' * level}{name} not found: "
            f"{where}.py does not exist (config files import sibling config files relatively; "
            f"import packages absolutely)", globals["__file__"])
    return builtins.__import__(name, globals, locals, fromlist, level)


def _with_config_dicts(module: types.ModuleType) -> types.ModuleType:
    """Turns an imported config file's dict literals into ``ConfigDict`` (as detectron2 does),
    so ``from .base import d; d.a = 2`` works; a dict bound to two names stays one object."""
    ns, memo = module.__dict__, {}
    for key, value in ns.items():
        if type(value) is dict and not key.startswith("__"):
            ns[key] = wrap(value, "", memo)
    return module


def _is_config_like(value: Any) -> bool:
    return (type(value) is LazyNode or isinstance(value, dict)
            or (not isinstance(value, type)
                and getattr(type(value), "__attrs_attrs__", None) is not None))


def _config_of(module: types.ModuleType, path: str) -> Any:
    ns = module.__dict__
    make = ns.get("make_config")
    if callable(make) and getattr(make, "__module__", None) == module.__name__:
        return _checked_config(make(), path, "make_config() returned")
    if "config" in ns:
        return _checked_config(ns["config"], path, "`config` is")
    public = {k: v for k, v in ns.items() if not k.startswith("_") and _is_config_like(v)}
    if not public:
        raise ConfigError(f"{path}: the file defines no make_config(), no `config` and no public "
                          f"config values (lazy nodes, dicts, attrs instances)", path)
    return wrap(public, path)


def _checked_config(value: Any, path: str, what: str) -> Any:
    if not (_is_config_like(value) or isinstance(value, (list, tuple))):
        raise ConfigError(f"{path}: {what} {type(value).__name__} {value!r:.60}, not a config; "
                          f"return an attrs config instance, a lazy node L(...)(...) or a dict",
                          path)
    return wrap(value, path)


def _run(path: str) -> Any:
    try:
        return _config_of(exec_config_file(path), path)
    except SystemExit as exc:  # sys.exit() in an experiment: an error, not the end of the caller
        raise _located(ConfigError(f"the config file called sys.exit({exc.code!r}); a config "
                                   f"file only builds a config (raise an exception to fail)",
                                   path), path, exc) from exc
    except Exception as exc:  # noqa: BLE001 - any failure of user code gets its file:line
        located = _located(exc, path)
        if located is exc:
            raise  # a ConfigError (now naming the line) keeps its type, traceback and cause
        raise located from exc


def _located(exc: Exception, path: str, raised: BaseException | None = None) -> Exception:
    """``exc`` as a ConfigError (its own type kept, ``ConfigImportError`` for import failures)
    naming the config-file line that raised it, once per error."""
    if getattr(exc, "__lz_located__", False):
        return exc
    pins = _PINS.get()
    pinned = list(pins.texts.values()) if pins else []
    site = _config_site(raised or exc) or path
    # an edit that fails only with a pinned option (a key that option lacks) says so
    note = f" (with the command-line choice {', '.join(pinned)})" if pinned else ""
    if isinstance(exc, ConfigError):
        err = exc  # a bad command-line choice names itself: its own text says what to fix
        if site not in exc.message and not any(f"override {t!r}" in exc.message for t in pinned):
            exc.message = f"{_short_source(site)}: {exc.message}{note}"
            exc.args = (exc.message,)
    else:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        err = (ConfigImportError if isinstance(exc, ImportError) else ConfigError)(
            f"{_short_source(site)}: {what} (raised while running the config file "
            f"{_short_source(path)}{note})", path)
    err.__lz_located__ = True  # type: ignore[attr-defined]
    return err


def _config_site(exc: BaseException) -> str:
    """``file:line (in function)`` of the innermost traceback frame inside a config file."""
    site = ""
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename in _CODE_CACHE:
            where = "" if code.co_name == "<module>" else f" (in {code.co_name})"
            site = f"{code.co_filename}:{tb.tb_lineno}{where}"
        tb = tb.tb_next
    return site


def _is_pin(ov: Override) -> bool:
    if len(ov.keys) != 1 or ov.kind != "set" or not isinstance(ov.keys[0], str):
        return False
    v = ov.value
    return isinstance(v, str) or (isinstance(v, list) and bool(v) and all(
        isinstance(x, str) for x in v))


def load(path: Any, overrides: Iterable[Any] = (), registry: Registry | None = None) -> Any:
    """Loads a config from an experiment ``.py`` file (or a ``.yaml`` written by ``save``) and
    applies ``overrides`` (group choices pinned while the file runs, the rest after it)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"load(path): path must be a file path (str or pathlib.Path), got "
                          f"{type(path).__name__} {path!r}")
    reg = registry or default_registry()
    full = _abspath(path)
    if not os.path.isfile(full):
        raise ConfigFileNotFoundError(f"config file not found: {os.fspath(path)!r} "
                                      f"(looked at {full})", os.fspath(path))
    parsed = _parse_all(overrides)
    ext = os.path.splitext(full)[1].lower()
    if ext in (".yaml", ".yml"):
        return apply_overrides(load_yaml(full), parsed, reg)
    if ext != ".py":
        raise ConfigError(f"{full}: unsupported config file type {ext!r} (use .py, or .yaml "
                          f"written by lazycfg.save)", full)
    pins = Pins(reg, {ov.keys[0]: ov for ov in parsed if _is_pin(ov)})
    token = _PINS.set(pins)
    try:
        cfg = _run(full)
    finally:
        _PINS.reset(token)
    _finish(cfg, parsed, pins, reg)
    return cfg


def _finish(cfg: Any, parsed: list[Override], pins: Pins, reg: Registry) -> None:
    root_keys = {k for k, _ in children(cfg)}
    later: list[Override] = []
    for ov in parsed:
        group, pin = ov.keys[0], _is_pin(ov)
        if pin and group in pins.used:
            continue  # already applied while the experiment ran
        if pin and group not in reg and group not in root_keys:
            groups = reg.groups()
            raise OverrideError(
                f"override {ov.text!r}: {group!r} is neither a registered config group nor a "
                f"key of the config.{suggest(group, [*groups, *map(str, root_keys)])} Groups: "
                f"{', '.join(groups) or 'none'}", group)
        if is_group_override(ov, reg):
            apply_group(cfg, ov, reg)
        else:
            later.append(ov)  # a root key set by a pin too: precedence 4
    for ov in later:
        apply_one(cfg, ov)


def load_rel(path: Any) -> Any:
    """The config of another experiment file, by a path relative to the calling file (pinned
    group choices hold; the outermost ``load`` applies the other overrides)."""
    frame = sys._getframe(1)
    caller = frame.f_globals.get("__file__")
    base = os.path.dirname(caller) if caller else os.getcwd()
    full = os.path.normpath(os.path.join(base, os.fspath(path)))
    if not os.path.isfile(full):
        raise ConfigFileNotFoundError(f"load_rel({os.fspath(path)!r}): no such file {full} "
                                      f"(relative to {caller or 'the working directory'})",
                                      os.fspath(path))
    return load_yaml(full) if full.endswith((".yaml", ".yml")) else _run(full)


# ----------------------------------------------------------------------------- lazy imports
def _lazy_import(name: str, globals: dict | None = None, locals: Any = None,
                 fromlist: Any = (), level: int = 0) -> Any:
    if level > 0:
        if globals is not None and globals.get(_CONFIG_MARK):
            return _config_import(name, globals, locals, fromlist, level)
        # no import statement may run here: __import__ itself is patched
        package = (globals or {}).get("__package__") or ""
        bits = package.rsplit(".", level - 1)
        if not package or len(bits) < level:
            raise ConfigImportError(f"relative import {'.' * level}{name} beyond the top-level "
                                    f"package inside lazy_imports()", name)
        name = f"{bits[0]}.{name}" if name else bits[0]
    return LazyRef(name) if fromlist else LazyRef(name.split(".")[0])


class lazy_imports:  # noqa: N801 - used like a function: ``with lazy_imports():``
    """``with lazy_imports(): from pkg.mod import Cls`` binds ``LazyRef("pkg.mod.Cls")``,
    importing nothing (``builtins.__import__`` is swapped inside the block)."""

    def __init__(self) -> None:
        self._saved: list[tuple[dict, Any]] = []

    def __enter__(self) -> lazy_imports:
        frame = sys._getframe(1)
        for table in {id(frame.f_builtins): frame.f_builtins,
                      id(builtins.__dict__): builtins.__dict__}.values():
            self._saved.append((table, table.get("__import__")))
            table["__import__"] = _lazy_import
        return self

    def __exit__(self, *exc: Any) -> None:
        for table, original in reversed(self._saved):
            table["__import__"] = original
        self._saved.clear()
