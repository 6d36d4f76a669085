"""@configclass and plain attrs classes (lazycfg._configclass)."""

from __future__ import annotations

import copy
import pickle
from typing import Any, Optional

import attrs
import pytest

from lazycfg import (
    ConfigDict,
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    L,
    apply_overrides,
    configclass,
    explain,
)
from lazycfg._configclass import field_types, is_configclass
from lazycfg._node import get_history, get_site
from tests.fixtures.lazycfg.toy import Net


@configclass
class Inner:
    depth: int = 2


@configclass
class Cfg:
    name: str = "run"
    iters: int = 10
    lr: float = 1e-3
    betas: tuple = (0.9, 0.99)
    tags: list = []
    inner: Inner = Inner()
    extra: Optional[dict] = None
    net: Any = None
    positive: int = attrs.field(default=1, validator=attrs.validators.gt(0))
    scaled: int = attrs.field(default=2, converter=int)


def test_lossless_conversions() -> None:
    c = Cfg()
    c.iters = 5.0
    c.lr = 1
    c.name = 480
    c.betas = [0.1, 0.2]
    assert (c.iters, c.lr, c.name, c.betas) == (5, 1.0, "480", (0.1, 0.2))
    assert type(c.iters) is int and type(c.lr) is float


@pytest.mark.parametrize(
    "field,value,expected",
    [
        pytest.param("iters", "abc", "int", id="str-into-int"),
        pytest.param("iters", 1.5, "int", id="lossy-float"),
        pytest.param("iters", True, "int", id="bool-into-int"),
        pytest.param("lr", "fast", "float", id="str-into-float"),
        pytest.param("name", [1], "str", id="list-into-str"),
        pytest.param("inner", 3, "Inner", id="int-into-class"),
        pytest.param("extra", [1], "dict", id="list-into-optional-dict"),
    ],
)
def test_wrong_type_raises(field: str, value: Any, expected: str) -> None:
    c = Cfg()
    with pytest.raises(ConfigTypeError, match=f"Cfg.{field}: expected .*{expected}") as info:
        setattr(c, field, value)
    assert info.value.value == value


def test_constructor_is_checked_too() -> None:
    with pytest.raises(ConfigTypeError, match="Cfg.iters"):
        Cfg(iters="x")


def test_typo_is_error_with_suggestion() -> None:
    c = Cfg()
    with pytest.raises(ConfigKeyError, match="no field 'iter'.*Did you mean 'iters'"):
        c.iter = 1
    with pytest.raises(ConfigKeyError, match="Did you mean 'iters'"):
        _ = c.iterz
    with pytest.raises(AttributeError):
        _ = c.__nothing__
    c._private_cache = 3  # private names are allowed for runtime code
    assert c._private_cache == 3


def test_delete_field_is_error() -> None:
    c = Cfg()
    with pytest.raises(ConfigError, match="set it instead"):
        del c.iters
    c._tmp = 1
    del c._tmp


def test_attrs_validators_and_converters_run_on_assignment() -> None:
    c = Cfg()
    with pytest.raises(ConfigError, match="invalid value 0"):
        c.positive = 0
    c.scaled = "7"
    assert c.scaled == 7
    with pytest.raises(ConfigError, match="converter"):
        c.scaled = "x"


def test_mutable_defaults_are_not_shared() -> None:
    a, b = Cfg(), Cfg()
    a.tags.append(1)
    a.inner.depth = 5
    assert b.tags == [] and b.inner.depth == 2


def test_dicts_become_configdict() -> None:
    c = Cfg(extra={"a": {"b": 1}})
    assert isinstance(c.extra, ConfigDict) and c.extra.a.b == 1
    c.net = dict(x=L(Net)())
    assert c.net.x == L(Net)()


def test_provenance_and_site() -> None:
    c = Cfg()
    line = test_provenance_and_site.__code__.co_firstlineno + 1
    assert get_site(c).endswith(f"test_configclass.py:{line}")
    c.iters = 3
    recs = get_history(c, "iters")
    assert [r.value for r in recs] == [10, 3] and [r.kind for r in recs] == ["init", "python"]
    assert recs[1].source.endswith(f"test_configclass.py:{line + 3}")
    assert str(explain(c, "iters")[-1]).startswith("3  <- ")


def test_equality_copy_pickle_ignore_metadata() -> None:
    a, b = Cfg(), Cfg()
    a.iters = 3
    b.iters = 3
    assert a == b
    c = copy.deepcopy(a)
    assert c == a and get_history(c, "iters") == get_history(a, "iters")
    assert pickle.loads(pickle.dumps(a)) == a


def test_helpers() -> None:
    assert is_configclass(Cfg) and is_configclass(Cfg()) and not is_configclass(Net)
    assert field_types(Cfg)["iters"] is int and field_types(Cfg)["extra"] == Optional[dict]
    with pytest.raises(ConfigError, match="slots=False"):
        configclass(slots=True)


def test_decorator_with_arguments_and_subclass() -> None:
    @configclass(kw_only=True)
    class K:
        a: int = 1

    @configclass
    class Sub(Inner):
        width: int = 3

    assert K(a=2).a == 2
    s = Sub()
    with pytest.raises(ConfigTypeError):
        s.depth = "x"
    s.width = 4.0
    assert s.width == 4


def test_string_annotations_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    module = types.ModuleType("lazycfg_test_postponed")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(  # noqa: S102 - a module with postponed annotations
        "from __future__ import annotations\n"
        "from typing import Optional\n"
        "from lazycfg import configclass\n"
        "@configclass\n"
        "class P:\n"
        "    a: Optional[int] = None\n"
        "    b: Unknown = None\n",
        module.__dict__,
    )
    p = module.P()
    p.a = 3
    p.b = object()  # unresolvable annotation: accepted
    with pytest.raises(ConfigTypeError):
        p.a = "x"


# ----------------------------------------------------------------------------- plain attrs
@attrs.define
class PlainSlots:
    x: int = 1


@attrs.define(slots=False)
class PlainDict:
    x: int = 1
    sub: PlainSlots = attrs.field(factory=PlainSlots)


def test_overrides_on_plain_attrs(roundtrip: Any) -> None:
    cfg = roundtrip(ConfigDict(p=PlainDict()))
    apply_overrides(cfg, ["p.x=3", "p.sub.x=4"])
    assert cfg.p.x == 3 and cfg.p.sub.x == 4
    with pytest.raises(ConfigTypeError):
        apply_overrides(cfg, ["p.x=abc"])
    from lazycfg import OverrideError

    with pytest.raises(OverrideError, match="no field 'y'"):
        apply_overrides(cfg, ["p.y=1"])
    assert explain(cfg, "p.x")[-1].source == "p.x=3"
