"""``import lazycfg`` stays light: none of torch, numpy, hydra, omegaconf, yaml (nor attrs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "numpy", "hydra", "omegaconf", "yaml", "attrs", "attr")


def test_import_pulls_in_no_heavy_module() -> None:
    code = f"import sys, lazycfg\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "", f"imported at `import lazycfg`: {out.stdout.strip()}"


def test_public_names() -> None:
    import lazycfg

    for name in (
        "LazyCall",
        "L",
        "instantiate",
        "load",
        "load_rel",
        "apply_overrides",
        "Registry",
        "register",
        "select",
        "default_registry",
        "freeze",
        "is_frozen",
        "unfreeze",
        "choices",
        "PLACEHOLDER",
        "save",
        "to_py",
        "resolve",
        "explain",
        "diff",
        "check",
        "ConfigError",
        "OverrideError",
        "InstantiationError",
        "FrozenConfigError",
        "SerializationError",
        "ConfigTypeError",
        "configclass",
        "lazy_imports",
    ):
        assert hasattr(lazycfg, name), name
    assert set(lazycfg.__all__) <= set(dir(lazycfg))
    for err in (
        "OverrideError",
        "InstantiationError",
        "FrozenConfigError",
        "SerializationError",
        "ConfigTypeError",
        "RegistryError",
        "ResolveError",
        "ConfigFileNotFoundError",
        "ConfigKeyError",
        "ConfigImportError",
        "CheckError",
    ):
        assert issubclass(getattr(lazycfg, err), lazycfg.ConfigError)


def test_result_types_are_public() -> None:
    import lazycfg

    cfg = lazycfg.L("no_such_pkg_xyz.Thing")(a=1)
    problems = lazycfg.check(cfg)
    assert problems and all(isinstance(p, lazycfg.Problem) for p in problems)
    try:
        lazycfg.check(cfg, strict=True)
    except lazycfg.CheckError as e:
        assert e.problems == problems
    else:
        raise AssertionError("check(strict=True) did not raise CheckError")
    entries = lazycfg.diff(lazycfg.ConfigDict(a=1), lazycfg.ConfigDict(a=2))
    assert [type(e) for e in entries] == [lazycfg.DiffEntry] and str(entries[0]) == "a=2"
    assert all(isinstance(r, lazycfg.Record) for r in lazycfg.explain(cfg, "a"))
