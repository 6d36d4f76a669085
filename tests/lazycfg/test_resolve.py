"""Tests for lazycfg._resolve: interpolation with OmegaConf's semantics."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import attrs
import pytest

from lazycfg import _resolve
from lazycfg._errors import ConfigTypeError
from lazycfg._resolve import ResolveError, resolve

NOW = datetime(2024, 5, 6, 7, 8, 9)


def _base() -> dict:
    return {
        "trainer": {"logging_iter": 100, "max_iter": 10, "lr": 1.5e-4, "flag": True, "none": None},
        "model": {"config": {"resolution": "720", "state_t": 24}},
        "lst": [1, 2, {"k": "v"}],
        "tup": (3, 4),
        "intkeys": {0: 0.5, 1: 0.25},
        "job": {"group": "grp", "name": "n"},
    }


CASES = [
    ("abs_int", "${trainer.logging_iter}"),
    ("abs_str", "${model.config.resolution}"),
    ("abs_float", "${trainer.lr}"),
    ("abs_bool", "${trainer.flag}"),
    ("abs_none", "${trainer.none}"),
    ("embedded", "foo_${job.group}_${trainer.max_iter}"),
    ("embedded_bool_none", "${trainer.flag}_${trainer.none}"),
    ("embedded_float", "x${trainer.lr}"),
    ("list_dot_index", "${lst.1}"),
    ("list_bracket_index", "${lst[0]}"),
    ("list_nested", "${lst.2.k}"),
    ("tuple_index", "${tup.1}"),
    ("whole_dict", "${model.config}"),
    ("whole_list", "${lst}"),
    ("spaces", "${ job.name }"),
    ("relative_sibling", "${.group}"),
    ("relative_parent", "${..trainer.max_iter}"),
    ("env_set", "${oc.env:LAZYCFG_TEST_VAR}"),
    ("env_default_str", "${oc.env:LAZYCFG_UNSET_VAR,abc/def}"),
    ("env_default_int", "${oc.env:LAZYCFG_UNSET_VAR,1_000}"),
    ("env_default_float", "${oc.env:LAZYCFG_UNSET_VAR,1e3}"),
    ("env_default_null", "${oc.env:LAZYCFG_UNSET_VAR,null}"),
    ("env_default_bool", "${oc.env:LAZYCFG_UNSET_VAR,true}"),
    ("env_default_spaces", "${oc.env:LAZYCFG_UNSET_VAR, a b }"),
    ("env_embedded_null", "x${oc.env:LAZYCFG_UNSET_VAR,null}"),
    ("now", "${now:%Y-%m-%d_%H-%M-%S}"),
    ("now_colon", "${now:%H:%M}"),
    # Forms the fast path leaves to OmegaConf's grammar.
    ("nested_fallback", "${job.${job.name}}"),
    ("quoted_default_fallback", "${oc.env:LAZYCFG_UNSET_VAR,'q,r'}"),
    ("escape_fallback", "\\${job.name}"),
]


def _omegaconf_value(value: str, monkeypatch) -> object:
    from omegaconf import OmegaConf

    tree = _base()
    tree["job"]["x"] = value
    tree["job"]["n"] = "group"
    OmegaConf.register_new_resolver("now", lambda fmt: NOW.strftime(fmt), replace=True)
    oc = OmegaConf.create(tree)
    out = oc.job.x
    return OmegaConf.to_container(out) if OmegaConf.is_config(out) else out


@pytest.mark.parametrize("name,value", CASES, ids=[c[0] for c in CASES])
def test_matches_omegaconf(name, value, monkeypatch):
    if not name.endswith("_fallback"):
        # The common forms must not need OmegaConf's grammar.
        def no_fallback(self, text, path):
            raise AssertionError(f"{text!r} fell back to OmegaConf")

        monkeypatch.setattr(_resolve._Resolver, "_omegaconf", no_fallback)
    monkeypatch.setenv("LAZYCFG_TEST_VAR", "007")
    monkeypatch.delenv("LAZYCFG_UNSET_VAR", raising=False)
    tree = _base()
    tree["job"]["x"] = value
    tree["job"]["n"] = "group"
    resolve(tree, now=NOW)
    expected = _omegaconf_value(value, monkeypatch)
    got = tree["job"]["x"]
    if isinstance(got, tuple):
        got = list(got)
    assert got == expected and isinstance(got, type(expected))


def test_int_keyed_dict_reference_is_an_extension():
    # OmegaConf cannot address int keys by path; lazycfg can (Cosmos's conditional_frames_probs).
    tree = {"probs": {0: 0.5, 1: 0.25}, "x": "${probs.1}"}
    assert resolve(tree)["x"] == 0.25


def test_one_timestamp_per_resolve():
    tree = {"a": "${now:%Y}_${now:%f}", "b": "${now:%f}"}
    resolve(tree)
    assert tree["a"].split("_")[1] == tree["b"]


def test_chained_and_in_tuple_and_list():
    tree = {"a": "${b}", "b": "${c.0}", "c": [5], "t": ("${a}", 1), "l": ["${..b}"]}
    resolve(tree)
    assert tree == {"a": 5, "b": 5, "c": [5], "t": (5, 1), "l": [5]}


def test_reference_through_interpolated_container():
    tree = {"a": "${b}", "b": {"x": "${c}"}, "c": 3, "d": "${a.x}"}
    resolve(tree)
    assert tree["d"] == 3 and tree["a"] == {"x": 3} and tree["a"] is not tree["b"]


@attrs.define(slots=False)
class _Job:
    name: str = "run_${now:%Y}"
    every: int = 1


@attrs.define(slots=False)
class _Root:
    job: _Job = attrs.field(factory=_Job)
    cb: dict = attrs.field(factory=lambda: {"every_n": "${job.every}"})


def test_attrs_tree():
    cfg = _Root()
    cfg.job.every = 7
    assert resolve(cfg, now=NOW) is cfg
    assert cfg.job.name == "run_2024" and cfg.cb["every_n"] == 7


ERRORS = [
    ("missing_key", {"a": {"bb": 1}, "x": "${a.b}"}, ["x", "a.b", "did you mean"]),
    ("missing_root", {"x": "${nonexistent.key}"}, ["x", "nonexistent"]),
    ("cycle", {"x": "${y}", "y": "${x}"}, ["circular", "x", "y"]),
    ("env_unset", {"x": "${oc.env:LAZYCFG_UNSET_VAR}"}, ["x", "LAZYCFG_UNSET_VAR", "default"]),
    ("too_many_dots", {"x": "${...a}"}, ["x", "level"]),
    ("fallback_error", {"x": "${oc.decode:'${nope}'}"}, ["x"]),
]


@pytest.mark.parametrize("tree,words", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_name_the_key(tree, words, monkeypatch):
    monkeypatch.delenv("LAZYCFG_UNSET_VAR", raising=False)
    with pytest.raises(ResolveError) as info:
        resolve(tree)
    for word in words:
        assert word in str(info.value)


def test_common_forms_do_not_import_omegaconf():
    code = (
        "import sys; from lazycfg._resolve import resolve;"
        "t={'a': {'b': 1}, 'c': '${a.b}_${now:%Y}', 'd': '${oc.env:HOME,x}', 'e': '${.a}'};"
        "resolve(t); assert 'omegaconf' not in sys.modules, 'omegaconf imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_resolved_string_is_parsed_for_a_typed_field(monkeypatch):
    from lazycfg import configclass

    @configclass
    class Trainer:
        max_iter: int = 10
        name: str = "x"

    monkeypatch.setenv("LAZYCFG_TEST_ITERS", "500")
    cfg = Trainer(max_iter="${oc.env:LAZYCFG_TEST_ITERS}", name="${oc.env:LAZYCFG_TEST_ITERS}")
    resolve(cfg)
    assert cfg.max_iter == 500 and type(cfg.max_iter) is int
    assert cfg.name == "500"  # a str field keeps the string
    bad = Trainer(max_iter="${name}", name="run")
    with pytest.raises(
        ConfigTypeError,
        match=r"max_iter: expected int, got 'run' \(str\) "
        r"\(what '\$\{name\}' resolved to",
    ):
        resolve(bad)


def test_resolve_records_provenance():
    from lazycfg import ConfigDict, explain

    cfg = ConfigDict(a=1, b="${a}")
    resolve(cfg)
    assert str(explain(cfg, "b")[-1].source) == "resolve ${a}"


def test_rank_zero_values_shipped_as_text_give_identical_fingerprints():
    from lazycfg import ConfigDict, dumps, fingerprint, loads

    def make() -> ConfigDict:
        return ConfigDict(job={"name": "run_${now:%H-%M-%S-%f}"}, lr=1e-3)

    rank0 = resolve(make(), now=datetime(2024, 1, 1, 0, 0, 0))
    rank1_own = resolve(make(), now=datetime(2024, 1, 1, 0, 0, 1))  # a later clock
    assert fingerprint(rank0) != fingerprint(rank1_own)  # the check catches the drift
    rank1 = loads(dumps(rank0))  # what rank 0 broadcasts as text
    assert fingerprint(rank1) == fingerprint(rank0) and rank1 == rank0


def test_nodes_positional_args_and_shared_nodes():
    from lazycfg import ConfigDict, L

    shared = L("pkg.Data")(res="${model.res}")
    cfg = ConfigDict(
        model={"res": "720", "lr": 0.1},
        opt=L("pkg.Opt")(
            "${model.lr}", base_lr="${.scale}", scale=2, sched=L("pkg.S")(x="${..scale}")
        ),
        a=L("pkg.Loader")(data=shared),
        b=L("pkg.Sampler")(data=shared),
    )
    resolve(cfg)
    assert cfg.opt._args_ == [0.1] and cfg.opt.base_lr == 2 and cfg.opt.sched.x == 2
    assert cfg.a.data is cfg.b.data and cfg.a.data.res == "720"
