"""Regression tables for the classes of bad input of issue 13.

Every row must give a ``ConfigError`` subclass whose message names the path (or file:line) and
says what to do; none may give another exception, hang, run code or be silently accepted.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lazycfg
from lazycfg import (
    ConfigDict,
    ConfigError,
    ConfigTypeError,
    FrozenConfigError,
    L,
    OverrideError,
    ResolveError,
    SerializationError,
    apply_overrides,
    choices,
)
from tests.fixtures.lazycfg import toy

HEADER = "__lazycfg__: {version: 1}\n"
TOY = "tests.fixtures.lazycfg.toy"


def _toy() -> Any:
    return toy.make_config()


def _with_cfp(cfg: Any) -> Any:
    return apply_overrides(cfg, ["model.config.conditional_frames_probs={0: 0.5}"], toy.REGISTRY)


# ----------------------------------------------------------------------------- 1: group values
GROUP_VALUES = [
    ("int", "optimizer=1", "optimizer"),
    ("mapping", "model={lr: 0.1}", "model"),
    ("nested_package_int", "net=7", "net"),
    ("float", "scheduler=0.5", "scheduler"),
    ("list_of_ints", "callbacks=[1,2]", "callbacks"),
    ("bool", "data_train=true", "data_train"),
]


@pytest.mark.parametrize(
    "text,group", [r[1:] for r in GROUP_VALUES], ids=[r[0] for r in GROUP_VALUES]
)
def test_group_value_must_name_an_option(text: str, group: str) -> None:
    cfg = _toy()
    before = choices(cfg)
    with pytest.raises(OverrideError) as info:
        apply_overrides(cfg, [text], toy.REGISTRY)
    msg = str(info.value)
    for option in toy.REGISTRY.options(group):
        assert option in msg
    assert choices(cfg) == before


def test_group_value_error_also_at_load(experiments: Path) -> None:
    with pytest.raises(OverrideError, match="adamw, fusedadamw"):
        lazycfg.load(experiments / "exp_a.py", ["optimizer=1"], registry=toy.REGISTRY)


# ----------------------------------------------------------------------------- 2: typed mappings
TYPED = [
    ("add_str_key_to_int_keyed", ["+model.config.conditional_frames_probs.foo=0.5"], "key"),
    ("add_str_value", ["+model.config.conditional_frames_probs.3=abc"], "expected float"),
    ("force_str_value", ["++model.config.conditional_frames_probs.0=abc"], "expected float"),
    ("merge_str_value", ["model.config.conditional_frames_probs={1: abc}"], "expected float"),
    ("merge_str_key", ["model.config.conditional_frames_probs={x: 0.1}"], "key"),
    ("set_str_value", ["model.config.conditional_frames_probs.0=abc"], "expected float"),
]


@pytest.mark.parametrize("overrides,words", [r[1:] for r in TYPED], ids=[r[0] for r in TYPED])
def test_typed_mapping_items_are_checked(overrides: list, words: str) -> None:
    cfg = _with_cfp(_toy())
    with pytest.raises(ConfigTypeError) as info:
        apply_overrides(cfg, overrides, toy.REGISTRY)
    assert "conditional_frames_probs" in str(info.value) and words in str(info.value)
    assert dict(cfg.model.config.conditional_frames_probs) == {0: 0.5}


def test_typed_mapping_accepts_fitting_items() -> None:
    cfg = _with_cfp(_toy())
    apply_overrides(
        cfg,
        [
            "+model.config.conditional_frames_probs.1=1",
            "model.config.conditional_frames_probs={2: 0.25}",
        ],
        toy.REGISTRY,
    )
    probs = cfg.model.config.conditional_frames_probs
    assert probs == {0: 0.5, 1: 1.0, 2: 0.25} and type(probs[1]) is float


# ----------------------------------------------------------------------------- 3: malformed YAML
CLASS = f"_class_: {TOY}.TrainerConfig"
MALFORMED = [
    ("invalid_utf8", HEADER.encode() + b"config: {a: '\xff\xfe'}\n", "not UTF-8"),
    ("bad_int_tag", HEADER + "config: {a: !!int abc}\n", "does not fit its tag"),
    ("bad_float_tag", HEADER + "config: {a: !!float x}\n", "does not fit its tag"),
    ("unknown_yaml_tag", HEADER + "config: {a: !!python/name:os.system ''}\n", "not valid YAML"),
    ("tuple_not_list", HEADER + "config: {a: {__tuple__: 5}}\n", "__tuple__ must hold a list"),
    ("tuple_extra_key", HEADER + "config: {a: {__tuple__: [1], b: 2}}\n", "unexpected entry"),
    ("class_not_str", HEADER + "config: {_class_: 5}\n", "not a dotted class name"),
    ("class_list", HEADER + "config: {_class_: [a]}\n", "not a dotted class name"),
    ("class_not_attrs", HEADER + f"config: {{_class_: {TOY}.Net}}\n", "not an attrs class"),
    ("object_not_str", HEADER + "config: {a: {__object__: 5}}\n", "__object__ must hold a str"),
    ("mapping_not_dict", HEADER + "config: {a: {__mapping__: 5}}\n", "__mapping__ must hold"),
    ("args_not_list", HEADER + "config: {a: {_target_: x.y, _args_: 5}}\n", "_args_ must be"),
    ("target_not_str", HEADER + "config: {a: {_target_: 5}}\n", "_target_ must be a str"),
    (
        "recursive_not_bool",
        HEADER + "config: {a: {_target_: x.y, _recursive_: 1}}\n",
        "_recursive_ must be a bool",
    ),
    ("kwarg_not_str", HEADER + "config: {a: {_target_: x.y, 1: 2}}\n", "is not a str"),
    ("partial_not_str", HEADER + "config: {a: {__partial__: 5}}\n", "__partial__ must hold"),
    (
        "partial_args",
        HEADER + "config: {a: {__partial__: math.floor, args: 5}}\n",
        "unexpected entry 'args'",
    ),
    ("placeholder_shape", HEADER + "config: {a: {__placeholder__: [1]}}\n", "must hold a bool"),
    ("history_not_block", HEADER + "config: {a: 1}\nhistory: 5\n", "'history' must be"),
    ("history_row", HEADER + "config: {a: 1}\nhistory: |\n  [1]\n", "malformed history line"),
    (
        "history_record",
        HEADER + 'config: {a: 1}\nhistory: |\n  [".", "a", [5]]\n',
        "each record is",
    ),
    ("history_json", HEADER + "config: {a: 1}\nhistory: |\n  [1,\n", "unreadable history"),
    ("sites_row", HEADER + "config: {a: 1}\nsites: |\n  [1, 2, 3]\n", "malformed sites line"),
    ("choices_int", HEADER + "config: {a: 1}\nchoices: 5\n", "'choices' must map"),
    ("choices_values", HEADER + "config: {a: 1}\nchoices: {g: {x: 1}}\n", "'choices' must map"),
    ("config_int", HEADER + "config: 5\n", "holds a int, not a config"),
    ("config_missing", HEADER, "no 'config:' entry"),
    ("recursive_anchor", HEADER + "config: &a [*a]\n", "recursive anchor"),
    ("recursive_mapping", HEADER + "config: &a {x: *a}\n", "recursive anchor"),
    (
        "wrong_type_in_field",
        HEADER + f"config: {{{CLASS}, max_iter: true}}\n",
        "max_iter: expected int",
    ),
    ("str_in_int_field", HEADER + f"config: {{{CLASS}, seed: abc}}\n", "seed: expected int"),
    ("unhashable_key", HEADER + "config: {? [1, 2] : 3}\n", "not valid YAML"),
]


@pytest.mark.parametrize("text,words", [r[1:] for r in MALFORMED], ids=[r[0] for r in MALFORMED])
def test_malformed_yaml_is_a_config_error(text: Any, words: str, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigError) as info:
        lazycfg.load(path)
    assert words in str(info.value) and str(path) in str(info.value)


# ----------------------------------------------------------------------------- 4: data only
UNTRUSTED = [
    ("class_this", "config: {_class_: this.X}\n", "'this'"),
    ("object_os_system", "config: {a: {__object__: os.system}}\n", "'os'"),
    ("partial_subprocess", "config: {a: {__partial__: subprocess.call}}\n", "'subprocess'"),
    ("object_builtins_exec", "config: {a: {__object__: builtins.exec}}\n", "'builtins'"),
    ("class_antigravity", "config: {_class_: antigravity.X}\n", "'antigravity'"),
]


@pytest.mark.parametrize("text,package", [r[1:] for r in UNTRUSTED], ids=[r[0] for r in UNTRUSTED])
def test_loading_yaml_imports_only_trusted_packages(
    text: str, package: str, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(HEADER + text)
    code = (
        "import sys, lazycfg\n"
        "try:\n"
        f"    lazycfg.load({str(path)!r})\n"
        "except lazycfg.SerializationError as e:\n"
        "    print('ERROR', e)\n"
        "print('IMPORTED', sorted(m for m in ('this', 'antigravity', 'subprocess')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "ERROR" in out and f"package {package} is not trusted" in out
    assert "lazycfg.trust(" in out and "The Zen of Python" not in out
    assert "IMPORTED []" in out


def test_targets_stay_dotted_names_and_trusted_packages_load(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(HEADER + "config: {a: {_target_: this.X}, f: {__object__: os.sep}}\n")
    with pytest.raises(SerializationError, match="'os' is not trusted"):
        lazycfg.load(path)
    monkeypatch.setenv("LAZYCFG_TRUST", "os")
    cfg = lazycfg.load(path)
    assert cfg.a._target_ == "this.X" and cfg.f == __import__("os").sep


# ----------------------------------------------------------------------------- 5: parser limits
PARSER = [
    ("deep_list", "a=" + "[" * 500, "nested deeper"),
    ("deep_dict", "a=" + "{k:" * 300, "nested deeper"),
    ("deep_tuple", "a=" + "(" * 1000 + ")" * 1000, "nested deeper"),
    ("unhashable_key", "a={(1,[2]):0.5}", "dict key must be a scalar"),
    ("list_key", "a={[1]: 2}", "dict key must be a scalar"),
    ("dict_key", "a={{x: 1}: 2}", "dict key must be a scalar"),
    ("bad_bracket_key", "a[x y]=1", "list index must be an integer"),
]


@pytest.mark.parametrize("text,words", [r[1:] for r in PARSER], ids=[r[0] for r in PARSER])
def test_parser_limits_are_override_errors(text: str, words: str) -> None:
    with pytest.raises(OverrideError, match=words):
        apply_overrides(ConfigDict(a=1), [text])


QUOTED = [
    ("star", "lr_mult['blocks.*']=0.5", "blocks.*"),
    ("question", "lr_mult['b?']=0.5", "b?"),
    ("star_only", "lr_mult['*']=0.5", "*"),
]


@pytest.mark.parametrize("text,key", [r[1:] for r in QUOTED], ids=[r[0] for r in QUOTED])
def test_quoted_key_with_glob_characters_is_literal(text: str, key: str) -> None:
    cfg = ConfigDict(lr_mult={key: 1.0, "blocks.0": 2.0, "bb": 3.0})
    apply_overrides(cfg, [text])
    assert cfg.lr_mult == {key: 0.5, "blocks.0": 2.0, "bb": 3.0}


# ----------------------------------------------------------------------------- 6: diff lines
def _rebuilds(a: Any, b: Any) -> list[str]:
    lines = [str(e) for e in lazycfg.diff(a, b)]
    copy = lazycfg.loads(lazycfg.dumps(a))
    apply_overrides(copy, [ln for ln in lines if not ln.startswith("#")], toy.REGISTRY)
    return lines


DIFFS: list[tuple[str, Callable[[], Any], Callable[[Any], None]]] = [
    ("bool_key", lambda: ConfigDict(x={True: 1}), lambda c: c.x.__setitem__(True, 2)),
    ("none_key", lambda: ConfigDict(x={None: 1}), lambda c: c.x.__setitem__(None, 2)),
    ("float_key", lambda: ConfigDict(x={0.5: 1}), lambda c: c.x.__setitem__(0.5, 2)),
    ("new_float_key", lambda: ConfigDict(x={}), lambda c: c.x.__setitem__(1.5, 2)),
    ("negative_int_key", lambda: ConfigDict(x={}), lambda c: c.x.__setitem__(-1, 2)),
    ("str_minus_one_key", lambda: ConfigDict(x={}), lambda c: c.x.__setitem__("-1", 2)),
    ("digit_str_key", lambda: ConfigDict(x={0: 1}), lambda c: c.x.__setitem__("0", 2)),
    ("deleted_group", _toy, lambda c: setattr(c, "optimizer", None)),
]


@pytest.mark.parametrize("make,edit", [r[1:] for r in DIFFS], ids=[r[0] for r in DIFFS])
def test_diff_lines_rebuild_the_other_config(make: Callable, edit: Callable) -> None:
    a, b = make(), make()
    edit(b)
    lines = [str(e) for e in lazycfg.diff(a, b)]
    assert lines and not any(ln.startswith("#") for ln in lines)
    copy = lazycfg.loads(lazycfg.dumps(a))
    apply_overrides(copy, lines, toy.REGISTRY)
    assert copy == b and not lazycfg.diff(copy, b)


def test_lazy_node_value_is_a_comment_in_diff_and_an_error_in_overrides() -> None:
    a, b = ConfigDict(a=1), ConfigDict(a=1, y=L(dict)(z=2))
    (entry,) = lazycfg.diff(a, b)
    assert str(entry).startswith("# not expressible") and not entry.expressible
    with pytest.raises(OverrideError, match="lazy node"):
        apply_overrides(ConfigDict(a=1), ["+y=L(builtins.dict)(z=2)"])
    apply_overrides(a, ["+y='L(builtins.dict)(z=2)'"])  # quoted: the string, on purpose
    assert a.y == "L(builtins.dict)(z=2)"


# ----------------------------------------------------------------------------- 7: NaN
NANS = [
    ("mapping", lambda: ConfigDict(a=float("nan"))),
    ("node_kwarg", lambda: ConfigDict(n=L(toy.add)(a=float("nan")))),
    ("node_arg", lambda: ConfigDict(n=L(toy.add)(float("nan")))),
    ("list", lambda: ConfigDict(a=[1.0, float("nan")])),
    ("typed_field", lambda: toy.ModelConfig(conditional_frames_probs={0: float("nan")})),
    ("tuple", lambda: ConfigDict(a=(float("nan"), 1))),
]


@pytest.mark.parametrize("make", [r[1] for r in NANS], ids=[r[0] for r in NANS])
def test_nan_config_equals_its_round_trips(make: Callable, tmp_path: Path) -> None:
    cfg = make()
    back_yaml = lazycfg.loads(lazycfg.dumps(cfg))
    py = tmp_path / "c.py"
    py.write_text(lazycfg.to_py(cfg))
    back_py = lazycfg.load(py)
    for back in (back_yaml, back_py):
        assert back == cfg and not lazycfg.diff(cfg, back) and not lazycfg.diff(back, cfg)
    other = make()
    lazycfg.apply_overrides(other, [])
    assert other == cfg


def test_nan_from_an_override_equals_a_nan_value() -> None:
    cfg = apply_overrides(ConfigDict(a=1.0), ["a=nan"])
    assert math.isnan(cfg.a) and cfg == ConfigDict(a=float("nan"))


# ----------------------------------------------------------------------------- 8: frozen args
FROZEN_ARGS = [
    ("append", lambda n: n._args_.append(3)),
    ("setitem", lambda n: n._args_.__setitem__(0, 5)),
    ("extend", lambda n: n._args_.extend([1])),
    ("clear", lambda n: n._args_.clear()),
    ("iadd", lambda n: n._args_.__iadd__([1])),
    ("assign", lambda n: setattr(n, "_args_", [9])),
    ("index", lambda n: n.__setitem__(0, 9)),
]


@pytest.mark.parametrize("mutate", [r[1] for r in FROZEN_ARGS], ids=[r[0] for r in FROZEN_ARGS])
def test_frozen_node_args_refuse_changes(mutate: Callable) -> None:
    cfg = lazycfg.freeze(ConfigDict(n=L(toy.Pair)(1, 2)))
    with pytest.raises(FrozenConfigError, match="n"):
        mutate(cfg.n)
    assert cfg.n._args_ == [1, 2]
    with lazycfg.unfreeze(cfg):
        mutate(cfg.n)  # allowed inside the explicit scope


# ----------------------------------------------------------------------------- 9: interpolation
def _omegaconf_at_least(major: int, minor: int) -> bool:
    from importlib.metadata import version

    return tuple(int(p) for p in version("omegaconf").split(".")[:2]) >= (major, minor)


# OmegaConf 2.4 indexes lists from the end (2.3 refuses): lazycfg follows the installed one.
_NEG = _omegaconf_at_least(2, 4)
INTERP = [
    ("negative_index", "${l.-1}", 11 if _NEG else None),
    ("negative_first", "${l.-12}", 0 if _NEG else None),
    ("negative_out_of_range", "${l.-13}", None),
    ("underscore_index", "${l._1}", None),
    ("underscore_digits", "${l.1_0}", 10),
    ("leading_zero", "${l.01}", 1),
    ("plus_sign", "${l.+1}", 1),
    ("minus_zero", "${l.-0}", 0),
    ("out_of_range", "${l.12}", None),
]


@pytest.mark.parametrize("text,expected", [r[1:] for r in INTERP], ids=[r[0] for r in INTERP])
def test_list_index_forms_match_omegaconf(text: str, expected: Any) -> None:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    oc = OmegaConf.create({"l": list(range(12)), "x": text})
    cfg = ConfigDict(l=list(range(12)), x=text)
    if expected is None:
        with pytest.raises(OmegaConfBaseException):
            _ = oc.x
        with pytest.raises(ResolveError, match="x"):
            lazycfg.resolve(cfg)
    else:
        assert oc.x == expected
        assert lazycfg.resolve(cfg).x == expected


def test_omegaconf_fallback_runs_under_warnings_as_errors() -> None:
    code = (
        "import lazycfg; c = lazycfg.ConfigDict(a='${oc.decode:\"[1, 2]\"}', b='${now:%Y}');"
        "lazycfg.resolve(c); assert c.a == [1, 2]"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


# ----------------------------------------------------------------------------- 10: loading
LOADING = [
    ("relative_dict_literal", "from .base import d\nd.a = 2\nconfig = d\n", None),
    ("relative_shared_dict", "from .base import d, e\nd.a = 3\nconfig = e\n", None),
    ("make_config_none", "def make_config():\n    return None\n", "make_config() returned"),
    ("make_config_int", "def make_config():\n    return 5\n", "make_config() returned"),
    ("config_str", "config = 'x'\n", "`config` is"),
    ("sys_exit", "import sys\nsys.exit(3)\n", "sys.exit(3)"),
    ("sys_exit_in_make", "import sys\ndef make_config():\n    sys.exit()\n", "sys.exit(None)"),
    ("raise_keyboard_like", "raise SystemExit('bye')\n", "sys.exit('bye')"),
]


@pytest.mark.parametrize("src,words", [r[1:] for r in LOADING], ids=[r[0] for r in LOADING])
def test_loading_experiment_files(src: str, words: str | None, tmp_path: Path) -> None:
    (tmp_path / "base.py").write_text("d = {'a': 1}\ne = {'inner': d}\n")
    (tmp_path / "exp.py").write_text(src)
    if words is None:
        cfg = lazycfg.load(tmp_path / "exp.py")
        assert cfg.get("a", None) == 2 or cfg.inner.a == 3
        return
    with pytest.raises(ConfigError) as info:
        lazycfg.load(tmp_path / "exp.py")
    assert words in str(info.value) and "exp.py" in str(info.value)


# ----------------------------------------------------------------------------- 12: printing
def test_explain_and_diff_print_tidily() -> None:
    cfg = ConfigDict(a=1)
    cfg.a = 2
    text = str(lazycfg.explain(cfg, "a"))
    lines = text.splitlines()
    assert lines[0].startswith("1. 1  <- ") and lines[1].startswith("2. 2  <- ")
    assert str(lazycfg.diff(ConfigDict(a=1), ConfigDict(a=2, b=3))) == "a=2\n+b=3"
    assert str(lazycfg.diff(cfg, cfg)) == "(no differences)"


def test_cli_check_takes_positional_overrides(experiments: Path, capsys) -> None:
    from lazycfg.__main__ import main

    assert main(["check", str(experiments / "exp_b.py"), "trainer.max_iter=5"]) == 0
    assert main(["check", str(experiments / "exp_b.py"), "trainer.max_iterr=5"]) == 2
    assert "max_iterr" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["show", "explain", "diff", "check"])
def test_cli_help_documents_exit_codes(command: str, capsys) -> None:
    from lazycfg.__main__ import main

    assert main([command, "--help"]) == 0
    assert "exit codes: 0" in capsys.readouterr().out
