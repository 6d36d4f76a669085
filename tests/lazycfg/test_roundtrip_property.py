"""Property-style tests over random config trees (``random.Random(seed)``, many seeds).

For each generated tree: YAML round trip (equal, sharing kept, stable text), ``to_py`` round
trip, equal fingerprints, and ``diff`` lines that turn the tree into a randomly edited copy.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from lazycfg import PLACEHOLDER, ConfigDict, L, apply_overrides, configclass, diff
from lazycfg._io import dumps, fingerprint, loads, to_py
from lazycfg._node import LazyNode
from lazycfg.tree import children, kind_of

SEEDS = range(120)
STRINGS = [
    "",
    "a",
    "hello world",
    "1e3",
    "480",
    "true",
    "False",
    "null",
    "None",
    "yes",
    "off",
    "~",
    " pad ",
    "a: b",
    "#x",
    "- item",
    "[1]",
    "{}",
    "${a.b}",
    "run_${now:%Y}",
    "héllo ✓",
    "multi\nline",
    "it's",
    'say "hi"',
    "tab\tbed",
    "\\back",
    "0x1F",
    "1_000",
]
KEYS = [
    "a",
    "b",
    "lr",
    "dim",
    "name",
    "items",
    "keys",
    "_target_",
    "__tuple__",
    "x.y",
    "with space",
]


@configclass
class Box:
    a: Any = None
    b: Any = 1


class Gen:
    """Random tree generator; keeps made nodes to share some of them."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.nodes: list[LazyNode] = []

    def scalar(self) -> Any:
        r = self.r
        return r.choice(
            [
                lambda: r.randint(-(10**12), 10**12),
                lambda: r.randint(-3, 3),
                lambda: r.uniform(-1e3, 1e3),
                lambda: r.choice([1e-8, 2.0**-14.5, float("inf"), -float("inf"), 0.0, -0.0]),
                lambda: r.random() < 0.5,
                lambda: None,
                lambda: r.choice(STRINGS),
                lambda: PLACEHOLDER,
            ]
        )()

    def value(self, depth: int) -> Any:
        r = self.r
        if depth <= 0 or r.random() < 0.45:
            return self.scalar()
        pick = r.random()
        if pick < 0.12 and self.nodes:
            return r.choice(self.nodes)  # a shared node
        if pick < 0.35:
            return self.node(depth)
        if pick < 0.55:
            return {self.key(): self.value(depth - 1) for _ in range(r.randint(0, 4))}
        if pick < 0.7:
            return [self.value(depth - 1) for _ in range(r.randint(0, 4))]
        if pick < 0.82:
            return tuple(self.value(depth - 1) for _ in range(r.randint(0, 3)))
        return Box(a=self.value(depth - 1), b=self.value(depth - 1))

    def key(self) -> Any:
        return self.r.choice(KEYS) if self.r.random() < 0.8 else self.r.randint(0, 5)

    def node(self, depth: int) -> LazyNode:
        r = self.r
        args = [self.value(depth - 1) for _ in range(r.randint(0, 2))]
        kwargs = {
            k: self.value(depth - 1)
            for k in r.sample(["lr", "dim", "net", "items", "keys", "blocks"], r.randint(0, 4))
        }
        node = L(f"pkg.mod{r.randint(0, 3)}.Cls")(*args, _recursive_=r.random() < 0.8, **kwargs)
        self.nodes.append(node)
        return node

    def tree(self) -> ConfigDict:
        return ConfigDict({f"k{i}": self.value(4) for i in range(self.r.randint(1, 5))})


def _node_ids(obj: Any, out: set[int]) -> set[int]:
    if isinstance(obj, LazyNode):
        if id(obj) in out:
            return out
        out.add(id(obj))
    for _, child in children(obj):
        _node_ids(child, out)
    return out


def _node_visits(obj: Any) -> int:
    n = 1 if isinstance(obj, LazyNode) else 0
    return n + sum(_node_visits(c) for _, c in children(obj))


@pytest.mark.parametrize("seed", SEEDS)
def test_yaml_and_python_round_trips(seed):
    tree = Gen(seed).tree()
    text = dumps(tree)
    back = loads(text)
    assert back == tree
    assert dumps(back) == text
    assert fingerprint(back) == fingerprint(tree)
    # sharing: the same number of distinct nodes behind the same number of visits
    assert len(_node_ids(back, set())) == len(_node_ids(tree, set()))
    assert _node_visits(back) == _node_visits(tree)
    ns: dict = {}
    exec(compile(to_py(tree), f"<to_py seed {seed}>", "exec"), ns)
    assert ns["config"] == tree
    assert len(_node_ids(ns["config"], set())) == len(_node_ids(tree, set()))


def _edit(tree: Any, r: random.Random) -> None:
    """One random edit through the public protocol: set a leaf, add or delete a key."""
    containers = []

    def collect(obj: Any, depth: int) -> None:
        k = kind_of(obj)
        if k in ("mapping", "node", "attrs", "list"):
            containers.append(obj)
        for _, child in children(obj):
            if kind_of(child) != "leaf":
                collect(child, depth + 1)

    collect(tree, 0)
    target = r.choice(containers)
    k = kind_of(target)
    new = Gen(r.randint(0, 10**6)).scalar()
    if new is PLACEHOLDER:  # the override grammar has no spelling for it
        new = "placeholder"
    if k == "list":
        if target:
            target[r.randrange(len(target))] = new
        else:
            target.append(new)
    elif k == "attrs":
        target.b = new
    elif k == "node":
        if target.__lz_kwargs__ and r.random() < 0.3:
            del target[r.choice(list(target))]
        else:
            target[r.choice(["lr", "dim", "extra"])] = new
    else:
        if target and r.random() < 0.3:
            del target[r.choice(list(target))]
        else:
            target[r.choice(KEYS)] = new


def _unspellable(value: Any) -> bool:
    """True when ``value`` holds something the override VALUE grammar cannot write."""
    k = kind_of(value)
    if k in ("node", "attrs") or value is PLACEHOLDER:
        return True
    return any(_unspellable(c) for _, c in children(value))


_APPLIED: list[int] = []


@pytest.mark.parametrize("seed", SEEDS)
def test_diff_lines_reproduce_random_edits(seed):
    r = random.Random(seed)
    a = Gen(seed).tree()
    assert diff(a, copy.deepcopy(a)) == []
    b = copy.deepcopy(a)
    for _ in range(r.randint(1, 3)):
        _edit(b, r)
    entries = diff(a, b)
    assert (entries == []) == (a == b)
    if not all(e.expressible for e in entries):
        # A list or tuple with a node inside had to be replaced whole: no override spells it.
        assert all(_unspellable(e.new) for e in entries if not e.expressible)
        return
    c = copy.deepcopy(a)
    apply_overrides(c, [str(e) for e in entries])
    assert c == b, [str(e) for e in entries]
    _APPLIED.append(seed)


def test_most_random_edits_are_expressible():
    # Guards the test above against passing by skipping: most seeds must apply their lines.
    assert len(_APPLIED) >= 0.8 * len(SEEDS) or len(_APPLIED) == 0
