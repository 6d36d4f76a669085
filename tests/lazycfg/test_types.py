"""Annotation checks and lossless conversions (lazycfg._types)."""

from __future__ import annotations

import enum
import pathlib
from collections.abc import Callable, Sequence
from typing import Any, Literal, Optional, Union

import pytest

from lazycfg import PLACEHOLDER, ConfigTypeError, L, LazyRef
from lazycfg._types import check_value, type_repr, value_accepts
from tests.fixtures.lazycfg.toy import Net, SACConfig


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@pytest.mark.parametrize(
    "value,tp,expected",
    [
        pytest.param(1, float, 1.0, id="int-float"),
        pytest.param(2.0, int, 2, id="integral-float-int"),
        pytest.param(480, str, "480", id="int-str"),
        pytest.param(1.5, str, "1.5", id="float-str"),
        pytest.param([1, 2], tuple, (1, 2), id="list-tuple"),
        pytest.param((1, 2), list, [1, 2], id="tuple-list"),
        pytest.param([1, 2], tuple[int, int], (1, 2), id="fixed-tuple"),
        pytest.param([1, 2.0], tuple[float, ...], (1.0, 2.0), id="var-tuple"),
        pytest.param([1, 2], list[float], [1.0, 2.0], id="list-elements"),
        pytest.param({0: 1}, dict[int, float], {0: 1.0}, id="dict-values"),
        pytest.param(None, Optional[int], None, id="optional-none"),
        pytest.param(3, Union[int, str], 3, id="union-exact"),
        pytest.param("3", Union[int, str], "3", id="union-str"),
        pytest.param(3.0, Union[str, float], 3.0, id="union-prefers-exact"),
        pytest.param("fast", Literal["fast", "slow"], "fast", id="literal"),
        pytest.param(480, Literal["480", "720"], "480", id="literal-number-str"),
        pytest.param("FAST", Mode, Mode.FAST, id="enum-name"),
        pytest.param("Mode.SLOW", Mode, Mode.SLOW, id="enum-dotted-name"),
        pytest.param("fast", Mode, Mode.FAST, id="enum-value"),
        pytest.param(Net, type[object], Net, id="type"),
        pytest.param("pkg.Cls", type, "pkg.Cls", id="type-as-name"),
        pytest.param(print, Callable, print, id="callable"),
        pytest.param(L(Net)(), Net, L(Net)(), id="node-for-class"),
        pytest.param(LazyRef("x.Y"), Net, LazyRef("x.Y"), id="lazyref-for-class"),
        pytest.param(L(Net)(), dict, L(Net)(), id="node-for-dict"),
        pytest.param(PLACEHOLDER, int, PLACEHOLDER, id="placeholder"),
        pytest.param("${a.b}", int, "${a.b}", id="interpolation"),
        pytest.param(object(), Any, None, id="any"),
        pytest.param({1, 2}, set, {1, 2}, id="set"),
        pytest.param([1, 2], frozenset, frozenset({1, 2}), id="list-frozenset"),
        pytest.param("x", pathlib.Path, "x", id="path-str"),
        pytest.param([1], Sequence[int], [1], id="sequence"),
        pytest.param(SACConfig(), SACConfig, SACConfig(), id="attrs-instance"),
        pytest.param(3, "ForwardRefString", 3, id="unresolved-forward-ref"),
    ],
)
def test_accepts(value: Any, tp: Any, expected: Any) -> None:
    got = check_value(value, tp, "a.b")
    if expected is None:
        assert got is value
    else:
        assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    "value,tp",
    [
        pytest.param("abc", int, id="str-int"),
        pytest.param(True, int, id="bool-int"),
        pytest.param(True, float, id="bool-float"),
        pytest.param(1, bool, id="int-bool"),
        pytest.param(1.5, int, id="lossy"),
        pytest.param(None, int, id="none-int"),
        pytest.param([1, 2, 3], tuple[int, int], id="tuple-length"),
        pytest.param(["a"], list[int], id="list-element"),
        pytest.param({"a": 1}, dict[int, int], id="dict-key"),
        pytest.param("medium", Literal["fast", "slow"], id="literal"),
        pytest.param("MEDIUM", Mode, id="enum"),
        pytest.param(3, Callable, id="callable"),
        pytest.param(3, Union[list, dict], id="union"),
        pytest.param(3, Net, id="class"),
        pytest.param(int, type[str], id="type-subclass"),
        pytest.param(3, set, id="set"),
        pytest.param(1j, int, id="complex-int"),
    ],
)
def test_rejects(value: Any, tp: Any) -> None:
    with pytest.raises(ConfigTypeError) as info:
        check_value(value, tp, "trainer.x")
    assert "trainer.x" in str(info.value) and "expected" in str(info.value)
    assert info.value.expected == tp and info.value.path == "trainer.x"
    assert not value_accepts(value, tp)


def test_type_repr() -> None:
    assert type_repr(int) == "int" and type_repr(type(None)) == "None"
    assert type_repr(Optional[int]) == "Optional[int]"
    assert type_repr(Net) == "tests.fixtures.lazycfg.toy.Net"


def test_pep604_union() -> None:
    assert check_value(3, int | None, "x") == 3
    with pytest.raises(ConfigTypeError):
        check_value("a", int | None, "x")
