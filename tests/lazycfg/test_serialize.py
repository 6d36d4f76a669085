"""Tests for lazycfg._io (save/load/dumps/loads/fingerprint) and to_py."""

from __future__ import annotations

import enum
import functools
import os
import subprocess
import sys
from typing import Any

import attrs
import pytest
import yaml

import lazycfg
from lazycfg import PLACEHOLDER, ConfigDict, L, explain
from lazycfg._configclass import configclass
from lazycfg._errors import ConfigError, SerializationError
from lazycfg._io import dumps, fingerprint, load_yaml, loads, save, to_py
from lazycfg._node import get_choices, set_choices


@pytest.fixture(autouse=True)
def _trust_builtins(monkeypatch):
    """Values below come from ``builtins`` (max, abs) and ``posixpath`` (os.path.join): loading
    a file imports only trusted packages, so these tests trust them like a user would."""
    monkeypatch.setenv("LAZYCFG_TRUST", "builtins,posixpath,ntpath")


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@configclass
class Job:
    name: str = "run"
    size: tuple = (1, 2)
    tags: list = attrs.field(factory=list)


@configclass
class Root:
    job: Job = attrs.field(factory=Job)
    model: Any = None
    seed: int = 0


@attrs.define(slots=False)
class PlainAttrs:
    x: int = 1
    y: Any = None


def _py_roundtrip(cfg: Any, tmp_path) -> Any:
    path = tmp_path / "exported.py"
    path.write_text(to_py(cfg))
    ns: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)  # what `load(.py)` runs
    return ns["config"]


VALUES = [
    ("int", lambda: 3),
    ("float", lambda: 1e-3),
    ("inf", lambda: float("inf")),
    ("bool", lambda: True),
    ("none", lambda: None),
    ("str", lambda: "hello world"),
    ("str_like_number", lambda: "1e3"),
    ("str_like_int", lambda: "480"),
    ("str_like_bool", lambda: "true"),
    ("str_like_null", lambda: "null"),
    ("str_multiline", lambda: "a\nb: c\n"),
    ("str_interpolation", lambda: "run_${now:%Y}_${trainer.max_iter}"),
    ("empty_str", lambda: ""),
    ("list", lambda: [1, "a", None, [2.5]]),
    ("tuple", lambda: (1, 2)),
    ("empty_tuple", lambda: ()),
    ("tuple_in_list", lambda: [(1, (2, 3))]),
    ("int_keyed_dict", lambda: {0: 0.5, 1: 0.25, 2: 0.25}),
    ("mixed_keys", lambda: {"a": 1, 2: "b", True: None}),
    ("reserved_key_dict", lambda: {"_target_": "not.a.node", "__tuple__": 1}),
    ("node", lambda: L("torch.optim.AdamW")(lr=1e-3, betas=(0.9, 0.999))),
    ("node_args", lambda: L("torch.nn.Linear")(4, 5, bias=False)),
    ("node_not_recursive", lambda: L("pkg.Model")(net=L("pkg.Net")(dim=3), _recursive_=False)),
    ("node_callable_target", lambda: L(functools.reduce)(initial=0)),
    ("node_in_dict_in_list", lambda: [{"cb": L("pkg.Callback")(every_n=5)}]),
    ("placeholder", lambda: L("torch.optim.AdamW")(params=PLACEHOLDER)),
    ("enum_member", lambda: Color.BLUE),
    ("class_value", lambda: collections_ordered_dict()),
    ("function_value", lambda: os.path.join),
    ("configclass", lambda: Root(job=Job(name="x", size=(3, 4), tags=["a"]), seed=3)),
    ("plain_attrs", lambda: PlainAttrs(x=5, y=[1, 2])),
    ("lazyref", lambda: lazycfg.LazyRef("pkg.mod.Cls")),
]


def collections_ordered_dict():
    import collections

    return collections.OrderedDict


@pytest.mark.parametrize("make", [v[1] for v in VALUES], ids=[v[0] for v in VALUES])
def test_value_round_trips(make, tmp_path):
    cfg = ConfigDict(value=make(), other=1)
    text = dumps(cfg)
    assert yaml.safe_load(text)["__lazycfg__"] == {"version": 1}
    back = loads(text)
    assert back == cfg
    assert type(back["value"]) is type(cfg["value"]) or isinstance(cfg["value"], dict)
    assert dumps(back) == text  # deterministic, and stable through a round trip
    assert _py_roundtrip(cfg, tmp_path) == cfg


def test_partial_round_trips(tmp_path):
    cfg = ConfigDict(fn=functools.partial(max, 3, key=abs))
    for back in (loads(dumps(cfg)), _py_roundtrip(cfg, tmp_path)):
        fn = back["fn"]
        assert (fn.func, fn.args, fn.keywords) == (max, (3,), {"key": abs})


def test_torch_dtype_round_trips(tmp_path):
    torch = pytest.importorskip("torch")
    cfg = ConfigDict(dtype=torch.bfloat16, fmt=torch.preserve_format)
    assert loads(dumps(cfg)) == cfg
    assert _py_roundtrip(cfg, tmp_path) == cfg


def test_shared_node_is_one_object_after_load(tmp_path):
    shared = L("pkg.Dataset")(path="x")
    cfg = ConfigDict(
        train=L("pkg.Loader")(dataset=shared), sampler=L("pkg.Sampler")(dataset=shared)
    )
    for back in (loads(dumps(cfg)), _py_roundtrip(cfg, tmp_path)):
        assert back == cfg
        assert back.train.dataset is back.sampler.dataset
        back.train.dataset.path = "y"
        assert back.sampler.dataset.path == "y"


def test_targets_are_dotted_paths_and_not_imported():
    text = dumps(ConfigDict(opt=L(functools.reduce)(x=1)))
    assert "_target_: _functools.reduce" in text or "_target_: functools.reduce" in text
    back = loads("__lazycfg__: {version: 1}\nconfig: {m: {_target_: not_installed_pkg.Model}}\n")
    assert back.m._target_ == "not_installed_pkg.Model"


def test_yaml_is_readable_and_in_config_order():
    cfg = Root(job=Job(name="exp"), model=L("pkg.Model")(zeta=1, alpha=2))
    text = dumps(cfg, history=False)
    assert text.index("zeta") < text.index("alpha")
    assert f"_class_: {__name__}.Root" in text
    assert "0x" not in text  # no addresses anywhere
    assert "  model:\n    _target_: pkg.Model\n    zeta: 1\n" in text  # one value per line
    assert dumps(ConfigDict(b=[0.9, 0.999], t=(1, 2)), history=False).endswith(
        "config:\n  b: [0.9, 0.999]\n  t: {__tuple__: [1, 2]}\n"
    )


LIVE = [
    ("lambda_value", lambda: ConfigDict(fn=lambda x: x), "fn", "lambda"),
    ("local_function", lambda: ConfigDict(a={"fn": _local_fn()}), "a.fn", "local function"),
    ("live_object", lambda: ConfigDict(obj=[object()]), "obj.0", "live object"),
    ("script_function", lambda: ConfigDict(a=[_script_fn()]), "a.0", "defined in __main__"),
    ("lambda_target", lambda: ConfigDict(m=L(lambda: 1)()), "m._target_", "target"),
    ("local_attrs_class", lambda: ConfigDict(c=_local_attrs()), "c", "not importable"),
    ("tuple_key", lambda: ConfigDict(d={(1, 2): 3}), "d", "keys"),
]


def _local_fn():
    def inner() -> None:
        return None

    return inner


def _script_fn():
    def run() -> None:
        return None

    run.__module__, run.__qualname__ = "__main__", "run"  # as if defined in a script
    return run


def _local_attrs():
    @attrs.define
    class Local:
        x: int = 1

    return Local()


@pytest.mark.parametrize("make,path,why", [v[1:] for v in LIVE], ids=[v[0] for v in LIVE])
def test_unserializable_values_name_the_path_and_the_fix(make, path, why, tmp_path):
    cfg = make()
    for fn in (dumps, to_py):
        with pytest.raises(SerializationError) as info:
            fn(cfg)
        msg = str(info.value)
        assert path in msg and "dotted path string or L(...)" in msg
        assert why in msg or fn is to_py
    assert not (tmp_path / "c.yaml").exists()
    with pytest.raises(SerializationError):
        save(cfg, tmp_path / "c.yaml")
    assert not os.listdir(tmp_path) or not (tmp_path / "c.yaml").exists()


BAD_FILES = [
    ("plain_yaml", "a: 1\n", "no '__lazycfg__' header"),
    ("list_yaml", "- 1\n", "no '__lazycfg__' header"),
    ("future_version", "__lazycfg__: {version: 99}\nconfig: 1\n", "version 99"),
    ("invalid_yaml", "a: [1\n", "x.yaml:2:1: not valid YAML (while parsing a flow sequence"),
    ("unknown_tag", "__lazycfg__: {version: 1}\nconfig: {__weird__: 1}\n", "unknown tag"),
    ("missing_class", "__lazycfg__: {version: 1}\nconfig: {_class_: nope_pkg.C}\n", "nope_pkg.C"),
]


@pytest.mark.parametrize("text,words", [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES])
def test_other_yaml_is_a_clear_config_error(text, words, tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert words in str(info.value) and str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "nope.yaml")


def test_attrs_class_changed_since_save_is_reported():
    text = f"__lazycfg__: {{version: 1}}\nconfig: {{_class_: {__name__}.Job, nmae: x}}\n"
    with pytest.raises(SerializationError, match="nmae"):
        loads(text)


def test_save_and_load_file(tmp_path):
    cfg = Root(model=L("pkg.Model")(x=(1, 2)))
    save(cfg, tmp_path / "run" / "config.yaml")
    assert load_yaml(tmp_path / "run" / "config.yaml") == cfg
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["config.yaml"]


def test_provenance_and_choices_survive_save_load():
    cfg = Root(model=L("pkg.Model")(lr=1.0))
    cfg.job.name = "edited"  # a Python edit: file:line of this line
    line = f"test_serialize.py:{sys._getframe().f_lineno - 1}"
    cfg.model.lr = 2.0
    set_choices(cfg, {"optimizer": "adamw", "callbacks": ["basic", "wandb"]})
    back = loads(dumps(cfg))
    for c in (cfg, back):
        hist = explain(c, "job.name")
        assert [r.value for r in hist] == ["run", "edited"]
        assert hist[-1].source.endswith(line)
        assert [r.value for r in explain(c, "model.lr")] == [1.0, 2.0]
    assert [str(r) for r in explain(back, "job.name")] == [str(r) for r in explain(cfg, "job.name")]
    assert get_choices(back) == {"optimizer": "adamw", "callbacks": ["basic", "wandb"]}
    assert back == cfg


def test_fingerprint_ignores_history_and_sees_values():
    a = Root(model=L("pkg.Model")(lr=1.0))
    b = Root(model=L("pkg.Model")(lr=2.0))
    b.model.lr = 1.0  # same value, different history
    assert fingerprint(a) == fingerprint(b) == fingerprint(loads(dumps(a)))
    b.seed = 1
    assert fingerprint(a) != fingerprint(b)
    assert len(fingerprint(a)) == 64


def test_libyaml_is_used_when_available():
    from lazycfg import _io

    if yaml.__with_libyaml__:
        assert issubclass(_io._dumper(), yaml.CSafeDumper)
        assert _io._loader() is yaml.CSafeLoader


def test_import_lazycfg_does_not_import_yaml():
    code = (
        "import sys, lazycfg, lazycfg._io, lazycfg._resolve, lazycfg._compare, "
        "lazycfg._build, lazycfg._display, lazycfg._cli;"
        "bad = [m for m in ('yaml', 'omegaconf', 'torch', 'numpy') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_to_py_is_readable_python():
    shared = L("pkg.Net")(dim=4)
    cfg = Root(job=Job(name="x"), model=L("pkg.Model")(net=shared, ema=shared, probs={0: 0.5}))
    src = to_py(cfg)
    assert src.startswith('"""') and "from lazycfg import L" in src
    assert "config = Root(" in src and "_net = L('pkg.Net')(dim=4)" in src
    assert "size=" not in src  # fields equal to their default are left out
    compile(src, "<to_py>", "exec")


def test_explain_shows_override_text_after_save_load(tmp_path):
    cfg = Root(model=L("pkg.Model")(lr=1.0))
    lazycfg.apply_overrides(cfg, ["model.lr=3e-4", "job.name=from_cli"])
    save(cfg, tmp_path / "config.yaml")
    back = lazycfg.load(tmp_path / "config.yaml")
    for c in (cfg, back):
        assert [r.source for r in explain(c, "model.lr")][-1] == "model.lr=3e-4"
        assert [r.kind for r in explain(c, "job.name")][-1] == "override"
        assert "override job.name=from_cli" in str(explain(c, "job.name")[-1])
    assert back == cfg


@configclass
class _WithFn:
    fn: Any = None


def test_config_holding_partials_equals_itself_after_round_trips(tmp_path):
    import copy

    part = functools.partial(max, 3, key=abs)
    cfg = ConfigDict(node=L("pkg.Model")(act=part, acts=[part]), typed=_WithFn(fn=part))
    assert copy.deepcopy(cfg) == cfg
    assert loads(dumps(cfg)) == cfg
    assert _py_roundtrip(cfg, tmp_path) == cfg
    other = ConfigDict(
        node=L("pkg.Model")(act=functools.partial(max, 4, key=abs), acts=[part]),
        typed=_WithFn(fn=part),
    )
    assert other != cfg
