"""Provenance records and explain (lazycfg._node, lazycfg._compare.explain)."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from lazycfg import ConfigDict, ConfigKeyError, L, Record, apply_overrides, explain
from lazycfg._node import (
    DELETED,
    caller_site,
    get_choices,
    get_history,
    get_site,
    histories,
    set_choices,
    set_history,
    set_site,
)
from tests.fixtures.lazycfg.toy import Net, make_config

HERE = os.path.basename(__file__)


def line_of(fn, offset: int) -> int:
    return fn.__code__.co_firstlineno + offset


def test_history_oldest_first_with_sources() -> None:
    cfg = ConfigDict(net=L(Net)(num_blocks=1))
    cfg.net.num_blocks = 2
    apply_overrides(cfg, ["net.num_blocks=3"])
    recs = explain(cfg, "net.num_blocks")
    assert [r.value for r in recs] == [1, 2, 3]
    assert [r.kind for r in recs] == ["init", "python", "override"]
    assert recs[0].source.endswith(f"{HERE}:{line_of(test_history_oldest_first_with_sources, 1)}")
    assert recs[1].source.endswith(f"{HERE}:{line_of(test_history_oldest_first_with_sources, 2)}")
    assert recs[2].source == "net.num_blocks=3"


def test_str_is_readable() -> None:
    assert str(Record(3, "trainer.max_iter=3", "override")) == ("3  <- override trainer.max_iter=3")
    assert str(Record(1, "optimizer=adamw", "select")) == "1  <- selected optimizer=adamw"
    cwd_file = os.path.join(os.getcwd(), "x.py") + ":3"
    assert str(Record("a", cwd_file, "python")) == "'a'  <- x.py:3"
    assert str(Record(DELETED, "~a", "delete")) == "<deleted>  <- deleted by ~a"
    assert str(Record("v" * 200, "", "init")).endswith("...  <- <unknown>")
    assert "Record(1" in repr(Record(1, "s"))


def test_unwritten_value_explained_by_creation_site() -> None:
    cfg = make_config()
    recs = explain(cfg, "trainer.seed")
    assert len(recs) == 1 and recs[0].value == 0 and recs[0].kind == "init"
    assert "toy.py" in recs[0].source


def test_selected_subtree_names_selection() -> None:
    cfg = make_config()
    recs = explain(cfg, "optimizer.lr")
    assert recs[0].source.endswith("(via optimizer=fusedadamw)") and "toy.py:" in recs[0].source
    sel = explain(cfg, "optimizer")
    assert sel[-1].kind == "select" and sel[-1].source == "optimizer=fusedadamw"


def test_delete_recorded() -> None:
    cfg = ConfigDict(a=dict(b=1))
    apply_overrides(cfg, ["~a.b"])
    recs = explain(cfg, "a.b")
    assert recs[-1].value is DELETED and recs[-1].kind == "delete"


def test_missing_path() -> None:
    with pytest.raises(ConfigKeyError):
        explain(ConfigDict(a=1), "b")
    assert explain(ConfigDict(), "") == []


def test_history_lives_on_the_config_not_globally() -> None:
    a, b = ConfigDict(x=1), ConfigDict(x=1)
    a.x = 2
    assert get_history(b, "x") == [] and len(get_history(a, "x")) == 2
    assert a != b
    b.x = 2
    assert a == b  # equality ignores history (different lines)
    c = copy.deepcopy(a)
    assert get_history(c, "x") == get_history(a, "x")


def test_accessors_for_persistence() -> None:
    node = L(Net)(num_blocks=1)
    set_history(node, "num_blocks", [Record(1, "f.py:1", "init"), Record(2, "x=2", "load")])
    assert [r.value for r in get_history(node, "num_blocks")] == [1, 2]
    assert set(histories(node)) == {"num_blocks"}
    set_history(node, "num_blocks", [])
    assert histories(node) == {}
    set_site(node, "g.py:9")
    assert get_site(node) == "g.py:9"
    root = ConfigDict()
    set_choices(root, {"optimizer": "adamw"})
    assert get_choices(root) == {"optimizer": "adamw"}
    set_history({}, "x", [Record(1, "s")])  # plain dicts hold no metadata: a no-op
    assert get_history({}, "x") == [] and get_site(3) == ""


def test_caller_site_skips_library_frames(tmp_path: Path) -> None:
    site = caller_site(1)
    assert site.endswith(f"{HERE}:{line_of(test_caller_site_skips_library_frames, 1)}")


def test_records_compare_by_content() -> None:
    assert Record(1, "a", "python") == Record(1, "a", "python")
    assert Record(1, "a", "python") != Record(1, "b", "python")
    assert Record(1, "a") != 3


def test_malformed_path_is_a_config_error_about_a_path() -> None:
    from lazycfg import ConfigError

    with pytest.raises(ConfigError, match=r"malformed config path 'a\.\.b': empty path segment"):
        explain(ConfigDict(a=1), "a..b")


def test_slotted_attrs_values_say_why_they_have_no_history() -> None:
    import attrs

    @attrs.define
    class Slotted:
        x: int = 1

    cfg = ConfigDict(s=Slotted())
    cfg.s.x = 2
    (rec,) = explain(cfg, "s.x")
    assert rec.value == 2 and "Slotted is a slotted attrs class, which keeps no history" in str(rec)
