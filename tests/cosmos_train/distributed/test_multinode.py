"""Two torchrun agents on this machine act as two nodes (c10d rendezvous on 127.0.0.1): a few
FSDP2 steps of the tiny experiment give the same losses as one node with the same world size."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
ARGS = [
    str(ROOT / "tools" / "train.py"),
    str(ROOT / "experiments" / "tiny_cpu.py"),
    "trainer.max_iter=3",
    "trainer.logging_iter=1",
    "trainer.run_validation=false",
    "~trainer.callbacks.every_n_sample_reg",
    "~trainer.callbacks.every_n_sample_ema",
    "checkpoint.save_iter=3",
    "dataloader_train.batch_size=2",
    "trainer.distributed_parallelism=fsdp",
]


def _torchrun() -> str:
    found = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which(
        "torchrun"
    )
    assert found, "torchrun not found next to the Python interpreter"
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(out: Path, name: str) -> list[tuple[int, float, float]]:
    rows = [
        json.loads(line)
        for line in (out / "cosmos_train" / "cpu" / name / "metrics.jsonl").read_text().splitlines()
    ]
    return [(r["iteration"], r["loss"], r["grad_norm"]) for r in rows if r["split"] == "train"]


def test_two_node_fsdp_equals_one_node(tmp_path):
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
        "IMAGINAIRE_OUTPUT_ROOT": str(tmp_path),
    }
    port = _free_port()
    agents = [
        subprocess.Popen(
            [
                _torchrun(),
                "--nnodes=2",
                "--nproc_per_node=1",
                f"--node-rank={node}",
                "--rdzv-backend=c10d",
                f"--rdzv-endpoint=127.0.0.1:{port}",
                "--rdzv-id=i12-multinode",
                *ARGS,
                "job.name=two_nodes",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for node in (0, 1)
    ]
    try:
        outputs = [a.communicate(timeout=300)[0] for a in agents]
    finally:
        for a in agents:
            if a.poll() is None:
                a.kill()
    for node, (agent, text) in enumerate(zip(agents, outputs)):
        assert agent.returncode == 0, f"node {node} failed:\n{text[-3000:]}"
    single = subprocess.run(
        [_torchrun(), "--standalone", "--nproc_per_node=2", *ARGS, "job.name=one_node"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    two, one = _losses(tmp_path, "two_nodes"), _losses(tmp_path, "one_node")
    assert [r[0] for r in one] == [1, 2, 3]
    assert two == one  # same world size, same ranks, same collectives: bit-identical
    assert (
        tmp_path
        / "cosmos_train"
        / "cpu"
        / "two_nodes"
        / "checkpoints"
        / "iter_000000003"
        / "model"
        / ".metadata"
    ).is_file()
