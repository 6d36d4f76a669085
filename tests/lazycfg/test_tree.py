"""The generic tree walker (lazycfg.tree)."""

from __future__ import annotations

import attrs
import pytest

from lazycfg import ConfigDict, ConfigError, ConfigKeyError, L
from lazycfg.tree import (
    children,
    del_child,
    format_path,
    get_child,
    kind_of,
    parse_path,
    raw_set,
    rebuild,
    set_child,
    walk,
)
from tests.fixtures.lazycfg.toy import JobConfig, Net, Pair


@attrs.define
class Slot:
    x: int = 1


def tree() -> ConfigDict:
    shared = L(Net)(num_blocks=1)
    return ConfigDict(a=L(Pair)(1, k=shared), b=[shared, (2, 3)], job=JobConfig(), m={0: "z"})


@pytest.mark.parametrize(
    "obj,kind",
    [
        (L(Net)(), "node"),
        ({}, "mapping"),
        (ConfigDict(), "mapping"),
        ([], "list"),
        ((), "tuple"),
        (JobConfig(), "attrs"),
        (3, "leaf"),
        ("s", "leaf"),
        (Net, "leaf"),
        (JobConfig, "leaf"),
    ],
)
def test_kind_of(obj: object, kind: str) -> None:
    assert kind_of(obj) == kind


def test_children_order() -> None:
    t = tree()
    assert [k for k, _ in children(t.a)] == [0, "k"]
    assert [k for k, _ in children(t.job)] == ["project", "group", "name"]
    assert children(3) == [] and [k for k, _ in children(Slot())] == ["x"]


def test_walk_dedupes_shared_nodes() -> None:
    paths = [format_path(p) for p, _ in walk(tree())]
    assert "a.k" in paths and "b.0" not in paths and "b.1.0" in paths and "m.0" in paths
    all_paths = [format_path(p) for p, _ in walk(tree(), dedupe=False)]
    assert "b.0.num_blocks" in all_paths


def test_get_set_del() -> None:
    t = tree()
    assert get_child(t.a, 0) == 1 and get_child(t.a, "0") == 1 and get_child(t.m, "0") == "z"
    assert get_child(t.a, "_target_") is Pair
    set_child(t.a, 0, 5)
    set_child(t.b, 1, 9)
    set_child(t.job, "name", "n", source="job.name=n", kind="override")
    set_child(t.a, "_recursive_", False)
    assert t.a[0] == 5 and t.b[1] == 9 and t.job.name == "n" and not t.a._recursive_
    del_child(t.a, 0)
    del_child(t.b, 1)
    del_child(t.m, "0")
    assert t.a._args_ == [] and len(t.b) == 1 and t.m == {}
    plain: dict = {}
    set_child(plain, "x", {"y": 1})
    assert plain["x"].y == 1


@pytest.mark.parametrize(
    "call,message",
    [
        pytest.param(lambda t: get_child(t, "nope"), "no such key", id="missing-key"),
        pytest.param(lambda t: get_child(t.b, 5), "out of range", id="index"),
        pytest.param(lambda t: get_child(t.b, "x"), "integer", id="non-int-index"),
        pytest.param(lambda t: get_child(t.job, "nme"), "Did you mean 'name'", id="attrs-typo"),
        pytest.param(lambda t: get_child(t.a, "zz"), "no argument 'zz'", id="node-kwarg"),
        pytest.param(lambda t: get_child(3, "x"), "not a config container", id="leaf"),
        pytest.param(lambda t: set_child(t.b[1], 0, 1), "tuples are immutable", id="tuple-set"),
        pytest.param(lambda t: set_child(3, "x", 1), "not a config container", id="leaf-set"),
        pytest.param(lambda t: del_child(t.job, "name"), "set it instead", id="attrs-del"),
        pytest.param(lambda t: del_child(t.m, "q"), "no such key", id="missing-del"),
        pytest.param(lambda t: del_child(t.b[1], 0), "cannot delete", id="tuple-del"),
        pytest.param(lambda t: raw_set(3, "x", 1), "not a mutable container", id="raw-leaf"),
    ],
)
def test_errors(call, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call(tree())


def test_attribute_error_compatible() -> None:
    with pytest.raises(AttributeError):
        get_child(tree(), "nope")
    with pytest.raises(ConfigKeyError):
        get_child(tree().b, 9)


def test_raw_set_and_rebuild() -> None:
    t = tree()
    raw_set(t.a, 2, "x")
    raw_set(t.a, "q", 1)
    raw_set(t.b, 0, 0)
    raw_set(t.job, "name", 5)  # no type check
    assert t.a._args_ == [1, None, "x"] and t.a.q == 1 and t.b[0] == 0 and t.job.name == 5
    node = rebuild(t.a, [(0, "p"), ("k", 2)])
    assert node == L(Pair)("p", k=2)
    assert rebuild({}, [("a", 1)]) == {"a": 1} and isinstance(rebuild({}, []), ConfigDict)
    assert rebuild([], [(0, 1)]) == [1] and rebuild((), [(0, 1)]) == (1,)
    job = rebuild(JobConfig(), [("project", "p"), ("group", "g"), ("name", "n")])
    assert job == JobConfig(project="p", group="g", name="n")
    assert rebuild(3, []) == 3


@pytest.mark.parametrize(
    "keys,text",
    [
        (("a", "b"), "a.b"),
        (("blocks", 0, "x"), "blocks.0.x"),
        ((0,), "0"),
        (("a", "x.y"), "a['x.y']"),
        (("a", "*"), "a.*"),
        ((), ""),
    ],
)
def test_format_and_parse_path(keys: tuple, text: str) -> None:
    assert format_path(keys) == text
    assert parse_path(text) == keys
