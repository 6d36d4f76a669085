"""``python -m lazycfg`` / ``lazycfg``: show, explain, diff and check config files.

Exit codes (for scripts): 0 success (``diff``: equal, ``check``: clean); 1 ``diff`` found
differences or ``check`` found problems; 2 the command itself failed (bad arguments, a file that
does not load, a malformed override).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

OK, FOUND, ERROR = 0, 1, 2
_EXITS = {
    "show": "exit codes: 0 shown; 2 error (a file that does not load, a malformed override)",
    "explain": "exit codes: 0 shown; 2 error (no such path, a file that does not load, ...)",
    "diff": "exit codes: 0 equal; 1 differences found (printed as override lines); 2 error",
    "check": "exit codes: 0 every file clean; 1 problems found; 2 a file failed to load",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lazycfg", description="Inspect lazycfg configs (experiment .py files or saved "
        "config.yaml files). Overrides use the key=value grammar of `tools/train.py`.",
        epilog="\n".join(f"{name}: {text}" for name, text in _EXITS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = sub.add_parser

    def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return add(name, epilog=_EXITS[name], **kwargs)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    def color_flags(sp: argparse.ArgumentParser) -> None:
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--color", dest="color", action="store_true", default=None,
                       help="colour the output (default: when writing to a terminal)")
        g.add_argument("--no-color", dest="color", action="store_false")

    show = sub.add_parser("show", help="print a config as a tree")
    show.add_argument("file")
    show.add_argument("overrides", nargs="*", default=[], help="key=value overrides")
    show.add_argument("--resolve", action="store_true", help="resolve ${...} interpolations")
    show.add_argument("--defaults", action="store_true",
                      help="also show signature defaults (imports the targets)")
    show.add_argument("-p", "--provenance", action="store_true",
                      help="show where each value was set")
    show.add_argument("--format", choices=("tree", "yaml", "py"), default="tree",
                      help="tree (default), the YAML `save` writes, or Python (`to_py`)")
    color_flags(show)

    explain = sub.add_parser("explain", help="print the history of one value")
    explain.add_argument("file")
    explain.add_argument("path", help="dotted config path, e.g. optimizer.lr")
    explain.add_argument("overrides", nargs="*", default=[], help="key=value overrides")

    diff = sub.add_parser("diff", help="print override lines that turn A into B")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--resolve", action="store_true", help="resolve both before comparing")

    check = sub.add_parser("check", help="check configs against their targets' signatures")
    check.add_argument("files", nargs="+", metavar="FILE_OR_OVERRIDE",
                       help="config files, then key=value overrides applied to each (as `show`)")
    check.add_argument("-o", "--override", action="append", default=[], dest="overrides",
                       help="a key=value override applied to every file (repeatable)")
    return p


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # noqa: SLF001 - argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return dict(action.choices)
    return {}


def _load(path: str, overrides: Sequence[str] = ()) -> Any:
    from lazycfg import load

    return load(path, list(overrides))


def _use_color(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _show(args: argparse.Namespace) -> int:
    cfg = _load(args.file, args.overrides)
    if args.resolve:
        from lazycfg import resolve

        resolve(cfg)
    if args.format == "yaml":
        from lazycfg import dumps

        sys.stdout.write(dumps(cfg, history=args.provenance))
    elif args.format == "py":
        from lazycfg import to_py

        sys.stdout.write(to_py(cfg))
    else:
        from lazycfg import render_tree

        sys.stdout.write(render_tree(cfg, color=_use_color(args.color),
                                     provenance=args.provenance, defaults=args.defaults))
    return OK


def _explain(args: argparse.Namespace) -> int:
    from lazycfg import ConfigError, explain
    from lazycfg.tree import format_path, is_glob, parse_key_path

    path = args.path
    if "=" in path or path[:1] in "~+":
        key = path.lstrip("~+").split("=", 1)[0].rstrip("+")
        raise ConfigError(f"{path!r} is an override, not a path: write the path to explain "
                          f"first, then the overrides (lazycfg explain {args.file} {key} "
                          f"{' '.join([*args.overrides, path])})", path)
    cfg = _load(args.file, args.overrides)
    keys = tuple(parse_key_path(path))
    paths = [format_path(k) for k in _matches(cfg, keys)] if any(map(is_glob, keys)) else [path]
    if not paths:
        raise ConfigError(f"{path!r} matches no value of the config", path)
    for p in paths:
        print(f"{p}:")
        for i, rec in enumerate(explain(cfg, p), 1):
            print(f"  {i}. {rec}")
    return OK


def _matches(cfg: Any, keys: tuple) -> list[tuple]:
    """The concrete key paths a globbed path names (those where the whole path exists)."""
    import fnmatch

    from lazycfg.tree import children, get_child, is_glob

    obj = cfg
    for i, key in enumerate(keys):
        if is_glob(key):
            return [m for k, _ in children(obj) if fnmatch.fnmatchcase(str(k), str(key))
                    for m in _matches(cfg, (*keys[:i], k, *keys[i + 1:]))]
        try:
            obj = get_child(obj, key)
        except AttributeError:  # ConfigKeyError: this branch lacks the rest of the path
            return []
    return [keys]


def _diff(args: argparse.Namespace) -> int:
    from lazycfg import diff

    a, b = _load(args.a), _load(args.b)
    if args.resolve:
        from lazycfg import resolve

        resolve(a)
        resolve(b)
    entries = diff(a, b)
    for e in entries:
        print(e)
    return FOUND if entries else OK


def _is_override(arg: str) -> bool:
    return "=" in arg or arg[:1] in "~+"


def _check(args: argparse.Namespace) -> int:
    from lazycfg import ConfigError, check

    status = OK
    files = [f for f in args.files if not _is_override(f)]
    args.overrides = [*args.overrides, *(f for f in args.files if _is_override(f))]
    if not files:
        raise ConfigError("check: no config file given (lazycfg check FILE... [key=value...])")
    for path in files:
        try:
            problems = check(_load(path, args.overrides))
        except Exception as e:  # noqa: BLE001 - one broken file must not hide the others
            print(f"{path}: error: {e}", file=sys.stderr)
            status = ERROR
            continue
        if problems:
            print(f"{path}: {len(problems)} problem(s)")
            for prob in problems:
                print(f"  {prob}")
            status = max(status, FOUND)
        else:
            print(f"{path}: ok")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 differences/problems found, 2 error)."""
    from lazycfg._errors import ConfigError

    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    subs = _subparsers(parser)
    try:
        if argv and argv[0] in subs:
            # flags may come after the overrides (`show x.py a=1 -p`): parse the command's own
            # arguments intermixed (argparse cannot do that through top-level subparsers)
            args = subs[argv[0]].parse_intermixed_args(
                argv[1:], namespace=argparse.Namespace(command=argv[0]))
        else:
            args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on usage errors and 0 on --help
        return int(e.code or 0)
    run = {"show": _show, "explain": _explain, "diff": _diff, "check": _check}[args.command]
    try:
        return run(args)
    except ConfigError as e:
        print(f"lazycfg {args.command}: error: {e}", file=sys.stderr)
        return ERROR
    except BrokenPipeError:  # `lazycfg show x.py | head`
        return OK
