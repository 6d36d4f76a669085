"""instantiate (lazycfg._build); every case also runs on save->load and to_py->load."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from lazycfg import PLACEHOLDER, ConfigDict, InstantiationError, L, LazyRef, instantiate
from tests.fixtures.lazycfg.toy import (
    Callback,
    ModelConfig,
    Net,
    Pair,
    SACConfig,
    WandB,
    add,
    echo,
    explode,
    scaled,
)

RT = Callable[[Any], Any]


def test_nested_nodes_built_bottom_up(roundtrip: RT) -> None:
    cfg = roundtrip(ConfigDict(net=L(Pair)(L(Callback)(every_n=3), inner=L(Net)(num_blocks=2))))
    obj = instantiate(cfg.net)
    assert isinstance(obj, Pair)
    assert isinstance(obj.args[0], Callback) and obj.args[0].every_n == 3
    assert isinstance(obj.kwargs["inner"], Net) and obj.kwargs["inner"].num_blocks == 2


def test_nodes_inside_plain_dicts_lists_tuples_are_built(roundtrip: RT) -> None:
    cfg = roundtrip(ConfigDict(cbs=dict(a=L(Callback)(), b=[L(WandB)(), (L(Callback)(), 1)])))
    built = instantiate(cfg)
    assert type(built) is dict and type(built["cbs"]) is dict
    assert isinstance(built["cbs"]["a"], Callback)
    assert type(built["cbs"]["b"]) is list and isinstance(built["cbs"]["b"][0], WandB)
    assert type(built["cbs"]["b"][1]) is tuple and isinstance(built["cbs"]["b"][1][0], Callback)


def test_callee_receives_plain_containers(roundtrip: RT) -> None:
    cfg = roundtrip(L(echo)(d=dict(x=dict(y=1)), lst=[1, [2]], tup=(1, 2)))
    got = instantiate(cfg)
    assert type(got["d"]) is dict and type(got["d"]["x"]) is dict
    assert type(got["lst"]) is list and type(got["lst"][1]) is list
    assert type(got["tup"]) is tuple and got["tup"] == (1, 2)


def test_call_site_kwargs_and_args(roundtrip: RT) -> None:
    cfg = roundtrip(L(Pair)(1, a=1, b=L(Callback)()))
    obj = instantiate(cfg, 7, b="runtime", c=99)
    assert obj.args == (7, 1)
    assert obj.kwargs == {"a": 1, "b": "runtime", "c": 99}
    assert instantiate(roundtrip(L(add)(a=1)), b=2) == 3


def test_call_args_need_a_node() -> None:
    with pytest.raises(InstantiationError, match="need a lazy node"):
        instantiate({"a": 1}, c=1)


def test_recursive_false_passes_children_unbuilt(roundtrip: RT) -> None:
    cfg = roundtrip(L(echo)(net=L(Net)(num_blocks=2), cfg=dict(a=L(Net)()), _recursive_=False))
    got = instantiate(cfg)
    assert got["net"] == L(Net)(num_blocks=2)
    assert got["cfg"]["a"] == L(Net)()


def test_shared_node_built_once(roundtrip: RT) -> None:
    shared = L(Net)(num_blocks=4)
    cfg = roundtrip(ConfigDict(a=shared, b=L(Pair)(shared), c=[shared]))
    built = instantiate(cfg)
    assert built["a"] is built["b"].args[0] is built["c"][0]
    # a second call builds new objects
    assert instantiate(cfg)["a"] is not built["a"]


def test_string_target_located(roundtrip: RT) -> None:
    obj = instantiate(roundtrip(L("tests.fixtures.lazycfg.toy.Net")(num_blocks=5)))
    assert isinstance(obj, Net) and obj.num_blocks == 5


def test_lazyref_target_and_values_resolved(roundtrip: RT) -> None:
    cfg = roundtrip(
        L(echo)(
            cls=LazyRef("tests.fixtures.lazycfg.toy.Net"),
            net=L(LazyRef("tests.fixtures.lazycfg.toy.Net"))(num_blocks=1),
        )
    )
    got = instantiate(cfg)
    assert got["cls"] is Net and isinstance(got["net"], Net)


def test_attrs_instance_passed_through(roundtrip: RT) -> None:
    cfg = roundtrip(L(echo)(sac=SACConfig(mode="aggressive"), model=ModelConfig(state_t=3)))
    got = instantiate(cfg)
    assert got["sac"] == SACConfig(mode="aggressive")
    assert isinstance(got["model"], ModelConfig) and got["model"].state_t == 3


def test_partial_value_passed_unbuilt(roundtrip: RT) -> None:
    cfg = L(echo)(fn=scaled)
    back = roundtrip(cfg)
    assert back == cfg  # partials compare by (func, args, keywords), also after save -> load
    got = instantiate(back)["fn"]
    assert isinstance(got, functools.partial) and got == scaled and got(1) == scaled(1)


def test_positional_only_scalars(roundtrip: RT) -> None:
    assert instantiate(roundtrip(L(add)(2, 3))) == 5


def test_failure_names_path_target_and_site(roundtrip: RT) -> None:
    cfg = roundtrip(ConfigDict(model=dict(blocks=[L(Net)(), L(explode)(x=1)])))
    with pytest.raises(InstantiationError) as info:
        instantiate(cfg)
    msg = str(info.value)
    assert "'model.blocks.1'" in msg and "tests.fixtures.lazycfg.toy.explode" in msg
    assert "ValueError: boom" in msg
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.path == "model.blocks.1"
    if roundtrip.mode == "direct":  # type: ignore[attr-defined]
        assert "test_instantiate.py:" in msg  # the node's file:line


def test_missing_required_argument_is_wrapped_type_error(roundtrip: RT) -> None:
    with pytest.raises(InstantiationError, match="TypeError") as info:
        instantiate(roundtrip(ConfigDict(f=L(add)(b=1))))
    assert isinstance(info.value.__cause__, TypeError)


def test_unimportable_target(roundtrip: RT) -> None:
    with pytest.raises(InstantiationError, match="cannot import target") as info:
        instantiate(roundtrip(ConfigDict(x=L("tests.fixtures.lazycfg.toy.Missing")())))
    assert info.value.path == "x"
    msg = str(info.value)
    assert msg.count("cannot import") == 1 and "has no attribute 'Missing'" in msg, msg


def test_unimportable_lazyref_value() -> None:
    with pytest.raises(InstantiationError, match="failed to import 'v'"):
        instantiate({"v": LazyRef("no_such_mod_q.X")})


def test_placeholder_must_be_supplied(roundtrip: RT) -> None:
    cfg = roundtrip(ConfigDict(optimizer=L(echo)(params=PLACEHOLDER, lr=1)))
    with pytest.raises(InstantiationError, match="optimizer.params.*PLACEHOLDER"):
        instantiate(cfg)
    assert instantiate(cfg.optimizer, params=[1])["params"] == [1]


def test_leaves_returned_unchanged() -> None:
    assert instantiate(3) == 3 and instantiate("x") == "x" and instantiate(None) is None
    assert instantiate(Net) is Net


def test_nested_instantiate_inside_callee(roundtrip: RT) -> None:
    from tests.fixtures.lazycfg.toy import Model

    cfg = roundtrip(L(Model)(config=ModelConfig(net=L(Net)(num_blocks=7)), _recursive_=False))
    model = instantiate(cfg)
    assert isinstance(model.net, Net) and model.net.num_blocks == 7
    assert model.config.net == L(Net)(num_blocks=7)
