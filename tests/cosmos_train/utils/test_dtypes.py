"""dtype names from configs and command lines."""

from __future__ import annotations

import pytest
import torch

from cosmos_train.utils.dtypes import DTYPES, parse_dtype


@pytest.mark.parametrize(
    "value, expected",
    [
        ("float32", torch.float32),
        ("bfloat16", torch.bfloat16),
        ("torch.float16", torch.float16),
        (torch.bfloat16, torch.bfloat16),
    ],
    ids=["name", "bf16", "torch-prefixed", "dtype"],
)
def test_parse(value, expected) -> None:
    assert parse_dtype(value) is expected


@pytest.mark.parametrize(
    "value", ["fp16", "int64", torch.int64], ids=["alias", "int-name", "int-dtype"]
)
def test_unknown_names_list_the_valid_ones(value) -> None:
    with pytest.raises(
        ValueError,
        match=r"model.config.precision=.*use one of \['float32', 'bfloat16', 'float16'\]",
    ):
        parse_dtype(value, "model.config.precision")


def test_names_are_the_floating_dtypes() -> None:
    assert all(d.is_floating_point for d in DTYPES.values())
