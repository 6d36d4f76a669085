"""Shared helpers for the net tests: reference paths, golden TSV parsing, fixture loading."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

# Vendored copies of reference/cosmos_nets/{*.tsv, parity/*} (see golden/README.md).
REF = Path(__file__).resolve().parent / "golden"
PARITY = REF

#: golden TSV name -> our preset name
GOLDEN = {
    "cosmos_v1_2B": "cosmos_v1_2B",
    "predict2.5_2B_video2world": "predict2_5_2B",
    "cosmos_v1_7B": "cosmos_v1_7B",
    "cosmos_v1_14B": "cosmos_v1_14B",
    "mini_net": "mini_net",
    "predict2.5_14B_video2world": "predict2_5_14B",
}
FIXTURES = ["tiny_cosmos_v1_2B", "tiny_predict2.5_2B", "tiny_cosmos_v1_7B"]


def read_tsv(
    name: str, extra_state: bool = False
) -> tuple[int, dict, list[tuple[str, tuple[int, ...], str, str]]]:
    """``(total_params, kwargs, [(key, shape, dtype, kind), ...])`` of a golden list."""
    suffix = ".te113_with_extra_state.tsv" if extra_state else ".tsv"
    lines = (REF / f"{name}{suffix}").read_text().splitlines()
    header = lines[0]
    total = int(header.split(":", 1)[1].split("params", 1)[0].strip())
    kwargs_json = header.split("net kwargs:", 1)[1].split(" [incl.", 1)[0]
    rows = []
    for line in lines[1:]:
        key, shape, dtype, kind = line.split("\t")
        rows.append((key, tuple(int(s) for s in shape.split(",")) if shape else (), dtype, kind))
    return total, json.loads(kwargs_json), rows


@functools.cache
def _load_fixture(name: str) -> dict:
    return torch.load(PARITY / f"{name}.pt", weights_only=True)


def fixture(name: str) -> dict:
    """A parity fixture (cached; callers must not modify the tensors in place)."""
    return _load_fixture(name)


@functools.cache
def checks() -> dict:
    return json.loads((PARITY / "checks.json").read_text())
