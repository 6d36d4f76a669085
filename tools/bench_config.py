"""Benchmark: compose a Cosmos-shaped experiment with lazycfg, Hydra, and a plain-Python floor.

The same experiment (13 option groups, inheritance depth 5, ~230 leaves, 10 command-line
overrides with ``${...}`` interpolations and one group choice) is written three ways into a
temporary directory (see ``tools/_bench_config_tree.py``) and composed in fresh processes, in
rotating order, so every round gives paired ratios. Reported: medians, paired ratios, import
time, warm (in-process) time, YAML round trip, peak RSS, and fresh-process time with 30 vs 200
registered experiments. Hydra is optional (``pip install '.[bench]'``); without it the Hydra
rows are skipped.

Usage::

    python tools/bench_config.py [--rounds 15] [--warm 200] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench_config_tree as tree  # noqa: E402
from _docs_section import markers, replace_section  # noqa: E402

START, END = markers("bench_config")
NOW = "2024-05-06T07:08:09"
PATHS = ("lazycfg", "hydra", "floor")

# One fresh-process run per path: compose + overrides + resolve, print peak RSS (kB).
_RSS = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
_FRESH = {
    "lazycfg": (
        "import sys; sys.path[:0] = [{root!r}]; import lazycfg;"
        "cfg = lazycfg.load({exp!r}, {ovr!r}); lazycfg.resolve(cfg);" + _RSS
    ),
    "hydra": (
        "import sys; sys.path[:0] = [{root!r}]; from benchhy.run import load;"
        "cfg = load({name!r}, {ovr!r});" + _RSS
    ),
    "floor": (
        "import sys; sys.path[:0] = [{root!r}]; from benchfl.base import load;"
        "cfg = load({name!r}, {ovr!r});" + _RSS
    ),
}


def _roots(base: str) -> dict[str, str]:
    return {
        "lazycfg": os.path.join(base, "lc"),
        "hydra": os.path.join(base, "hy"),
        "floor": os.path.join(base, "fl"),
    }


def _snippet(path: str, base: str, template: dict[str, str] = _FRESH) -> str:
    root = _roots(base)[path]
    return template[path].format(
        root=root,
        exp=os.path.join(root, "experiments", tree.MEASURED + ".py"),
        name=tree.MEASURED,
        ovr=tree.OVERRIDES,
    )


_ENV: dict[str, str] = {}


def _env() -> dict[str, str]:
    """Child environment with bytecode caching on (as for any user), cached outside the repo."""
    if not _ENV:
        _ENV.update(os.environ)
        _ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        _ENV["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "bench_config_pycache")
    return _ENV


def _run(code: str, cwd: str | None = None) -> tuple[float, str]:
    """Wall time (s) of a fresh ``python -c code`` and its stdout; raises with its stderr."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=_env()
    )
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{code}\n{out.stderr[-3000:]}")
    return wall, out.stdout


def fresh_rounds(
    bases: dict[str, str],
    paths: tuple[str, ...],
    rounds: int,
) -> dict[str, dict[str, list[float]]]:
    """Fresh-process wall times, rotating the order of paths each round (paired samples)."""
    times: dict[str, dict[str, list[float]]] = {n: {p: [] for p in paths} for n in bases}
    rss: dict[str, list[float]] = {p: [] for p in paths}
    for base in bases.values():  # fill the bytecode cache first: every timed run finds it
        for p in paths:
            _run(_snippet(p, base))
    for i in range(rounds):
        order = paths[i % len(paths) :] + paths[: i % len(paths)]
        for n, base in bases.items():
            for p in order:
                wall, out = _run(_snippet(p, base))
                times[n][p].append(wall)
                if n == next(iter(bases)):
                    rss[p].append(float(out.strip().splitlines()[-1]) / 1024.0)
    times["_rss"] = rss  # type: ignore[assignment]
    return times


def python_startup(rounds: int) -> float:
    """Median wall time (s) of ``python -c pass``."""
    return statistics.median(_run("pass")[0] for _ in range(rounds))


def import_times(rounds: int) -> dict[str, float]:
    """Median in-process import time (ms) of each library, each in a fresh process."""
    code = (
        "import time, sys; t = time.perf_counter(); import {mod};"
        "dt = (time.perf_counter() - t) * 1e3;"
        "heavy = [m for m in ('torch', 'numpy', 'omegaconf', 'hydra', 'yaml') "
        "if m in sys.modules and m != '{mod}'.split('.')[0]];"
        "print(dt); print(','.join(heavy))"
    )
    out: dict[str, float] = {}
    for mod in ("lazycfg", "hydra", "omegaconf", "attrs", "yaml"):
        samples = []
        heavy = ""
        try:
            _run(code.format(mod=mod))  # bytecode cache
            for _ in range(rounds):
                text = _run(code.format(mod=mod))[1].splitlines()
                samples.append(float(text[0]))
                heavy = text[1] if len(text) > 1 else ""
        except RuntimeError:
            continue
        out[mod] = statistics.median(samples)
        if mod == "lazycfg":
            out["lazycfg_heavy"] = heavy  # type: ignore[assignment]
    return out


_WARM = {
    "lazycfg": (
        "import sys, time, statistics; sys.path[:0] = [{root!r}]; import lazycfg;"
        "f = lambda: lazycfg.resolve(lazycfg.load({exp!r}, {ovr!r}));"
        "f(); ts = []\n"
        "for _ in range({n}):\n t = time.perf_counter(); f(); "
        "ts.append(time.perf_counter() - t)\n"
        "print(statistics.median(ts) * 1e3)"
    ),
    "hydra": (
        "import sys, time, statistics; sys.path[:0] = [{root!r}];"
        "from benchhy.run import load; f = lambda: load({name!r}, {ovr!r});"
        "f(); ts = []\n"
        "for _ in range({n}):\n t = time.perf_counter(); f(); "
        "ts.append(time.perf_counter() - t)\n"
        "print(statistics.median(ts) * 1e3)"
    ),
    "floor": (
        "import sys, time, statistics; sys.path[:0] = [{root!r}];"
        "from benchfl.base import load; f = lambda: load({name!r}, {ovr!r});"
        "f(); ts = []\n"
        "for _ in range({n}):\n t = time.perf_counter(); f(); "
        "ts.append(time.perf_counter() - t)\n"
        "print(statistics.median(ts) * 1e3)"
    ),
}


def warm_times(base: str, paths: tuple[str, ...], n: int) -> dict[str, float]:
    """Median in-process time (ms) of compose + overrides + resolve after a first run."""
    out = {}
    for p in paths:
        reps = max(3, n // 20) if p == "hydra" else n
        code = _snippet(p, base, {k: v.replace("{n}", str(reps)) for k, v in _WARM.items()})
        out[p] = float(_run(code)[1].strip().splitlines()[-1])
    return out


_YAML = """
import sys, time, statistics
sys.path[:0] = [{lc!r}, {fl!r}]
import attrs, yaml, lazycfg
from lazycfg import dumps, loads
cfg = lazycfg.resolve(lazycfg.load({exp!r}, {ovr!r}))
def med(f, n):
    f(); ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3
text = dumps(cfg)
assert loads(text) == cfg
print(med(lambda: loads(dumps(cfg)), {n}), len(text))
print(med(lambda: loads(dumps(cfg, history=False)), {n}))
from benchfl.base import load
plain = attrs.asdict(load({name!r}, {ovr!r}))
D, Ld = yaml.CSafeDumper, yaml.CSafeLoader
print(med(lambda: yaml.load(yaml.dump(plain, Dumper=D), Loader=Ld), {n}))
try:
    from omegaconf import OmegaConf
    rt = lambda: OmegaConf.create(OmegaConf.to_yaml(OmegaConf.create(plain)))
    print(med(rt, max(3, {n} // 5)))
except ImportError:
    print("nan")
"""


def yaml_times(base: str, n: int) -> dict[str, float]:
    r = _roots(base)
    code = _YAML.format(
        lc=r["lazycfg"],
        fl=r["floor"],
        n=n,
        name=tree.MEASURED,
        ovr=tree.OVERRIDES,
        exp=os.path.join(r["lazycfg"], "experiments", tree.MEASURED + ".py"),
    )
    lines = _run(code)[1].split("\n")
    first = lines[0].split()
    return {
        "lazycfg": float(first[0]),
        "bytes": float(first[1]),
        "lazycfg_no_history": float(lines[1]),
        "plain_libyaml": float(lines[2]),
        "omegaconf": float(lines[3]),
    }


_VERIFY = {
    "lazycfg": (
        "import sys, json, datetime; sys.path[:0] = [{root!r}]; import lazycfg;"
        "import yaml;"
        "cfg = lazycfg.resolve(lazycfg.load({exp!r}, {ovr!r}),"
        " now=datetime.datetime.fromisoformat({now!r}));"
        "print(json.dumps(yaml.safe_load(lazycfg.dumps(cfg, history=False))['config'],"
        " sort_keys=True))"
    ),
    "hydra": (
        "import sys, json, datetime; sys.path[:0] = [{root!r}];"
        "from benchhy.run import load; from omegaconf import OmegaConf; import attrs;"
        "cfg = load({name!r}, {ovr!r}, now=datetime.datetime.fromisoformat({now!r}));"
        "plain = lambda x: ({{k: plain(v) for k, v in attrs.asdict(x, recurse=False)"
        ".items() if k != 'defaults'}} if attrs.has(type(x)) else "
        "plain(OmegaConf.to_container(x)) if OmegaConf.is_config(x) else "
        "{{k: plain(v) for k, v in x.items()}} if isinstance(x, dict) else "
        "[plain(v) for v in x] if isinstance(x, list) else x);"
        "print(json.dumps(plain(cfg), sort_keys=True))"
    ),
    "floor": (
        "import sys, json, datetime; sys.path[:0] = [{root!r}];"
        "from benchfl.base import load; import attrs;"
        "cfg = load({name!r}, {ovr!r}, now=datetime.datetime.fromisoformat({now!r}));"
        "print(json.dumps(attrs.asdict(cfg), sort_keys=True))"
    ),
}


def verify(base: str, paths: tuple[str, ...]) -> dict[str, Any]:
    """Compose with each path (fixed timestamp) and check that all final configs are equal."""
    tmpl = {k: v.replace("{now!r}", repr(NOW)) for k, v in _VERIFY.items()}
    results = {p: _normalise(json.loads(_run(_snippet(p, base, tmpl))[1])) for p in paths}
    ref = results["floor"]
    for p, value in results.items():
        if value != ref:
            raise AssertionError(
                f"{p} composes a different config than the floor:\n{_first_difference(ref, value)}"
            )
    return ref


def _normalise(x: Any) -> Any:
    """Plain JSON form shared by the three paths (lazycfg's YAML tags become plain values)."""
    if isinstance(x, dict):
        if "__tuple__" in x:
            return [_normalise(v) for v in x["__tuple__"]]
        if "__placeholder__" in x:
            return None
        return {k: _normalise(v) for k, v in x.items() if k != "_class_"}
    if isinstance(x, list):
        return [_normalise(v) for v in x]
    return x


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k, "<missing>") != b.get(k, "<missing>"):
                return _first_difference(
                    a.get(k, "<missing>"), b.get(k, "<missing>"), f"{path}.{k}"
                )
    return f"{path or '<root>'}: floor={a!r} other={b!r}"


def count_leaves(x: Any) -> int:
    if isinstance(x, dict):
        return sum(count_leaves(v) for v in x.values())
    if isinstance(x, list) and any(isinstance(v, (dict, list)) for v in x):
        return sum(count_leaves(v) for v in x)
    return 1


def _med(xs: list[float]) -> float:
    return statistics.median(xs) * 1e3


def _ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b))


def report(res: dict[str, Any]) -> str:
    """Markdown section with the table, targets and notes."""
    f30, f200 = res["fresh"]["30"], res["fresh"]["200"]
    has_hydra = "hydra" in f30
    lc, fl = f30["lazycfg"], f30["floor"]
    imp, warm, y = res["imports"], res["warm"], res["yaml"]
    r_floor = _ratio(lc, fl)
    r_hydra = _ratio(f30["hydra"], lc) if has_hydra else float("nan")
    growth = {p: _ratio(f200[p], f30[p]) for p in f30}
    targets = [
        ("fresh load / floor", f"{r_floor:.2f}x", "<= 1.5x", r_floor <= 1.5),
        ("Hydra / lazycfg (fresh)", f"{r_hydra:.2f}x", ">= 6x", r_hydra >= 6),
        ("warm load + 10 overrides", f"{warm['lazycfg']:.2f} ms", "<= 2 ms", warm["lazycfg"] <= 2),
        ("YAML save + load (history)", f"{y['lazycfg']:.2f} ms", "<= 5 ms", y["lazycfg"] <= 5),
        ("import lazycfg", f"{imp['lazycfg']:.1f} ms", "<= 15 ms", imp["lazycfg"] <= 15),
        (
            "200 vs 30 experiments (lazycfg)",
            f"{growth['lazycfg']:.2f}x",
            "flat (~1.0x)",
            growth["lazycfg"] <= 1.1,
        ),
    ]
    lines = [
        START,
        "## Config composition (`tools/bench_config.py`)",
        "",
        f"Cosmos-shaped experiment: 13 option groups, inheritance depth 5, {res['leaves']} "
        "leaves, 10 command-line overrides (one group choice, two `${...}` interpolations), "
        "resolved. The three paths compose the same final config (checked before timing). "
        f"{res['rounds']} rounds of fresh processes in rotating order; medians; ratios are "
        f"medians of per-round ratios. Python startup alone: {res['startup'] * 1e3:.0f} ms. "
        f"Machine: {res['machine']}.",
        "",
        "| path | fresh process (30 exps) | fresh (200 exps) | 200/30 | warm, in process | "
        "peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "lazycfg": "lazycfg `load` + overrides + `resolve`",
        "hydra": "Hydra ConfigStore + compose + resolve + attrs rebuild",
        "floor": "plain Python floor (attrs + dicts, naive overrides)",
    }
    for p in PATHS:
        if p not in f30:
            continue
        ratio = "" if p == "floor" else f" ({_ratio(f30[p], fl):.2f}x floor)"
        lines.append(
            f"| {names[p]} | {_med(f30[p]):.0f} ms{ratio} | {_med(f200[p]):.0f} ms | "
            f"{growth[p]:.2f}x | {warm[p]:.2f} ms | "
            f"{statistics.median(res['rss'][p]):.0f} MiB |"
        )
    lines += [
        "",
        "| import (in a fresh process) | ms |",
        "|---|---|",
        *[
            f"| `import {m}` | {imp[m]:.1f} |"
            for m in ("lazycfg", "attrs", "yaml", "omegaconf", "hydra")
            if m in imp
        ],
        "",
        f"Heavy modules pulled in by `import lazycfg`: {imp.get('lazycfg_heavy') or 'none'}.",
        "",
        "| YAML round trip of the final config (dump + load) | ms |",
        "|---|---|",
        f"| lazycfg `dumps` + `loads`, history included ({y['bytes'] / 1024:.0f} KiB) | "
        f"{y['lazycfg']:.2f} |",
        f"| lazycfg without history | {y['lazycfg_no_history']:.2f} |",
        f"| plain dicts, libyaml | {y['plain_libyaml']:.2f} |",
        f"| OmegaConf create + to_yaml + create | {y['omegaconf']:.2f} |",
        "",
        "| target (DESIGN section 8) | measured | target | met |",
        "|---|---|---|---|",
        *[f"| {n} | {m} | {t} | {'yes' if ok else '**no**'} |" for n, m, t, ok in targets],
    ]
    missed = [t for t in targets if not t[3]]
    if missed:
        lines += ["", "Missed targets:"]
        lines += [f"- {n}: {m} against {t}. {_why(n, res)}" for n, m, t, _ in missed]
    lines += ["", END]
    return "\n".join(lines) + "\n"


def _why(name: str, res: dict[str, Any]) -> str:
    """One sentence on why a target was missed, with the numbers of this run."""
    imp, warm, y = res["imports"], res["warm"], res["yaml"]
    startup = res["startup"] * 1e3
    if name.startswith("fresh"):
        return (
            f"A fresh lazycfg run is Python startup ({startup:.0f} ms) + `import lazycfg` "
            f"({imp.get('lazycfg', float('nan')):.0f} ms) + the first load (warm: "
            f"{warm['lazycfg']:.1f} ms; the first one also compiles 5 experiment files); "
            "the floor pays startup and `import attrs` only. On a loaded 2-core machine the "
            "ratio moves by +-0.2x between runs."
        )
    if name.startswith("Hydra"):
        return (
            f"Both paths pay Python startup ({startup:.0f} ms), which caps the ratio; this "
            "Hydra pipeline imports nothing but Hydra/OmegaConf and the benchmark's own "
            "modules (Cosmos's also imports its trainer and megatron), so it is a lower "
            "bound on the real Hydra path."
        )
    if name.startswith("warm"):
        return (
            "Each load re-executes the 5 experiment files of the chain (`load_rel` runs "
            "them fresh) and records provenance for every assignment."
        )
    load = (
        f" Python startup took {startup:.0f} ms in this run (DESIGN's quiet-machine "
        f"baseline: ~20 ms), so absolute times here are inflated by other load."
    )
    if name.startswith("import"):
        attrs_ms = imp.get("attrs", float("nan"))
        return (
            f"Same run, same machine: `import attrs` took {attrs_ms:.0f} ms (DESIGN: 22 ms), "
            f"so `import lazycfg` costs {imp.get('lazycfg', float('nan')) / attrs_ms:.2f}x "
            f"`import attrs` (the target is 15/22 = 0.68x).{load} See `python -X importtime "
            "-c 'import lazycfg'` for the modules that dominate."
        )
    if name.startswith("YAML"):
        return (
            f"Without history the round trip takes {y['lazycfg_no_history']:.1f} ms (plain "
            f"dicts with libyaml: {y['plain_libyaml']:.1f} ms here, 2.4 ms in DESIGN's "
            "baseline): PyYAML's Python-level representer and constructor dominate even with "
            "libyaml; history and sites are written as JSON-lines blocks (one YAML scalar "
            f"each) to keep them cheap.{load}"
        )
    return "Timing noise on a shared machine; rerun with more rounds."


def write_section(path: str, section: str) -> None:
    """Replace (or append) this tool's section of ``path``, leaving other sections alone."""
    replace_section(path, "bench_config", section)


def run(
    rounds: int = 15, warm: int = 200, with_hydra: bool = True, workdir: str | None = None
) -> dict[str, Any]:
    """Run every measurement and return the raw results (see ``report``)."""
    paths = PATHS if with_hydra else ("lazycfg", "floor")
    tmp = workdir or tempfile.mkdtemp(prefix="bench_config_")
    bases = {"30": os.path.join(tmp, "n30"), "200": os.path.join(tmp, "n200")}
    tree.write_all(bases["30"], 30)
    tree.write_all(bases["200"], 200)
    final = verify(bases["30"], paths)
    fresh = fresh_rounds(bases, paths, rounds)
    rss = fresh.pop("_rss")
    return {
        "rounds": rounds,
        "leaves": count_leaves(final),
        "fresh": fresh,
        "rss": rss,
        "startup": python_startup(max(3, rounds // 2)),
        "imports": import_times(max(3, rounds // 2)),
        "warm": warm_times(bases["30"], paths, warm),
        "yaml": yaml_times(bases["30"], warm),
        "machine": _machine(),
    }


def _machine() -> str:
    import platform

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=15, help="fresh-process rounds per path")
    p.add_argument("--warm", type=int, default=200, help="in-process repetitions")
    p.add_argument("--write", metavar="FILE", help="update this markdown file's section")
    p.add_argument("--no-hydra", action="store_true", help="skip the Hydra path")
    args = p.parse_args(argv)
    with_hydra = not args.no_hydra
    if with_hydra:
        try:
            import hydra  # noqa: F401
        except ImportError:
            print(
                "hydra-core is not installed (pip install '.[bench]'): skipping the Hydra path",
                file=sys.stderr,
            )
            with_hydra = False
    section = report(run(args.rounds, args.warm, with_hydra))
    print(section)
    if args.write:
        write_section(args.write, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
