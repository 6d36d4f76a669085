"""Lazy nodes, ConfigDict, LazyRef and dict wrapping (lazycfg._node)."""

from __future__ import annotations

import copy
import functools
import pickle
from typing import Any

import pytest

from lazycfg import (
    PLACEHOLDER,
    ConfigDict,
    ConfigError,
    ConfigKeyError,
    L,
    LazyCall,
    LazyNode,
    LazyRef,
)
from lazycfg._node import (
    get_site,
    locate,
    node_args,
    node_kwargs,
    resolve_target,
    target_name,
    wrap,
)
from tests.fixtures.lazycfg.toy import Callback, Net, Pair


def test_kwargs_as_attributes_and_items() -> None:
    n = L(Net)(num_blocks=3)
    assert n.num_blocks == 3 and n["num_blocks"] == 3
    n.num_heads = 8
    n["model_channels"] = 64
    assert dict(node_kwargs(n)) == {"num_blocks": 3, "num_heads": 8, "model_channels": 64}
    del n.num_heads
    del n["model_channels"]
    assert list(n) == ["num_blocks"]


def test_special_slots() -> None:
    n = L(Pair)(1, 2, k=3)
    assert n._target_ is Pair and n._args_ == [1, 2] and n._recursive_ is True
    n._target_ = "tests.fixtures.lazycfg.toy.Net"
    n._args_ = (5,)
    n._recursive_ = False
    assert n._target_ == "tests.fixtures.lazycfg.toy.Net" and n._args_ == [5]
    assert not n._recursive_
    assert n[0] == 5
    n[0] = 6
    assert node_args(n) == [6]


def test_kwargs_may_shadow_method_like_names() -> None:
    n = L(dict)(items=1, keys=2, values=3)
    assert n.items == 1 and n.keys == 2 and n["values"] == 3


def test_dunder_protocols() -> None:
    n = L(Net)(a=1, b=2)
    assert list(iter(n)) == ["a", "b"] and len(n) == 2 and "a" in n and "c" not in n
    assert bool(L(Net)())  # an empty node is still truthy
    assert set(dir(n)) >= {"a", "b", "_target_"}


def test_missing_kwarg_errors() -> None:
    n = L(Net)(num_blocks=1)
    with pytest.raises(ConfigKeyError, match="num_block.*Did you mean 'num_blocks'"):
        _ = n.num_block
    with pytest.raises(AttributeError):
        _ = n.nothing
    assert getattr(n, "nothing", 7) == 7
    with pytest.raises(ConfigKeyError):
        del n.nothing
    with pytest.raises(ConfigKeyError, match="no index 3"):
        _ = n[3]
    with pytest.raises(ConfigKeyError, match=r"'num_block'.*Written: num_blocks\."):
        _ = n["num_block"]


def test_item_access_by_position_and_path_in_errors() -> None:
    from lazycfg.tree import get_child

    n = L(Net)(7, num_blocks=1)
    assert n[0] == n["0"] == get_child(n, "0") == 7 and n[-1] == 7
    with pytest.raises(ConfigKeyError, match=r"^'model.net.depth': L\(.*Net\) has no argument"):
        get_child(n, "depth", path="model.net")


@pytest.mark.parametrize("bad", [3, None, L(Net)()], ids=["int", "none", "node"])
def test_bad_target(bad: object) -> None:
    with pytest.raises(ConfigError, match="must be a callable"):
        L(bad)


def test_bad_special_kwargs() -> None:
    with pytest.raises(ConfigError, match="_recursive_ must be a bool"):
        L(Net)(_recursive_="no")
    with pytest.raises(ConfigError, match="set by L"):
        L(Net)(_target_="x")
    with pytest.raises(ConfigError, match="not a dotted import name"):
        L("has space")
    n = L(Net)()
    with pytest.raises(ConfigError, match="_args_ must be a list"):
        n._args_ = 3
    with pytest.raises(ConfigError, match="kwarg names must be str"):
        n[1.5] = 1


def test_equality_by_content_and_target_name() -> None:
    assert L(Net)(a=1) == L(Net)(a=1)
    assert L(Net)(a=1) != L(Net)(a=2)
    assert L(Net)(a=1) == L("tests.fixtures.lazycfg.toy.Net")(a=1)
    assert L(Net)() == L(LazyRef("tests.fixtures.lazycfg.toy.Net"))()
    assert L(Net)() != L(Callback)()
    assert L(Net)(1) != L(Net)(2)
    assert L(Net)(_recursive_=False) != L(Net)()
    assert L(Net)() != {"_target_": Net}
    with pytest.raises(TypeError):
        hash(L(Net)())


def test_equality_of_reexported_name() -> None:
    # "collections.OrderedDict" is defined in collections but both names denote one object
    import collections

    assert L(collections.OrderedDict)() == L("collections.OrderedDict")()


def test_creation_site_recorded() -> None:
    n = L(Net)()
    site = get_site(n)
    assert site.endswith(f"test_node.py:{test_creation_site_recorded.__code__.co_firstlineno + 1}")


def test_plain_dicts_get_attribute_access_anywhere() -> None:
    n = L(Pair)(dict(a=1), cfg=dict(sub=dict(x=1)), items=[dict(y=2)], pair=(dict(z=3),))
    assert isinstance(n.cfg, ConfigDict) and n.cfg.sub.x == 1
    assert n.items[0].y == 2 and n.pair[0].z == 3 and n[0].a == 1
    n.later = {"w": {"v": 1}}
    assert n.later.w.v == 1


def test_node_in_two_parents_is_one_node() -> None:
    shared = L(Net)(num_blocks=2)
    root = ConfigDict(a=shared, b=dict(inner=shared))
    assert root.a is root.b.inner
    root.a.num_blocks = 5
    assert root.b.inner.num_blocks == 5
    copied = copy.deepcopy(root)
    assert copied.a is copied.b.inner and copied.a is not shared
    assert copied == root


def test_deepcopy_keeps_history_and_site() -> None:
    n = L(Net)(num_blocks=1)
    n.num_blocks = 2
    c = copy.deepcopy(n)
    from lazycfg._node import get_history

    assert [r.value for r in get_history(c, "num_blocks")] == [1, 2]
    assert get_site(c) == get_site(n)
    s = copy.copy(n)
    assert s == n and s is not n


def test_pickle_roundtrip() -> None:
    root = ConfigDict(
        net=L(Net)(num_blocks=2, sub=dict(a=[1, 2])), ph=PLACEHOLDER, ref=LazyRef("a.b")
    )
    back = pickle.loads(pickle.dumps(root))
    assert back == root and back.ph is PLACEHOLDER and back.net.sub.a == [1, 2]


def test_repr() -> None:
    assert repr(L(Net)(1, a="x", _recursive_=False)) == (
        "L(tests.fixtures.lazycfg.toy.Net)(1, a='x', _recursive_=False)"
    )
    assert repr(PLACEHOLDER) == "PLACEHOLDER"
    assert repr(LazyCall(Net)) == "L(tests.fixtures.lazycfg.toy.Net)"


# ----------------------------------------------------------------------------- ConfigDict
def test_configdict_attribute_access() -> None:
    d = ConfigDict(a=1, items=2)
    assert d.a == 1 and d["items"] == 2 and callable(d.items)
    d.b = 3
    assert d == {"a": 1, "items": 2, "b": 3}
    del d.b
    with pytest.raises(ConfigError, match="shadows a dict method"):
        d.keys = 1
    with pytest.raises(ConfigKeyError, match="Did you mean 'a'"):
        _ = d.aa
    with pytest.raises(ConfigKeyError):
        del d.zz
    d.update(c=dict(x=1))
    assert d.c.x == 1
    assert d.setdefault("e", {"y": 2}).y == 2
    assert (d | {"f": {"g": 1}}).f.g == 1
    d |= {"h": 1}
    assert d.h == 1 and isinstance(d.copy(), ConfigDict)
    assert "a" in dir(d)


def test_configdict_mutators() -> None:
    d = ConfigDict(a=1, b=2, c=3)
    assert d.pop("a") == 1 and d.popitem() == ("c", 3)
    d.clear()
    assert d == {}


# ----------------------------------------------------------------------------- LazyRef / locate
def test_lazyref() -> None:
    r = LazyRef("pkg.mod")
    assert r.Cls == "pkg.mod.Cls" and r.Cls == LazyRef("pkg.mod.Cls") and hash(r) == hash("pkg.mod")
    assert str(r.Cls) == "pkg.mod.Cls" and repr(r) == "LazyRef('pkg.mod')"
    with pytest.raises(ConfigError, match="cannot be called"):
        r.Cls(1)
    with pytest.raises(ConfigError, match="cannot set"):
        r.x = 1
    assert copy.deepcopy(r) is r and pickle.loads(pickle.dumps(r)) == r


def test_locate_and_target_name() -> None:
    assert locate("tests.fixtures.lazycfg.toy.Net") is Net
    assert locate("tests.fixtures.lazycfg.toy.WandB.__init__") is not None
    assert target_name(Net) == "tests.fixtures.lazycfg.toy.Net"
    assert resolve_target(L("tests.fixtures.lazycfg.toy.Net")()) is Net
    with pytest.raises(ConfigError, match="cannot import"):
        locate("tests.fixtures.lazycfg.toy.Nope")
    with pytest.raises(ConfigError, match="cannot import"):
        locate("no_such_module_xyz.Thing")
    with pytest.raises(ConfigError, match="not a dotted import name"):
        locate("a..b")


def test_wrap_keeps_lists_in_place() -> None:
    lst = [{"a": 1}, 2]
    out = wrap(lst)
    assert out is lst and isinstance(lst[0], ConfigDict)
    tup = (1, 2)
    assert wrap(tup) is tup
    node = L(Net)()
    assert wrap(node) is node
    assert isinstance(node, LazyNode)


def test_configlist_behaves_like_a_list_until_frozen() -> None:
    from lazycfg import ConfigList, freeze

    lst = ConfigList([3, 1])
    lst.append({"a": 1})
    lst.extend([{"b": 2}])
    lst.insert(0, 0)
    lst += [9]
    assert isinstance(lst[3], ConfigDict) and lst[3].a == 1 and lst[4].b == 2
    lst.remove(9)
    assert lst.pop() == {"b": 2}
    del lst[-1]
    lst[0] = 5
    lst.sort()
    lst.reverse()
    lst *= 1
    assert lst == [5, 3, 1]
    lst2 = copy.deepcopy(lst)
    assert lst2 == lst and isinstance(lst2, ConfigList)
    assert pickle.loads(pickle.dumps(lst)) == lst
    frozen = freeze(ConfigDict(x=lst)).x
    for op in (
        lambda: frozen.insert(0, 1),
        lambda: frozen.reverse(),
        lambda: frozen.clear(),
        lambda: frozen.remove(5),
        lambda: frozen.__imul__(2),
    ):
        with pytest.raises(ConfigError, match="frozen"):
            op()
    assert pickle.loads(pickle.dumps(frozen)) == [5, 3, 1]


@pytest.mark.parametrize(
    ("other", "equal"),
    [
        pytest.param(functools.partial(max, 3, key=abs), True, id="same-content"),
        pytest.param(functools.partial(max, 4, key=abs), False, id="other-args"),
        pytest.param(functools.partial(max, 3), False, id="other-keywords"),
        pytest.param(functools.partial(min, 3, key=abs), False, id="other-func"),
        pytest.param(max, False, id="not-a-partial"),
    ],
)
def test_partials_in_configs_compare_by_content(other: Any, equal: bool) -> None:
    from lazycfg._node import ConfigPartial

    node = L("pkg.Model")(fn=functools.partial(max, 3, key=abs))
    fn = node.fn
    assert type(fn) is ConfigPartial and fn(-5) == -5
    assert (fn == other) is equal and (other == fn) is equal and (fn != other) is not equal
    assert repr(fn) == "functools.partial(<built-in function max>, 3, key=<built-in function abs>)"
    if equal:
        assert hash(fn) == hash(ConfigPartial(max, 3, key=abs))
