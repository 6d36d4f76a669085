"""Shared pytest setup: make the repository root importable and keep tests on the CPU."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Two-core CI machine: one intra-op thread per process keeps torchrun tests from oversubscribing.
os.environ.setdefault("OMP_NUM_THREADS", "1")


#: The Reason1 fixture (tiny Qwen2.5-VL decoder, five exact cases):
#: tests/cosmos_train/text_encoders/fixtures.
REASON1_FIXTURE = ROOT / "tests" / "cosmos_train" / "text_encoders" / "fixtures"
NEMO_CAPTION = "A video of sks teal robot."


def _reason1_texts() -> list[str]:
    import torch

    cases = torch.load(REASON1_FIXTURE / "cases.pt", weights_only=True)["cases"]
    return [c["caption"] for c in cases] + [NEMO_CAPTION]


@pytest.fixture(scope="session")
def tiny_reason1_dir(tmp_path_factory) -> Path:
    """A Reason1-layout folder (config.json, model.safetensors, toy tokenizer) of the tiny fixture
    model."""
    from cosmos_train.text_encoders.toy_tokenizer import write_tiny_reason1_folder

    return write_tiny_reason1_folder(
        tmp_path_factory.mktemp("tiny_reason1"), REASON1_FIXTURE, _reason1_texts()
    )
