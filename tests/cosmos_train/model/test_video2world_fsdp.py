"""FSDP2 on 2 gloo ranks: sharded training and EMA equal the unsharded model on the whole batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("fsdp_worker.py")


@pytest.mark.slow
def test_fsdp_training_and_ema_match_unsharded(tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    # Mean of the two ranks' losses = the loss of the whole batch (same per-sample draws).
    for a, b, ref in zip(r0["losses"], r1["losses"], r0["ref_losses"]):
        assert (a + b) / 2 == pytest.approx(ref, rel=1e-4)
    for key, ref_key in (("net", "ref_net"), ("ema", "ref_ema")):
        for p, q in zip(r0[key], r0[ref_key]):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    for p, q in zip(r0["swapped"], r0["ema"]):
        assert torch.equal(p, q)
    assert r0["restored"] and r1["restored"]
