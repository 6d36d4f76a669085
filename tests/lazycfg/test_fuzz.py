"""Seeded fuzzing of the override grammar and the YAML loader.

Every generated input must either work or raise a ``ConfigError`` subclass: never another
exception (a ``RecursionError``, ``TypeError``, ...). CI runs a bounded number of cases; a longer
run::

    LAZYCFG_FUZZ_CASES=20000 LAZYCFG_FUZZ_SEED=7 python -m pytest tests/lazycfg/test_fuzz.py -q
"""

from __future__ import annotations

import os
import random

import pytest

import lazycfg
from lazycfg import ConfigError
from tests.fixtures.lazycfg import toy

CASES = int(os.environ.get("LAZYCFG_FUZZ_CASES", "400"))
SEED = int(os.environ.get("LAZYCFG_FUZZ_SEED", "13"))

# pieces of the grammar (keys of the toy config, operators, brackets, quotes, literals)
KEYS = [
    "optimizer",
    "lr",
    "model",
    "config",
    "net",
    "num_blocks",
    "trainer",
    "callbacks",
    "grad_clip",
    "every_n",
    "conditional_frames_probs",
    "job",
    "name",
    "*",
    "?",
    "0",
    "-1",
    "_args_",
    "_target_",
    "scheduler",
    "f_max",
    "x",
]
TOKENS = [
    ".",
    "[",
    "]",
    "'",
    '"',
    "=",
    "+",
    "++",
    "~",
    "+=",
    "{",
    "}",
    "(",
    ")",
    ",",
    ":",
    " ",
    "${",
    "}",
    "\\",
    "1",
    "-2",
    "0.5",
    "1e3",
    "nan",
    "inf",
    "true",
    "null",
    "None",
    "L(",
    ")(",
    "adamw",
    "fusedadamw",
    "[1, 2]",
    "{0: 0.5}",
    "(1,)",
    "'q'",
    "a b",
    "*",
    "True",
    "[[",
    "{{",
    "${trainer.max_iter}",
    "${oc.env:X,1}",
]


VALUES = [
    "1",
    "0.5",
    "true",
    "null",
    "abc",
    "[1, 2]",
    "{0: 0.25}",
    "(1, 2)",
    "'s'",
    "nan",
    "${trainer.max_iter}",
    "adamw",
    "-3",
    "1e-4",
    "[]",
    "{}",
]


def _override(rng: random.Random, paths: list[str]) -> str:
    roll = rng.random()
    if roll < 0.4:  # a real path of the config, a plausible value
        return rng.choice(["", "", "+", "++"]) + rng.choice(paths) + "=" + rng.choice(VALUES)
    if roll < 0.7:  # shaped like a real override, with random pieces
        key = ".".join(rng.choice(KEYS) for _ in range(rng.randint(1, 4)))
        prefix = rng.choice(["", "", "+", "++", "~"])
        op = rng.choice(["=", "=", "+="]) if prefix != "~" else rng.choice(["", "="])
        value = "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 6)))
        return prefix + key + op + value
    return "".join(rng.choice(TOKENS + KEYS) for _ in range(rng.randint(1, 12)))


def test_fuzz_overrides() -> None:
    rng = random.Random(SEED)
    base = toy.make_config()
    base.model.config.conditional_frames_probs = {0: 0.5}
    text = lazycfg.dumps(base)
    paths = [lazycfg.tree.format_path(p) for p, _ in lazycfg.tree.walk(base) if p]
    paths += [g for g in toy.REGISTRY.groups()]
    outcomes = {"ok": 0, "error": 0}
    for _ in range(CASES):
        ovs = [_override(rng, paths) for _ in range(rng.randint(1, 2))]
        cfg = lazycfg.loads(text)
        try:
            lazycfg.apply_overrides(cfg, ovs, toy.REGISTRY)
            lazycfg.dumps(cfg)
            outcomes["ok"] += 1
        except ConfigError:
            outcomes["error"] += 1
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"overrides {ovs!r} raised {type(exc).__name__}: {exc}")
    assert outcomes["ok"] and outcomes["error"]  # the generator reaches both outcomes


MUTATIONS = [
    "__tuple__",
    "_class_",
    "_target_",
    "_args_",
    "__object__",
    "__mapping__",
    "__partial__",
    "__placeholder__",
    "&a",
    "*a",
    "!!int",
    "!!float",
    "!!str",
    "[",
    "]",
    "{",
    "}",
    ":",
    "- ",
    "5",
    "true",
    "null",
    ".nan",
    "history",
    "sites",
    "choices",
    "config",
    "'",
    '"',
    "\n",
    "  ",
    "\t",
    "\\x",
    "\xff",
]


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(text) + 1)
        roll = rng.random()
        if roll < 0.4:  # insert a token
            text = text[:i] + rng.choice(MUTATIONS) + text[i:]
        elif roll < 0.7:  # delete a span
            text = text[:i] + text[i + rng.randint(1, 20) :]
        elif roll < 0.85:  # replace a word by a token
            j = text.find(" ", i)
            text = text[:i] + rng.choice(MUTATIONS) + (text[j:] if j >= 0 else "")
        else:  # drop or duplicate a line
            lines = text.splitlines(keepends=True)
            k = rng.randrange(len(lines))
            lines[k : k + 1] = [] if rng.random() < 0.5 else [lines[k], lines[k]]
            text = "".join(lines)
    return text


def test_fuzz_yaml_loader() -> None:
    rng = random.Random(SEED + 1)
    base = toy.make_config()
    base.model.config.conditional_frames_probs = {0: 0.5}
    base.job.name = "${trainer.max_iter}"
    lazycfg.apply_overrides(base, ["optimizer.lr=3e-4", "trainer.max_iter=7"], toy.REGISTRY)
    text = lazycfg.dumps(base)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(CASES):
        mutated = _mutate(rng, text)
        try:
            cfg = lazycfg.loads(mutated, source="fuzz.yaml")
            lazycfg.dumps(cfg)
            lazycfg.diff(base, cfg)
            outcomes["ok"] += 1
        except ConfigError as exc:
            assert "fuzz.yaml" in str(exc) or exc.path is not None, str(exc)
            outcomes["error"] += 1
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"mutated file raised {type(exc).__name__}: {exc}\n{mutated}")
    assert outcomes["ok"] and outcomes["error"]
