"""Tests for lazycfg._compare.check: static checks against target signatures and annotations."""

from __future__ import annotations

from typing import Any, Optional

import attrs
import pytest

from lazycfg import PLACEHOLDER, ConfigDict, ConfigError, L, check

HERE = __name__


class Net:
    built = 0

    def __init__(self, dim: int, depth: int = 2, act: str = "gelu") -> None:
        Net.built += 1
        self.dim = dim


class Other:
    def __init__(self, x: int = 1) -> None:
        self.x = x


def make_opt(
    params: Any, lr: float = 1e-3, betas: tuple = (0.9, 0.99), net: Optional[Net] = None
) -> None:
    return None


def takes_kwargs(**kwargs: Any) -> None:
    return None


@attrs.define(slots=False)
class PlainConfig:
    steps: int = 1
    name: str = "x"


CASES = [
    ("clean", L(f"{HERE}.make_opt")(params=PLACEHOLDER, lr=0.1, net=L(f"{HERE}.Net")(dim=3)), []),
    ("interpolation_accepted", L(f"{HERE}.make_opt")(params=PLACEHOLDER, lr="${x.lr}"), []),
    ("kwargs_target_accepts_anything", L(f"{HERE}.takes_kwargs")(anything=1), []),
    ("positional_args", L(f"{HERE}.Net")(3, depth=1), []),
    (
        "unknown_kwarg",
        L(f"{HERE}.Net")(dim=3, detph=4),
        [("detph", "unknown-arg", "Did you mean 'depth'")],
    ),
    ("missing_required", L(f"{HERE}.Net")(depth=1), [("dim", "missing-arg", "PLACEHOLDER")]),
    ("placeholder_is_set", L(f"{HERE}.Net")(dim=PLACEHOLDER), []),
    ("does_not_import", L("no_such_pkg.Model")(), [("", "import", "no_such_pkg.Model")]),
    (
        "bad_type",
        L(f"{HERE}.make_opt")(params=PLACEHOLDER, lr="fast"),
        [("lr", "type", "expects float")],
    ),
    (
        "node_builds_wrong_class",
        L(f"{HERE}.make_opt")(params=PLACEHOLDER, net=L(f"{HERE}.Other")()),
        [("net", "type", "builds a Other")],
    ),
    (
        "args_twice",
        L(f"{HERE}.make_opt")(PLACEHOLDER, params=1),
        [("", "bad-args", "multiple values")],
    ),
    ("too_many_args", L(f"{HERE}.Other")(1, 2), [("", "bad-args", "too many")]),
    ("plain_attrs_field_type", PlainConfig(steps="many"), [("steps", "type", "expects int")]),
]


@pytest.mark.parametrize("node,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check_table(node, expected):
    cfg = ConfigDict(x=node)
    problems = check(cfg)
    got = [(p.path, p.kind) for p in problems]
    want = [("x" + (f".{path}" if path else ""), kind) for path, kind, _ in expected]
    assert got == want
    for p, (_, _, words) in zip(problems, expected):
        assert words in p.message and str(p).startswith(p.path)


def test_problems_are_in_config_order_and_strict_raises():
    cfg = ConfigDict(a=L(f"{HERE}.Net")(), b=L("nope_pkg.X")())
    problems = check(cfg)
    assert [p.path for p in problems] == ["a.dim", "b"]
    with pytest.raises(ConfigError) as info:
        check(cfg, strict=True)
    assert "2 problem(s)" in str(info.value) and "a.dim" in str(info.value)
    assert check(ConfigDict(a=L(f"{HERE}.Net")(dim=1)), strict=True) == []


def test_check_builds_nothing():
    before = Net.built
    assert check(ConfigDict(n=L(Net)(dim=1), m=L(f"{HERE}.Net")(dim=2))) == []
    assert Net.built == before
