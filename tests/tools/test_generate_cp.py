"""tools/generate.py --context-parallel under torchrun: two ranks split one video's frames and
write one file, equal to the video one process generates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lazycfg

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GENERATE = ROOT / "tools" / "generate.py"


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory) -> Path:
    """A 2-step tiny_cpu job (5 latent frames: padded to 6 over 2 ranks), text hashed online."""
    from cosmos_train.launch import launch

    out = tmp_path_factory.mktemp("out")
    old = os.environ.get("IMAGINAIRE_OUTPUT_ROOT")
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(out)
    try:
        cfg = lazycfg.load(
            str(ROOT / "experiments" / "tiny_cpu.py"),
            [
                "text_encoder=hash",
                "model.config.text_encoder.max_length=8",
                "model.config.text_encoder.embed_dim=32",
                "trainer.max_iter=2",
                "trainer.run_validation=false",
                "checkpoint.save_iter=2",
                "~trainer.callbacks.every_n_sample_reg",
                "~trainer.callbacks.every_n_sample_ema",
            ],
        )
        launch(cfg)
        return Path(cfg.job.path_local)
    finally:
        if old is None:
            del os.environ["IMAGINAIRE_OUTPUT_ROOT"]
        else:
            os.environ["IMAGINAIRE_OUTPUT_ROOT"] = old


def _frames(path: Path) -> torch.Tensor:
    import av
    import numpy as np

    with av.open(str(path)) as container:
        return torch.as_tensor(
            np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        )


def test_two_ranks_split_one_video_and_write_one_file(job_dir, tmp_path):
    args = [
        str(GENERATE),
        str(job_dir),
        "--prompt",
        "a red square moving left",
        "--steps",
        "3",
        "--seed",
        "3",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    one = subprocess.run(
        [sys.executable, *args, "-o", str(tmp_path / "one.mp4")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    two = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc_per_node=2",
            *args,
            "--context-parallel",
            "2",
            "-o",
            str(tmp_path / "cp.mp4"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-3000:]
    assert "context parallel: 2 ranks split each video's frames" in two.stdout
    assert two.stdout.count("wrote ") == 1  # one file, written by the CP group's first rank
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cp.json",
        "cp.mp4",
        "one.json",
        "one.mp4",
    ]
    a, b = _frames(tmp_path / "one.mp4"), _frames(tmp_path / "cp.mp4")
    assert a.shape == b.shape and a.shape[0] == 17 and a.float().std() > 1
    assert torch.equal(a, b)


def test_context_parallel_needs_a_multiple_of_ranks(job_dir, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(GENERATE),
            str(job_dir),
            "--prompt",
            "x",
            "--steps",
            "1",
            "--context-parallel",
            "2",
            "-o",
            str(tmp_path / "x.mp4"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2 and "--context-parallel 2 needs a multiple of 2 ranks" in out.stderr
    assert "Traceback" not in out.stderr
