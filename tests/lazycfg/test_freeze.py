"""freeze / is_frozen / unfreeze (lazycfg._build)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from lazycfg import (
    ConfigDict,
    ConfigList,
    FrozenConfigError,
    L,
    freeze,
    is_frozen,
    unfreeze,
)
from tests.fixtures.lazycfg.toy import Net, make_config


@attrs.define
class Slotted:
    x: int = 1


@attrs.define(slots=False)
class WithDict:
    x: int = 1


def frozen_tree() -> ConfigDict:
    shared = L(Net)(num_blocks=1)
    return freeze(
        ConfigDict(
            a=shared,
            b=dict(c=[1, dict(d=2)], shared=shared),
            t=(L(Net)(), [3]),
            s=Slotted(),
            w=WithDict(),
        )
    )


@pytest.mark.parametrize(
    "mutate,path",
    [
        pytest.param(lambda c: setattr(c.a, "num_blocks", 2), "a.num_blocks", id="node-setattr"),
        pytest.param(lambda c: c.a.__setitem__("x", 2), "a.x", id="node-setitem"),
        pytest.param(lambda c: delattr(c.a, "num_blocks"), "a.num_blocks", id="node-delattr"),
        pytest.param(lambda c: setattr(c.a, "_target_", "x.Y"), "a._target_", id="node-target"),
        pytest.param(lambda c: c.b.__setitem__("new", 1), "b.new", id="mapping-add"),
        pytest.param(lambda c: setattr(c, "z", 1), "z", id="root-attr"),
        pytest.param(lambda c: c.b.__delitem__("c"), "b.c", id="mapping-del"),
        pytest.param(lambda c: c.b.update(x=1), "b.x", id="mapping-update"),
        pytest.param(lambda c: c.b.pop("c"), "b.*", id="mapping-pop"),
        pytest.param(lambda c: c.b.clear(), "b.*", id="mapping-clear"),
        pytest.param(lambda c: c.b.c.append(3), "b.c.*", id="list-append"),
        pytest.param(lambda c: c.b.c.__setitem__(0, 3), "b.c.0", id="list-setitem"),
        pytest.param(lambda c: c.b.c.__delitem__(0), "b.c.0", id="list-delitem"),
        pytest.param(lambda c: c.b.c.extend([1]), "b.c.*", id="list-extend"),
        pytest.param(lambda c: c.b.c.sort(), "b.c.*", id="list-sort"),
        pytest.param(lambda c: c.b.c[1].__setitem__("d", 3), "b.c.1.d", id="dict-in-list"),
        pytest.param(lambda c: setattr(c.t[0], "x", 1), "t.0.x", id="node-in-tuple"),
        pytest.param(lambda c: c.t[1].append(1), "t.1.*", id="list-in-tuple"),
        pytest.param(lambda c: setattr(c.w, "x", 2), "w.x", id="plain-attrs-dict"),
        pytest.param(lambda c: setattr(c.s, "x", 2), "s.x", id="plain-attrs-slotted"),
        pytest.param(lambda c: delattr(c.s, "x"), "s.x", id="plain-attrs-slotted-del"),
    ],
)
def test_frozen_everywhere(mutate: Callable[[Any], Any], path: str) -> None:
    cfg = frozen_tree()
    with pytest.raises(FrozenConfigError) as info:
        mutate(cfg)
    assert info.value.path == path and f"'{path}'" in str(info.value)
    assert "unfreeze" in str(info.value)


def test_slotted_plain_attrs_frozen() -> None:
    cfg = frozen_tree()
    with pytest.raises(FrozenConfigError, match="'s.x'"):
        cfg.s.x = 3
    with unfreeze(cfg):
        cfg.s.x = 3
    assert cfg.s.x == 3 and is_frozen(cfg.s)
    with pytest.raises(FrozenConfigError, match="'s.x'"):  # the path survives a re-freeze
        cfg.s.x = 4
    root = freeze(Slotted())
    with pytest.raises(FrozenConfigError, match="cannot set 'x'"):
        root.x = 2


def test_lists_become_configlists_and_sharing_kept() -> None:
    cfg = frozen_tree()
    assert isinstance(cfg.b.c, ConfigList) and cfg.a is cfg.b.shared
    assert cfg.b.c == [1, {"d": 2}]


def test_configclass_frozen_paths() -> None:
    cfg = freeze(make_config())
    for mutate, path in [
        (lambda: setattr(cfg.job, "name", "x"), "job.name"),
        (lambda: setattr(cfg, "upload_reproducible_setup", True), "upload_reproducible_setup"),
        (lambda: setattr(cfg.model.config, "fsdp_shard_size", 1), "model.config.fsdp_shard_size"),
        (lambda: setattr(cfg.optimizer, "new_key", 1), "optimizer.new_key"),
        (lambda: cfg.trainer.callbacks.pop("grad_clip"), "trainer.callbacks.*"),
    ]:
        with pytest.raises(FrozenConfigError) as info:
            mutate()
        assert info.value.path == path


def test_unfreeze_is_scoped() -> None:
    cfg = freeze(make_config())
    assert is_frozen(cfg) and is_frozen(cfg.trainer)
    with unfreeze(cfg) as same:
        assert same is cfg and not is_frozen(cfg)
        cfg.trainer.max_iter = 3
        cfg.model.config.fsdp_shard_size = 2
        cfg.trainer.callbacks["new"] = dict(x=[1])
    assert is_frozen(cfg) and cfg.trainer.max_iter == 3
    with pytest.raises(FrozenConfigError):
        cfg.trainer.callbacks.new.x.append(2)  # added inside: frozen on exit too


def test_unfreeze_on_unfrozen_config_leaves_it_unfrozen() -> None:
    cfg = make_config()
    with unfreeze(cfg):
        cfg.trainer.max_iter = 1
    assert not is_frozen(cfg)
    cfg.trainer.max_iter = 2


def test_unfreeze_refreezes_after_exception() -> None:
    cfg = freeze(ConfigDict(a=1))
    with pytest.raises(RuntimeError):
        with unfreeze(cfg):
            raise RuntimeError
    assert is_frozen(cfg)


def test_freeze_plain_root_returns_frozen_copy_and_is_frozen_helpers() -> None:
    out = freeze({"a": [1]})
    assert isinstance(out, ConfigDict) and is_frozen(out) and is_frozen(out.a)
    assert not is_frozen({"a": 1}) and not is_frozen(3)
    assert is_frozen((L(Net)(),)) is False
    assert is_frozen(freeze((L(Net)(),)))
    assert is_frozen(freeze(Slotted())) and is_frozen(freeze(WithDict()))


def test_deepcopy_of_frozen_stays_frozen_and_equal() -> None:
    cfg = freeze(make_config())
    c = copy.deepcopy(cfg)
    assert c == cfg and is_frozen(c)
    with pytest.raises(FrozenConfigError):
        c.trainer.max_iter = 1


def test_frozen_plain_attrs_equality_kept() -> None:
    a, b = WithDict(), WithDict()
    freeze(a)
    assert a == b
