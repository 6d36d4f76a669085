"""Registry, register/select on the default registry, choices (lazycfg._overrides)."""

from __future__ import annotations

import copy

import pytest

import lazycfg
from lazycfg import (
    ConfigDict,
    ConfigError,
    L,
    Registry,
    RegistryError,
    choices,
    default_registry,
    explain,
    register,
    select,
)
from tests.fixtures.lazycfg.toy import Callback, Net, WandB


def reg_with_options() -> Registry:
    reg = Registry()
    reg.register("net", "small", L(Net)(num_blocks=2), package="model.net")
    reg.register("net", "big", L(Net)(num_blocks=20))
    reg.register(
        "callbacks", "basic", dict(a=L(Callback)(), b=L(Callback)()), package="trainer.callbacks"
    )
    reg.register(
        "callbacks", "wandb", dict(w=L(WandB)(), b=L(WandB)()), package="trainer.callbacks"
    )
    reg.register("model", "fsdp", {"model.parallel": "fsdp", "trainer.seed": 7}, package="_global_")
    return reg


def root() -> ConfigDict:
    return ConfigDict(model=dict(net=None, parallel="ddp"), trainer=dict(seed=0, callbacks={}))


def test_groups_options_package_get() -> None:
    reg = reg_with_options()
    assert reg.groups() == ["net", "callbacks", "model"]
    assert reg.options("net") == ["small", "big"]
    assert reg.package("net") == "model.net" and reg.package("net", "big") == "net"
    assert "net" in reg and "nope" not in reg
    a, b = reg.get("net", "small"), reg.get("net", "small")
    assert a == b and a is not b
    assert "net[2]" in repr(reg)


def test_select_replaces_subtree_with_fresh_copy() -> None:
    reg = reg_with_options()
    cfg = root()
    reg.select(cfg, "net", "small")
    cfg.model.net.num_blocks = 99
    assert reg.get("net", "small").num_blocks == 2  # the stored option is untouched
    cfg.model.net.extra = 1
    reg.select(cfg, "net", "small")
    assert cfg.model.net == L(Net)(num_blocks=2)  # no stale keys
    assert choices(cfg) == {"net": "small"}


def test_multi_option_group_merges_in_order() -> None:
    reg = reg_with_options()
    cfg = reg.select(root(), "callbacks", ["basic", "wandb"])
    assert list(cfg.trainer.callbacks) == ["a", "b", "w"]
    assert cfg.trainer.callbacks.b == L(WandB)()  # later option wins, first position kept
    assert choices(cfg)["callbacks"] == ["basic", "wandb"]


def test_global_package_replaces_exactly_those_paths() -> None:
    reg = reg_with_options()
    cfg = reg.select(root(), "model", "fsdp")
    assert cfg.model.parallel == "fsdp" and cfg.trainer.seed == 7
    assert cfg.model.net is None and cfg.trainer.callbacks == {}
    assert explain(cfg, "trainer.seed")[-1].source == "model=fsdp"


def test_select_records_provenance_and_choices_on_root() -> None:
    reg = reg_with_options()
    cfg = reg.select(root(), "net", "small")
    recs = explain(cfg, "model.net")
    assert recs[-1].kind == "select" and recs[-1].source == "net=small"
    leaf = explain(cfg, "model.net.num_blocks")
    assert leaf[0].source.endswith("(via net=small)") and "test_registry.py" in leaf[0].source
    other = root()
    assert choices(other) == {}  # two configs never mix
    c2 = copy.deepcopy(cfg)
    assert choices(c2) == {"net": "small"}
    assert c2 == cfg and root() == other  # equality ignores choices


def test_duplicate_registration() -> None:
    reg = Registry()
    reg.register("g", "a", L(Net)(num_blocks=1))
    reg.register("g", "a", L(Net)(num_blocks=1))  # equal: no-op
    with pytest.raises(RegistryError, match="already registered.*replace=True"):
        reg.register("g", "a", L(Net)(num_blocks=2))
    with pytest.raises(ConfigError):
        reg.register("g", "a", L(Net)(num_blocks=1), package="other")
    reg.register("g", "a", L(Net)(num_blocks=2), replace=True)
    assert reg.get("g", "a").num_blocks == 2


@pytest.mark.parametrize(
    "args,message",
    [
        pytest.param(("", "a", 1), "non-empty strings", id="empty-group"),
        pytest.param(("g", "", 1), "non-empty strings", id="empty-name"),
        pytest.param(("g", "a", L(Net)(), "_global_"), "mapping of root paths", id="global-node"),
        pytest.param(("g", "a", 1, "a..b"), "not a dotted config path", id="bad-package"),
    ],
)
def test_register_errors(args: tuple, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Registry().register(*args)


def test_unknown_group_and_option_errors() -> None:
    reg = reg_with_options()
    with pytest.raises(RegistryError, match="unknown config group 'nett'.*Did you mean 'net'"):
        reg.options("nett")
    with pytest.raises(RegistryError, match="Valid options of 'net': small, big"):
        reg.select(root(), "net", "smal")
    with pytest.raises(RegistryError, match="Did you mean 'small'"):
        reg.get("net", "smal")
    with pytest.raises(RegistryError, match="=null"):
        reg.select(root(), "net", None)
    with pytest.raises(RegistryError, match="at least one"):
        reg.select(root(), "callbacks", [])


def test_multi_option_errors() -> None:
    reg = reg_with_options()
    reg.register("mixed", "p", dict(a=1), package="x")
    reg.register("mixed", "q", dict(b=1), package="y")
    reg.register("mixed", "r", 3, package="x")
    with pytest.raises(RegistryError, match="different packages"):
        reg.select(ConfigDict(x={}, y={}), "mixed", ["p", "q"])
    with pytest.raises(RegistryError, match="only mapping or lazy-node"):
        reg.select(ConfigDict(x={}, y={}), "mixed", ["p", "r"])


def test_select_creates_intermediate_mappings_and_rejects_none_parent() -> None:
    reg = Registry()
    reg.register("deep", "a", 1, package="a.b.c")
    cfg = reg.select(ConfigDict(), "deep", "a")
    assert cfg.a.b.c == 1
    with pytest.raises(ConfigError, match="is None"):
        reg.select(ConfigDict(a=None), "deep", "a")


def test_module_level_register_and_select_use_default_registry() -> None:
    group = "lazycfg_test_only_group"
    register(group, "one", L(Net)(num_blocks=1), package="slot")
    register(group, "one", L(Net)(num_blocks=1), package="slot")  # once per process: no-op
    assert group in default_registry().groups()
    cfg = select(ConfigDict(slot=None), group, "one")
    assert cfg.slot == L(Net)(num_blocks=1) and lazycfg.choices(cfg) == {group: "one"}
    other = Registry()
    other.register(group, "two", 2, package="slot")
    assert select(ConfigDict(slot=None), group, "two", registry=other).slot == 2


def test_iter_options() -> None:
    from lazycfg._overrides import iter_options

    names = [(g, n) for g, n, _ in iter_options(reg_with_options())]
    assert ("net", "small") in names and ("model", "fsdp") in names


def test_nested_group_choices_survive_parent_selection() -> None:
    reg = Registry()
    reg.register("model", "a", {"model": ConfigDict(kind="a", net=None)}, package="_global_")
    reg.register("model", "b", {"model": ConfigDict(kind="b", net=None)}, package="_global_")
    reg.register("net", "small", L(Net)(num_blocks=2), package="model.net")
    cfg = reg.select(ConfigDict(model=None), "model", "a")
    reg.select(cfg, "net", "small")
    cfg.model.net.num_heads = 3  # an edit of the old subtree is replaced with it
    reg.select(cfg, "model", "b")
    assert cfg.model.kind == "b" and cfg.model.net == L(Net)(num_blocks=2)
    assert choices(cfg) == {"model": "b", "net": "small"}
    assert explain(cfg, "model.net")[-1].source == "net=small"


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        pytest.param(
            L(Net)(num_blocks=2, dim=8),
            L(Net)(num_blocks=20),
            L(Net)(num_blocks=20, dim=8),
            id="same-target-merges-kwargs",
        ),
        pytest.param(
            L(Net)(num_blocks=2, dim=8),
            L(WandB)(project="p"),
            L(WandB)(project="p"),
            id="other-target-replaces-wholesale",
        ),
        pytest.param(
            dict(cb=L(Net)(num_blocks=2, dim=8), k=1),
            dict(cb=L(Net)(dim=9)),
            dict(cb=L(Net)(num_blocks=2, dim=9), k=1),
            id="nested-nodes-merge",
        ),
        pytest.param(
            dict(cb=L(Net)(num_blocks=2)),
            dict(cb=L(WandB)()),
            dict(cb=L(WandB)()),
            id="nested-other-target-replaces",
        ),
    ],
)
def test_multi_option_merge_follows_hydra_order(first, second, merged) -> None:
    reg = Registry()
    reg.register("g", "one", first, package="x")
    reg.register("g", "two", second, package="x")
    cfg = reg.select(ConfigDict(x=None), "g", ["one", "two"])
    assert cfg.x == merged
    assert reg.get("g", "one") == first  # the stored options are untouched


def test_multi_option_of_mixed_kinds_is_an_error() -> None:
    reg = Registry()
    reg.register("g", "node", L(Net)(num_blocks=2), package="x")
    reg.register("g", "map", dict(num_blocks=3), package="x")
    with pytest.raises(RegistryError, match="'node' is a lazy node and 'map' a mapping"):
        reg.select(ConfigDict(x=None), "g", ["node", "map"])
