"""Tests for lazycfg._compare.diff: path-level differences printable as override lines."""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest

from lazycfg import ConfigDict, L, apply_overrides, configclass, diff
from lazycfg._compare import format_value
from lazycfg._grammar import parse_value
from lazycfg._node import set_choices


@configclass
class Job:
    name: str = "run"
    steps: int = 1


@configclass
class Root:
    job: Job = attrs.field(factory=Job)
    model: Any = None
    extra: Any = None


def _base() -> Root:
    return Root(
        model=L("pkg.Model")(
            net=L("pkg.Net")(dim=3, act="gelu"),
            probs={0: 0.5, 1: 0.5},
            betas=(0.9, 0.99),
            blocks=[{"w": 1}, {"w": 2}],
            names=["a", "b"],
        )
    )


def _set_name(c):
    c.job.name = "x y, z"


def _del_kwarg(c):
    del c.model.net.act


def _add_kwarg(c):
    c.model.net.extra = "1e3"


def _int_key(c):
    c.model.probs[2] = 0.25


def _tuple(c):
    c.model.betas = (0.8, 0.9)


def _list_grow(c):
    c.model.names = ["a", "b", "c d"]


def _list_elem(c):
    c.model.blocks[1].w = 5


def _target(c):
    c.model._target_ = "pkg.Other"


def _recursive(c):
    c.model._recursive_ = False


def _dict_value(c):
    c.extra = {"a": [1, "b, c"], "n": None}


def _nested_str_quotes(c):
    c.job.name = 'it\'s "quoted"\nnewline'


EDITS = [
    ("set_str", _set_name, ["job.name=x y, z"]),
    ("delete_kwarg", _del_kwarg, ["~model.net.act"]),
    ("add_kwarg", _add_kwarg, ["+model.net.extra='1e3'"]),
    ("int_key", _int_key, ["+model.probs.2=0.25"]),
    ("tuple", _tuple, ["model.betas=(0.8, 0.9)"]),
    ("list_replace", _list_grow, ["model.names=[a, b, 'c d']"]),
    ("list_element", _list_elem, ["model.blocks.1.w=5"]),
    ("target", _target, ["model._target_=pkg.Other"]),
    ("recursive", _recursive, ["model._recursive_=false"]),
    ("dict_value", _dict_value, ["extra={a: [1, 'b, c'], n: null}"]),
    ("quotes", _nested_str_quotes, None),
]


@pytest.mark.parametrize("edit,lines", [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_diff_lines_turn_a_into_b(edit, lines):
    a = _base()
    b = copy.deepcopy(a)
    edit(b)
    entries = diff(a, b)
    if lines is not None:
        assert [str(e) for e in entries] == lines
    assert all(e.expressible for e in entries)
    c = copy.deepcopy(a)
    apply_overrides(c, [str(e) for e in entries])
    assert c == b and diff(c, b) == []


def test_equal_configs_have_no_diff_and_choices_history_are_ignored():
    a, b = _base(), _base()
    b.job.steps = 5
    b.job.steps = 1  # same value, longer history
    set_choices(b, {"optimizer": "adamw"})
    assert diff(a, b) == []


def test_entry_kinds_and_order():
    a = ConfigDict(x=1, y=2, z={"k": 1})
    b = ConfigDict(x=1, z={"k": 2}, w=3)
    entries = diff(a, b)
    assert [(e.kind, e.path) for e in entries] == [
        ("removed", "y"),
        ("changed", "z.k"),
        ("added", "w"),
    ]
    assert (entries[1].old, entries[1].new) == (1, 2)


def test_shared_node_listed_once():
    shared = L("pkg.Data")(n=1)
    a = ConfigDict(p=shared, q=shared)
    b = copy.deepcopy(a)
    b.p.n = 2
    assert [str(e) for e in diff(a, b)] == ["p.n=2"]


def test_inexpressible_change_is_flagged():
    a = Root()
    b = Root(extra=L("pkg.Thing")(x=1))
    (entry,) = diff(a, b)
    assert not entry.expressible and "pkg.Thing" in str(entry)


VALUES = [
    1,
    -2.5,
    1e-3,
    float("inf"),
    True,
    None,
    "plain",
    "1",
    "true",
    "null",
    "",
    " pad ",
    "a,b",
    "${x.y}",
    "it's",
    [1, "x y"],
    (1,),
    (),
    {"k": [1, 2]},
    {0: "a", "0": "b"},
]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v) for v in VALUES])
def test_format_value_round_trips_through_the_override_grammar(value):
    assert parse_value(format_value(value)) == value
    assert type(parse_value(format_value(value))) is type(value)
