"""apply_overrides semantics (lazycfg._overrides); configs also come back from yaml/py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lazycfg import (
    ConfigDict,
    ConfigTypeError,
    L,
    LazyRef,
    OverrideError,
    Registry,
    apply_overrides,
    choices,
    explain,
    freeze,
)
from tests.fixtures.lazycfg.toy import Callback, Loader, Net, WandB, make_config

RT = Callable[[Any], Any]


def base() -> ConfigDict:
    return ConfigDict(
        net=L(Net)(num_blocks=2, sub=dict(a=1)),
        trainer=dict(
            max_iter=10,
            lr=0.1,
            name="run",
            flag=False,
            betas=[0.9, 0.99],
            size=(1, 2),
            opt=None,
            callbacks=dict(a=L(Callback)(every_n=1), b=L(WandB)(every_n=2), c=dict(every_n=3)),
        ),
        loader=L(Loader)(batch_size=1),
        blocks=[L(Net)(num_heads=1), L(Net)(num_heads=2)],
        probs={0: 0.5, 1: 0.25, 2: 0.25},
    )


# ----------------------------------------------------------------------------- set
@pytest.mark.parametrize(
    "override,path,expected",
    [
        pytest.param("trainer.max_iter=3", "trainer.max_iter", 3, id="int"),
        pytest.param("trainer.max_iter=1e3", "trainer.max_iter", 1000, id="integral-float-to-int"),
        pytest.param("trainer.lr=1", "trainer.lr", 1.0, id="int-to-float"),
        pytest.param("trainer.name=123", "trainer.name", "123", id="number-to-str"),
        pytest.param("trainer.flag=true", "trainer.flag", True, id="bool"),
        pytest.param("trainer.betas=[0.8,0.9]", "trainer.betas", [0.8, 0.9], id="list-replaced"),
        pytest.param("trainer.betas=(0.8,0.9)", "trainer.betas", [0.8, 0.9], id="tuple-to-list"),
        pytest.param("trainer.size=[3,4]", "trainer.size", (3, 4), id="list-to-tuple"),
        pytest.param("trainer.opt={a: 1}", "trainer.opt", {"a": 1}, id="none-accepts-anything"),
        pytest.param("trainer.max_iter=${x.y}", "trainer.max_iter", "${x.y}", id="interp-accepted"),
        pytest.param("net.num_blocks=4", "net.num_blocks", 4, id="node-kwarg"),
        pytest.param("net.num_heads=8", "net.num_heads", 8, id="unwritten-param"),
        pytest.param("net.sub.a=2", "net.sub.a", 2, id="mapping-in-node"),
        pytest.param("blocks.0.num_heads=9", "blocks.0.num_heads", 9, id="dot-index"),
        pytest.param("blocks[1].num_heads=9", "blocks.1.num_heads", 9, id="bracket-index"),
        pytest.param("trainer.betas.0=0.5", "trainer.betas.0", 0.5, id="list-element"),
        pytest.param("probs.0=0.1", "probs.0", 0.1, id="int-key-mapping"),
        pytest.param("loader.batch_size=4", "loader.batch_size", 4, id="var-kwargs-target-param"),
        pytest.param(
            "net._target_=tests.fixtures.lazycfg.toy.WandB",
            "net._target_",
            "tests.fixtures.lazycfg.toy.WandB",
            id="target",
        ),
    ],
)
def test_set(roundtrip: RT, override: str, path: str, expected: Any) -> None:
    cfg = roundtrip(base())
    apply_overrides(cfg, [override])
    from lazycfg.tree import get_child, parse_path

    obj = cfg
    for key in parse_path(path):
        obj = get_child(obj, key)
    assert obj == expected
    assert type(obj) is type(expected) or isinstance(obj, ConfigDict)


def test_later_override_wins() -> None:
    cfg = apply_overrides(base(), ["trainer.max_iter=3", "trainer.max_iter=4"])
    assert cfg.trainer.max_iter == 4


@pytest.mark.parametrize(
    "override,error,message",
    [
        pytest.param("trainer.max_iter=abc", ConfigTypeError, "expected int", id="replaced-int"),
        pytest.param("trainer.max_iter=1.5", ConfigTypeError, "expected int", id="lossy-float"),
        pytest.param("trainer.flag=1", ConfigTypeError, "expected bool", id="int-not-bool"),
        pytest.param("trainer.name=[1]", ConfigTypeError, "expected str", id="list-not-str"),
        pytest.param(
            "net.num_blocks=abc", ConfigTypeError, "expected int", id="signature-annotation"
        ),
        pytest.param(
            "trainer.maxiter=1", OverrideError, "Did you mean 'max_iter'", id="typo-mapping"
        ),
        pytest.param(
            "net.num_blocs=1",
            OverrideError,
            "has no parameter 'num_blocs'.*Did you mean",
            id="typo-param",
        ),
        pytest.param("nope.x=1", OverrideError, "no such key", id="missing-intermediate"),
        pytest.param("trainer.max_iter.x=1", OverrideError, "is a int value", id="into-leaf"),
        pytest.param("trainer.opt.x=1", OverrideError, "is a NoneType value", id="through-none"),
        pytest.param(
            "loader.anything=1",
            OverrideError,
            "add it with \\+loader.anything",
            id="var-kwargs-needs-plus",
        ),
        pytest.param("blocks.5.num_heads=1", OverrideError, "out of range", id="index-range"),
        pytest.param("trainer.betas.7=1", OverrideError, "out of range", id="list-index-range"),
        pytest.param("trainer.size.0=1", OverrideError, "tuples are immutable", id="tuple-element"),
        pytest.param("+trainer.max_iter=1", OverrideError, "already exists", id="add-existing"),
        pytest.param("+net.bogus=1", OverrideError, "has no parameter 'bogus'", id="add-non-param"),
        pytest.param("+blocks.3=1", OverrideError, "append with blocks\\+=", id="add-list-index"),
        pytest.param("~trainer.nope", OverrideError, "no key 'trainer.nope'", id="delete-missing"),
        pytest.param(
            "~net.num_heads",
            OverrideError,
            "nothing to delete: 'net.num_heads' is not written",
            id="delete-unwritten-param",
        ),
        pytest.param(
            "~trainer.max_iter=11", OverrideError, "not 11", id="delete-if-equal-mismatch"
        ),
        pytest.param("trainer.max_iter+=1", OverrideError, "not a list", id="append-to-int"),
        pytest.param("trainer.nope+=1", OverrideError, "no key", id="append-missing"),
        pytest.param("trainer.*.zzz=1", OverrideError, "glob matched nothing", id="glob-zero"),
        pytest.param(
            "trainer.callbacks.*.every_n=x", ConfigTypeError, "expected int", id="glob-type"
        ),
        pytest.param("a..b=1", OverrideError, "malformed", id="malformed"),
    ],
)
def test_errors(override: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message) as info:
        apply_overrides(base(), [override])
    assert override in str(info.value)  # every message quotes the override


def test_error_names_path() -> None:
    with pytest.raises(ConfigTypeError) as info:
        apply_overrides(base(), ["trainer.max_iter=abc"])
    assert info.value.path == "trainer.max_iter" and info.value.expected is int
    assert info.value.value == "abc"


def test_overrides_must_be_a_list() -> None:
    with pytest.raises(OverrideError, match="must be a list"):
        apply_overrides(base(), "a=1")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- add / force / del
def test_add_force_delete(roundtrip: RT) -> None:
    cfg = roundtrip(base())
    apply_overrides(
        cfg,
        [
            "+trainer.new=1",
            "+net.num_heads=4",
            "++trainer.name=bar",
            "++trainer.other=2",
            "+trainer.callbacks.newcb.every_n=3",
            "+loader.extra=5",
            "~trainer.callbacks.b",
            "~net.num_blocks",
            "~trainer.max_iter=10",
            "~blocks.0",
        ],
    )
    assert cfg.trainer.new == 1 and cfg.net.num_heads == 4 and cfg.trainer.name == "bar"
    assert cfg.trainer.other == 2 and cfg.trainer.callbacks.newcb == {"every_n": 3}
    assert cfg.loader.extra == 5
    assert list(cfg.trainer.callbacks) == ["a", "c", "newcb"]  # order kept
    assert "num_blocks" not in cfg.net and "max_iter" not in cfg.trainer
    assert len(cfg.blocks) == 1 and cfg.blocks[0].num_heads == 2


def test_nodes_and_mappings_accept_any_replacement() -> None:
    # DESIGN: only bool/int/float/str/list/tuple values constrain the type of a replacement
    cfg = apply_overrides(
        base(), ["++net=gone", "loader=null", "trainer.callbacks.a=${x}", "trainer.callbacks.c=3"]
    )
    assert cfg.net == "gone" and cfg.loader is None and cfg.trainer.callbacks.a == "${x}"
    assert cfg.trainer.callbacks.c == 3


def test_append_and_extend(roundtrip: RT) -> None:
    cfg = roundtrip(base())
    apply_overrides(cfg, ["trainer.betas+=0.5", "trainer.betas+=[1, 2]", "trainer.size+=3"])
    assert cfg.trainer.betas == [0.9, 0.99, 0.5, 1.0, 2.0]
    assert cfg.trainer.size == (1, 2, 3)


# ----------------------------------------------------------------------------- merge / replace
def test_dict_merges_list_replaces(roundtrip: RT) -> None:
    cfg = roundtrip(base())
    apply_overrides(
        cfg, ["probs={0: 0.5, 1: 0.5}", "net={num_blocks: 9, sub: {b: 2}}", "trainer.betas=[0.1]"]
    )
    assert cfg.probs == {0: 0.5, 1: 0.5, 2: 0.25}
    assert cfg.net.num_blocks == 9 and cfg.net.sub == {"a": 1, "b": 2}
    assert cfg.trainer.betas == [0.1]


def test_merge_into_node_rejects_unknown_param() -> None:
    with pytest.raises(OverrideError, match="has no parameter 'bogus'"):
        apply_overrides(base(), ["net={bogus: 1}"])


def test_merge_into_configclass(roundtrip: RT) -> None:
    cfg = roundtrip(make_config())
    apply_overrides(cfg, ["job={name: x, group: g}"])
    assert (cfg.job.name, cfg.job.group) == ("x", "g")
    with pytest.raises(OverrideError, match="no field 'nme'"):
        apply_overrides(cfg, ["job={nme: x}"])


# ----------------------------------------------------------------------------- globs
def test_glob_matches_children_where_rest_exists(roundtrip: RT) -> None:
    cfg = roundtrip(base())
    apply_overrides(cfg, ["trainer.callbacks.*.save_s3=true"])
    # a and b are Callback/WandB nodes (save_s3 is a parameter); c is a dict without it
    assert cfg.trainer.callbacks.a.save_s3 is True and cfg.trainer.callbacks.b.save_s3 is True
    assert "save_s3" not in cfg.trainer.callbacks.c
    records = explain(cfg, "trainer.callbacks.a.save_s3")
    assert records[-1].source == "trainer.callbacks.*.save_s3=true (2 matches)"


def test_glob_every_n_and_partial_pattern() -> None:
    cfg = apply_overrides(base(), ["trainer.callbacks.*.every_n=5", "blocks.*.num_heads=3"])
    assert [cfg.trainer.callbacks[k].every_n for k in "abc"] == [5, 5, 5]
    assert [b.num_heads for b in cfg.blocks] == [3, 3]
    cfg = apply_overrides(base(), ["trainer.callbacks.[ab].every_n=7".replace(".[ab]", ".a*")])
    assert cfg.trainer.callbacks.a.every_n == 7 and cfg.trainer.callbacks.b.every_n == 2


# ----------------------------------------------------------------------------- typed configs
def test_typed_config_overrides(roundtrip: RT) -> None:
    cfg = roundtrip(make_config())
    apply_overrides(
        cfg,
        [
            "trainer.max_iter=5",
            "model.config.resolution=480",
            "checkpoint.save_iter=1e2",
            "job.name=123",
        ],
    )
    assert cfg.trainer.max_iter == 5 and cfg.model.config.resolution == "480"
    assert cfg.checkpoint.save_iter == 100 and cfg.job.name == "123"


@pytest.mark.parametrize(
    "override,error,message",
    [
        pytest.param("trainer.max_iter=abc", ConfigTypeError, "expected int", id="typed-int"),
        pytest.param(
            "model.config.state_t=abc", ConfigTypeError, "expected int", id="model-config"
        ),
        pytest.param(
            "model_parallel.context_parallel_size=abc",
            ConfigTypeError,
            "expected int",
            id="model-parallel",
        ),
        pytest.param("job.foo=1", OverrideError, "no field 'foo'", id="unknown-field"),
        pytest.param("+job.foo=1", OverrideError, "no field 'foo'", id="add-field"),
        pytest.param(
            "~checkpoint.load_path",
            OverrideError,
            "cannot be deleted; set it instead",
            id="delete-field",
        ),
        pytest.param("~dataloader_val", OverrideError, "cannot be deleted", id="delete-required"),
        pytest.param(
            "model.config.conditional_frames_probs={a: 1}",
            ConfigTypeError,
            "expected",
            id="dict-key-type",
        ),
    ],
)
def test_typed_errors(override: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        apply_overrides(make_config(), [override])


def test_frozen_config_override_is_override_error() -> None:
    cfg = freeze(make_config())
    with pytest.raises(OverrideError, match="frozen"):
        apply_overrides(cfg, ["trainer.max_iter=3"])
    with pytest.raises(OverrideError, match="frozen"):
        apply_overrides(cfg, ["optimizer.lr=3"])


# ----------------------------------------------------------------------------- signature checks
def test_signature_not_checked_for_unimported_string_target() -> None:
    cfg = ConfigDict(x=L("some_unimported_pkg_zz.Thing")(a=1))
    apply_overrides(cfg, ["x.b=2", "+x.c=3"])  # left to check(): nothing imported
    assert cfg.x.b == 2 and cfg.x.c == 3
    import sys

    assert "some_unimported_pkg_zz" not in sys.modules


def test_parent_package_imported_is_not_enough() -> None:
    import tests.fixtures.lazycfg  # noqa: F401 - the parent package is imported

    cfg = ConfigDict(x=L("tests.fixtures.lazycfg.never_imported.Thing")(a=1))
    apply_overrides(cfg, ["x.b=2"])  # would raise if the module were imported
    assert cfg.x.b == 2


def test_signature_checked_for_imported_string_target() -> None:
    cfg = ConfigDict(
        x=L("tests.fixtures.lazycfg.toy.Net")(), y=L(LazyRef("tests.fixtures.lazycfg.toy.Net"))()
    )
    with pytest.raises(OverrideError, match="Did you mean 'num_blocks'"):
        apply_overrides(cfg, ["x.num_block=2"])
    with pytest.raises(ConfigTypeError):
        apply_overrides(cfg, ["y.num_blocks=abc"])


# ----------------------------------------------------------------------------- groups
def _registry() -> Registry:
    reg = Registry()
    reg.register("opt", "a", L(Net)(num_blocks=1), package="net")
    reg.register("opt", "b", L(Net)(num_heads=5), package="net")
    reg.register("cbs", "x", dict(x=L(Callback)()), package="trainer.callbacks")
    reg.register("cbs", "y", dict(y=L(Callback)()), package="trainer.callbacks")
    reg.register("maybe", "m", L(Net)(), package="trainer.opt")
    return reg


def test_group_choice_replaces_subtree(roundtrip: RT) -> None:
    reg = _registry()
    cfg = roundtrip(base())
    apply_overrides(cfg, ["net.num_blocks=7", "opt=b"], registry=reg)
    # group choices apply first, then key=value edits
    assert cfg.net == L(Net)(num_heads=5, num_blocks=7)
    assert choices(cfg)["opt"] == "b"
    apply_overrides(cfg, ["cbs=[x,y]"], registry=reg)
    assert list(cfg.trainer.callbacks) == ["x", "y"] and choices(cfg)["cbs"] == ["x", "y"]


def test_group_errors() -> None:
    reg = _registry()
    with pytest.raises(OverrideError, match="Valid options of 'opt': a, b"):
        apply_overrides(base(), ["opt=c"], registry=reg)
    with pytest.raises(OverrideError, match="cannot be null"):
        apply_overrides(base(), ["opt=null"], registry=reg)
    with pytest.raises(OverrideError, match="no '\\+' prefix"):
        apply_overrides(base(), ["+opt=a"], registry=reg)
    with pytest.raises(OverrideError, match="select at least one option of 'opt' \\(one of a, "):
        apply_overrides(base(), ["opt=[]"], registry=reg)


def test_delete_group_sets_optional_package_to_none() -> None:
    reg = _registry()
    cfg = apply_overrides(base(), ["maybe=m"], registry=reg)
    assert cfg.trainer.opt == L(Net)()
    apply_overrides(cfg, ["~maybe"], registry=reg)
    assert cfg.trainer.opt is None and choices(cfg)["maybe"] is None


def test_delete_group_on_non_optional_field_fails(toy_registry: Registry) -> None:
    with pytest.raises(OverrideError, match="cannot be None"):
        apply_overrides(make_config(), ["~data_val"], registry=toy_registry)
    cfg = apply_overrides(make_config(), ["~data_train"], registry=toy_registry)
    assert cfg.dataloader_train is None


def test_provenance_of_overrides() -> None:
    cfg = apply_overrides(base(), ["trainer.max_iter=3", "trainer.betas.1=0.5"])
    recs = explain(cfg, "trainer.max_iter")
    assert [r.value for r in recs] == [10, 3] and recs[-1].source == "trainer.max_iter=3"
    assert recs[-1].kind == "override"
    assert explain(cfg, "trainer.betas.1")[-1].source == "trainer.betas.1=0.5"


def test_global_group_cannot_be_deleted(toy_registry: Registry) -> None:
    with pytest.raises(OverrideError, match="lands at the root"):
        apply_overrides(make_config(), ["~model"], registry=toy_registry)


def test_glob_skips_positional_args_and_none_children() -> None:
    cfg = ConfigDict(p=L(Net)(L(Net)(num_blocks=1), a=L(Net)(), b=None))
    apply_overrides(cfg, ["p.*.num_blocks=4"])
    assert cfg.p.a.num_blocks == 4 and cfg.p[0].num_blocks == 1 and cfg.p.b is None


def test_positional_arg_override() -> None:
    cfg = apply_overrides(ConfigDict(p=L(Net)(1, 2)), ["p.1=5", "p[0]=4"])
    assert cfg.p._args_ == [4, 5]
