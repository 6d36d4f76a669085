"""Static checks of a config against its targets' signatures, without building anything.

``check(cfg)`` imports each node's target (never calls it) and reports, per config path:

* ``import``: the target does not import;
* ``unknown-arg``: a kwarg the target does not accept (with did-you-mean);
* ``missing-arg``: a required parameter never set (``PLACEHOLDER`` marks one supplied at build
  time, e.g. ``params=``);
* ``bad-args``: positional arguments that do not bind (too many, or given twice);
* ``type``: a value contradicting the parameter's or the config-class field's annotation (a
  lazy node is checked by the class it builds).

Unresolved ``${...}`` strings are accepted anywhere (they are resolved later).
"""
from __future__ import annotations

from typing import Any

from lazycfg import tree as _tree
from lazycfg._errors import ConfigError
from lazycfg._node import LazyNode, LazyRef, resolve_target, suggest, target_name

IMPORT, UNKNOWN_ARG, MISSING_ARG, BAD_ARGS, TYPE = (
    "import", "unknown-arg", "missing-arg", "bad-args", "type")


class Problem:
    """One problem found by ``check``.

    Attributes:
        path: dotted config path of the offending value (or node).
        kind: "import", "unknown-arg", "missing-arg", "bad-args" or "type".
        message: what is wrong and what to do.
    """

    __slots__ = ("path", "kind", "message")

    def __init__(self, path: str, kind: str, message: str) -> None:
        self.path, self.kind, self.message = path, kind, message

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"

    def __repr__(self) -> str:
        return f"Problem({self.path!r}, {self.kind!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return (self.path, self.kind, self.message) == (other.path, other.kind, other.message)

    __hash__ = None  # type: ignore[assignment]


class CheckError(ConfigError):
    """Raised by ``check(cfg, strict=True)``; ``problems`` holds the list."""

    def __init__(self, problems: list[Problem]) -> None:
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"check found {len(problems)} problem(s):\n{lines}",
                         problems[0].path if problems else None)
        self.problems = problems


def check(cfg: Any, *, strict: bool = False) -> list[Problem]:
    """Report problems in ``cfg`` without building anything.

    Args:
        cfg: the config (nodes, mappings, lists, attrs configs).
        strict: raise ``CheckError`` (a ``ConfigError``) when there is any problem.

    Returns:
        The problems, in config order; empty when the config is clean.
    """
    problems: list[Problem] = []
    for keys, obj in _tree.walk(cfg):
        kind = _tree.kind_of(obj)
        if kind == "node":
            _check_node(obj, _tree.format_path(keys), problems)
        elif kind == "attrs":
            _check_attrs(obj, keys, problems)
    if strict and problems:
        raise CheckError(problems)
    return problems


def _join(path: str, key: Any) -> str:
    return _tree.format_path((*_tree.parse_path(path), key)) if path else _tree.format_path((key,))


def _check_node(node: LazyNode, path: str, problems: list[Problem]) -> None:
    import inspect  # lazy: `import lazycfg` stays light (inspect pulls in ast, 25 ms)

    name = target_name(node.__lz_target__)
    try:
        target = resolve_target(node, path)
    except Exception as e:  # noqa: BLE001 - any import-time failure is the same problem
        cause = e.__cause__ if isinstance(e, ConfigError) and e.__cause__ else e
        problems.append(Problem(path, IMPORT, f"target {name!r} does not import "
                                f"({_first_line(cause)}); fix the dotted path or install its "
                                "package"))
        return
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return  # builtins without a signature: nothing to check against
    params = sig.parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    keyword_ok = [n for n, p in params.items()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    kwargs = node.__lz_kwargs__
    known = {}
    for key in kwargs:
        if key in keyword_ok or var_kw:
            known[key] = None
        else:
            problems.append(Problem(
                _join(path, key), UNKNOWN_ARG,
                f"{name} does not accept {key!r}.{suggest(key, keyword_ok)} "
                f"Valid: {', '.join(keyword_ok) or 'none'}"))
    try:
        bound = sig.bind_partial(*node.__lz_args__, **known)
    except TypeError as e:
        problems.append(Problem(path, BAD_ARGS, f"L({name}) arguments do not bind: {e}"))
        return
    for pname, p in params.items():
        if (p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                and pname not in bound.arguments):
            problems.append(Problem(
                _join(path, pname), MISSING_ARG,
                f"required parameter {pname!r} of {name} is never set; set it, or write "
                f"{pname}=PLACEHOLDER if it is supplied at build time"))
    hints = _hints(target, params)
    for pname, value in bound.arguments.items():
        if pname in kwargs:
            value = kwargs[pname]
        elif params[pname].kind is params[pname].VAR_POSITIONAL:
            continue
        tp = hints.get(pname)
        if tp is not None:
            where = _join(path, pname) if pname in kwargs else _join(
                path, list(bound.arguments).index(pname))
            _check_type(value, tp, where, f"parameter {pname!r} of {name}", problems)


def _hints(target: Any, params: Any) -> dict[str, Any]:
    raw = {n: p.annotation for n, p in params.items() if p.annotation is not p.empty}
    if any(isinstance(v, str) for v in raw.values()):
        import typing

        fn = target.__init__ if isinstance(target, type) else target
        try:
            resolved = typing.get_type_hints(fn)
        except Exception:  # noqa: BLE001 - unresolvable forward refs: skip those
            resolved = {}
        raw = {k: resolved[k] for k in raw if k in resolved}
    return raw


_ATTRS_HINTS: dict[type, dict[str, Any]] = {}


def _attrs_hints(cls: type) -> dict[str, Any]:
    hints = _ATTRS_HINTS.get(cls)
    if hints is None:
        import typing

        try:
            hints = typing.get_type_hints(cls)
        except Exception:  # noqa: BLE001 - unresolvable forward refs: check what resolves
            hints = {a.name: a.type for a in cls.__attrs_attrs__
                     if a.type is not None and not isinstance(a.type, str)}
        _ATTRS_HINTS[cls] = hints
    return hints


def _check_attrs(obj: Any, keys: tuple, problems: list[Problem]) -> None:
    hints = _attrs_hints(type(obj))
    for key, value in _tree.children(obj):
        tp = hints.get(key)
        if tp is not None:
            _check_type(value, tp, _tree.format_path((*keys, key)),
                        f"field {key!r} of {type(obj).__name__}", problems)


def _check_type(value: Any, tp: Any, path: str, what: str, problems: list[Problem]) -> None:
    from lazycfg._types import type_repr, value_accepts

    if type(value) is LazyNode:
        built = _built_class(value)
        classes = _classes_of(tp)
        if LazyNode in classes:
            return  # the field holds the node itself (``Optional[LazyNode]``), built later
        if built is not None and classes:
            try:
                ok = any(issubclass(built, c) for c in classes)
            except TypeError:
                ok = True
            if not ok:
                problems.append(Problem(path, TYPE, f"{what} expects {type_repr(tp)}, but "
                                        f"L({target_name(value.__lz_target__)}) builds a "
                                        f"{built.__name__}"))
        return
    if not value_accepts(value, tp):
        problems.append(Problem(path, TYPE, f"{what} expects {type_repr(tp)}, got {value!r:.60} "
                                f"({type(value).__name__})"))


def _classes_of(tp: Any) -> list[type]:
    """The classes an annotation allows a built object to be; [] when it allows anything."""
    import typing

    if tp is Any or tp is object:
        return []
    origin = typing.get_origin(tp)
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        out: list[type] = []
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            sub = _classes_of(arg)
            if not sub:
                return []
            out += sub
        return out
    if origin is not None:
        return [origin] if isinstance(origin, type) else []
    return [tp] if isinstance(tp, type) else []


def _built_class(node: LazyNode) -> type | None:
    """The class a node builds, when its target is a class (None for functions or failures)."""
    target = node.__lz_target__
    try:
        obj = resolve_target(node) if isinstance(target, (str, LazyRef)) else target
    except Exception:  # noqa: BLE001 - reported as an import problem at that node's own path
        return None
    return obj if isinstance(obj, type) else None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
