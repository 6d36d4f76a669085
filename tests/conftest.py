"""Shared pytest setup: make the repository root importable and keep tests on the CPU."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Two-core CI machine: one intra-op thread per process keeps torchrun tests from oversubscribing.
os.environ.setdefault("OMP_NUM_THREADS", "1")
