"""load / load_rel / lazy_imports (lazycfg._loader) on the fixture experiment files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import lazycfg
from lazycfg import (
    ConfigDict,
    ConfigError,
    ConfigFileNotFoundError,
    ConfigImportError,
    L,
    OverrideError,
    Registry,
    choices,
    load,
    load_rel,
)
from tests.fixtures.lazycfg.toy import Config, Net

ROOT = Path(__file__).resolve().parents[2]


def test_make_config_defined_in_file(experiments: Path, toy_registry: Registry) -> None:
    cfg = load(experiments / "nemo.py", registry=toy_registry)
    assert isinstance(cfg, Config) and cfg.job.name == "2b_nemo"
    assert choices(cfg)["optimizer"] == "adamw"


def test_config_variable_and_public_globals(experiments: Path) -> None:
    cfg = load(experiments / "sub" / "child.py")
    assert cfg == {"lr": 2**-14.5, "sibling_value": 42} and isinstance(cfg, ConfigDict)
    glob = load(str(experiments / "globals_only.py"))  # an imported make_config does not count
    assert set(glob) == {"net", "data"} and glob.net == L(Net)(num_blocks=3)
    assert glob.data.batch_size == 4


def test_file_without_config(experiments: Path) -> None:
    with pytest.raises(ConfigError, match="defines no make_config"):
        load(experiments / "empty.py")


def test_missing_file_and_bad_extension(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileNotFoundError, match="not found") as info:
        load(tmp_path / "nope.py")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ConfigError)
    other = tmp_path / "x.toml"
    other.write_text("")
    with pytest.raises(ConfigError, match="unsupported config file type"):
        load(other)


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\nconfig = dict(\n")
    with pytest.raises(ConfigError, match="syntax error in config file .*bad.py:"):
        load(bad)


def test_relative_imports_reexecute_fresh(experiments: Path) -> None:
    mutated = load(experiments / "mutator.py")
    assert mutated.callbacks.low_prec.every_n == 999 and mutated.callbacks.mutated
    clean = load(experiments / "reader.py")
    assert clean.callbacks.low_prec.every_n == 7 and "mutated" not in clean.callbacks
    again = load(experiments / "mutator.py")
    assert again.callbacks.low_prec is not mutated.callbacks.low_prec


def test_no_modules_leak_into_sys_modules(experiments: Path, toy_registry: Registry) -> None:
    before = set(sys.modules)
    load(experiments / "nemo.py", registry=toy_registry)
    assert not [m for m in set(sys.modules) - before if m.startswith("lazycfg_config_")]


def test_bad_relative_import(experiments: Path) -> None:
    with pytest.raises(ConfigImportError, match="does_not_exist.py does not exist"):
        load(experiments / "bad_relative.py")


def test_relative_import_of_missing_name_from_package(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("v = 1\n")
    (tmp_path / "main.py").write_text("from .pkg import a, b\nconfig = dict(v=a.v)\n")
    with pytest.raises(ConfigImportError, match="has no 'b'"):
        load(tmp_path / "main.py")
    (tmp_path / "ok.py").write_text("from .pkg import a\nconfig = dict(v=a.v)\n")
    assert load(tmp_path / "ok.py").v == 1


def test_load_rel_non_identifier_name(experiments: Path, toy_registry: Registry) -> None:
    cfg = load(experiments / "2b_child.py", ["trainer.max_iter=7"], registry=toy_registry)
    assert cfg.job.name == "2b_child" and cfg.trainer.max_iter == 7
    assert cfg.optimizer.optim_type == "adamw"


def test_load_rel_errors_and_outside_load(experiments: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigFileNotFoundError, match="relative to"):
        load_rel("definitely_missing.py")
    (tmp_path / "rel.py").write_text(
        "from lazycfg import load_rel\nconfig = load_rel('../lazycfg_missing_dir/x.py')\n"
    )
    with pytest.raises(ConfigFileNotFoundError):
        load(tmp_path / "rel.py")
    sibling = tmp_path / "parent.py"
    sibling.write_text("config = dict(a=1)\n")
    (tmp_path / "child.py").write_text(
        "from lazycfg import load_rel\nconfig = load_rel('parent.py')\nconfig.b = 2\n"
    )
    assert load(tmp_path / "child.py") == {"a": 1, "b": 2}


def test_code_cache_invalidated_on_change(tmp_path: Path) -> None:
    f = tmp_path / "c.py"
    f.write_text("config = dict(a=1)\n")
    assert load(f).a == 1
    f.write_text("config = dict(a=22)\n")
    os.utime(f, ns=(os.stat(f).st_atime_ns, os.stat(f).st_mtime_ns + 10_000_000))
    assert load(f).a == 22


def test_root_key_string_override_is_a_key_set(tmp_path: Path) -> None:
    f = tmp_path / "c.py"
    f.write_text("config = dict(name='a', n=1)\n")
    cfg = load(f, ["name=bee", "n=2"], registry=Registry())
    assert cfg.name == "bee" and cfg.n == 2
    with pytest.raises(OverrideError, match="neither a registered config group nor a key"):
        load(f, ["nmae=bee"], registry=Registry())


def test_yaml_dispatch_with_overrides(
    tmp_path: Path, experiments: Path, toy_registry: Registry
) -> None:
    cfg = load(experiments / "nemo.py", registry=toy_registry)
    path = tmp_path / "config.yaml"
    lazycfg.save(cfg, path)
    back = load(path, ["trainer.max_iter=3", "optimizer=fusedadamw"], registry=toy_registry)
    assert back.trainer.max_iter == 3 and back.optimizer.optim_type == "fusedadam"
    # on a built config a group choice replaces the subtree with a fresh copy
    assert back.optimizer.lr == 1e-4


def test_lazy_imports_import_nothing(experiments: Path) -> None:
    code = (
        "import sys, lazycfg\n"
        f"cfg = lazycfg.load({str(experiments / 'lazy_targets.py')!r})\n"
        "assert 'tests.fixtures.lazycfg.heavy' not in sys.modules, 'imported'\n"
        "assert cfg.net == lazycfg.L('tests.fixtures.lazycfg.heavy.HeavyNet')(width=8)\n"
        "assert cfg.act == 'tests.fixtures.lazycfg.heavy.activation'\n"
        "lazycfg.apply_overrides(cfg, ['net.width=3', 'net.anything=1'])\n"
        "assert 'tests.fixtures.lazycfg.heavy' not in sys.modules, 'override imported'\n"
        "lazycfg.instantiate(cfg.net)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    # instantiate fails on the unknown 'anything' kwarg only after importing: accepted before
    assert "imported" not in out.stderr, out.stderr
    assert "InstantiationError" in out.stderr and "anything" in out.stderr


def test_lazy_imports_in_process(experiments: Path) -> None:
    cfg = load(experiments / "lazy_targets.py")
    from tests.fixtures.lazycfg.heavy import HeavyHead, HeavyNet, activation

    built = lazycfg.instantiate(cfg)
    assert isinstance(built["net"], HeavyNet) and isinstance(built["head"], HeavyHead)
    assert built["act"] is activation
    assert L(HeavyNet)(width=8) == cfg.net  # the class equals its lazy reference


def test_lazy_imports_restores_import() -> None:
    import builtins

    original = builtins.__import__
    with lazycfg.lazy_imports():
        from os.path import join as j

        import tests.fixtures.lazycfg.nothing_here as ref  # noqa: F401 - never imported
    assert builtins.__import__ is original
    assert isinstance(ref, lazycfg.LazyRef) and str(ref) == "tests.fixtures.lazycfg.nothing_here"
    assert j == "os.path.join"


def test_load_rel_outside_load_and_yaml(tmp_path: Path) -> None:
    cfg = load_rel("../fixtures/lazycfg/experiments/sub/child.py")
    assert cfg.sibling_value == 42
    lazycfg.save(ConfigDict(a=1), tmp_path / "saved.yaml")
    (tmp_path / "use_yaml.py").write_text(
        "from lazycfg import load_rel\nconfig = load_rel('saved.yaml')\nconfig.b = 2\n"
    )
    assert load(tmp_path / "use_yaml.py") == {"a": 1, "b": 2}


def test_lazy_imports_relative_in_package_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "lzpkg_rel"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "cfg.py").write_text(
        "from lazycfg import L, lazy_imports\n"
        "with lazy_imports():\n"
        "    from .models import Big\n"
        "node = L(Big)(x=1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    mod = importlib.import_module("lzpkg_rel.cfg")
    assert mod.node._target_ == "lzpkg_rel.models.Big"
    assert "lzpkg_rel.models" not in sys.modules


_DICT_SITES = """\
from lazycfg import L

opts = dict(lr=1, inner=dict(a=2))
plain = {"q": 3}


class Bag(dict):
    pass


def make_config():
    return dict(
        opts=opts, plain=plain, made=dict(x=4), bag=Bag(k=5),
        checks=[isinstance(opts, dict), isinstance({}, dict), issubclass(Bag, dict),
                isinstance(opts, Bag), type(Bag()) is Bag, str(dict[str, int]),
                sorted(dict.fromkeys("ab", 0))],
    )
"""


def test_dicts_written_with_dict_remember_their_line(tmp_path: Path) -> None:
    exp = tmp_path / "dict_sites.py"
    exp.write_text(_DICT_SITES)
    cfg = load(exp)
    sources = {
        p: str(lazycfg.explain(cfg, p)[0]) for p in ("opts.lr", "opts.inner.a", "made.x", "plain.q")
    }
    assert sources == {
        "opts.lr": f"1  <- {exp}:3",
        "opts.inner.a": f"2  <- {exp}:3",
        "made.x": f"4  <- {exp}:13",
        "plain.q": f"3  <- {exp}:12",
    }  # a {...} display: where it was placed
    # `dict` in a config file still behaves as the builtin for type checks and generics
    assert list(cfg.checks) == [True, True, True, False, True, "dict[str, int]", ["a", "b"]]
    assert type(cfg.bag).__name__ == "Bag" and cfg.bag["k"] == 5
    # the line survives save -> load
    back = lazycfg.loads(lazycfg.dumps(cfg))
    assert str(lazycfg.explain(back, "made.x")[0]) == f"4  <- {exp}:13"


_HELPER = "def helper():\n    return {}['nokey']\n"


@pytest.mark.parametrize(
    ("body", "error", "line", "text"),
    [
        pytest.param(
            "x = 1 / 0\n", ConfigError, 1, "ZeroDivisionError: division by zero", id="module-body"
        ),
        pytest.param(
            _HELPER + "def make_config():\n    helper()\n",
            ConfigError,
            2,
            "(in helper): KeyError: 'nokey'",
            id="inside-make_config",
        ),
        pytest.param(
            "import no_such_module_xyz\n",
            ConfigImportError,
            1,
            "No module named 'no_such_module_xyz'",
            id="import",
        ),
        pytest.param(
            "from lazycfg import L\n\ndef make_config():\n    return L(print)(_args_=1)\n",
            ConfigError,
            4,
            "_target_ and _args_ are set by",
            id="lazycfg-error-keeps-type",
        ),
    ],
)
def test_failure_while_running_a_config_file_names_its_line(
    tmp_path: Path, body: str, error: type, line: int, text: str
) -> None:
    exp = tmp_path / "broken.py"
    exp.write_text(body)
    with pytest.raises(error) as info:
        load(exp)
    msg = str(info.value)
    assert msg.startswith(f"{exp}:{line}") and text in msg, msg
    assert type(info.value) is error


def test_failure_in_a_parent_file_is_located_once(tmp_path: Path) -> None:
    (tmp_path / "parent.py").write_text("def make_config():\n    return dict(a=1 / 0)\n")
    child = tmp_path / "child.py"
    child.write_text("from lazycfg import load_rel\nconfig = load_rel('parent.py')\n")
    with pytest.raises(ConfigError) as info:
        load(child)
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'parent.py'}:2 (in make_config): ZeroDivisionError")
    assert msg.count("ZeroDivisionError") == 1
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_typo_in_experiment_names_the_line_and_suggests(tmp_path: Path) -> None:
    exp = tmp_path / "typo.py"
    exp.write_text(
        "from tests.fixtures.lazycfg.toy import Config\n\n"
        "def make_config():\n    cfg = Config()\n    cfg.jobb = 1\n    return cfg\n"
    )
    with pytest.raises(
        lazycfg.ConfigKeyError,
        match=r"typo.py:5 \(in make_config\): .*jobb.*"
        r"Did you mean 'job'",
    ):
        load(exp)


_PINNED_EDIT = """\
from lazycfg import ConfigDict, select


def make_config():
    cfg = ConfigDict(cb=None)
    select(cfg, "cb", "a")
    cfg.cb.x += 1
    return cfg
"""


@pytest.mark.parametrize(
    ("choice", "start", "text"),
    [
        pytest.param(
            "cb=zzz",
            "override 'cb=zzz': unknown option 'zzz'",
            "Valid options: a, b",
            id="bad-choice-is-the-override's-fault",
        ),
        pytest.param(
            "cb=b",
            "{exp}:7 (in make_config): ",
            "(with the command-line choice cb=b)",
            id="edit-the-pinned-option-lacks",
        ),
    ],
)
def test_errors_under_pinned_choices_say_who_is_at_fault(
    tmp_path: Path, choice: str, start: str, text: str
) -> None:
    reg = lazycfg.default_registry()
    reg.register("cb", "a", ConfigDict(x=1))
    reg.register("cb", "b", ConfigDict(y=1))
    exp = tmp_path / "pinned_edit.py"
    exp.write_text(_PINNED_EDIT)
    assert load(exp).cb == {"x": 2}
    with pytest.raises(ConfigError) as info:
        load(exp, [choice])
    msg = str(info.value)
    assert msg.startswith(start.format(exp=exp)) and text in msg, msg


def test_unknown_key_errors_list_what_exists(experiments: Path, toy_registry: Registry) -> None:
    with pytest.raises(
        OverrideError,
        match=r"'trainer.callbacks.nope': no such key\. Keys: "
        r"\w+, ",
    ):
        load(experiments / "nemo.py", ["trainer.callbacks.nope.every_n=5"], registry=toy_registry)


@pytest.mark.parametrize(
    ("call", "text"),
    [
        pytest.param(lambda: load(None), "path must be a file path", id="load-none"),
        pytest.param(lambda: load(5), "got int 5", id="load-int"),
        pytest.param(
            lambda: lazycfg.apply_overrides(ConfigDict(), None), "got NoneType", id="overrides-none"
        ),
    ],
)
def test_wrong_argument_types_are_config_errors(call, text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        call()
