"""torchrun, 2 ranks on gloo: training from a sharded latent cache resumes at the exact position."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lazycfg
from cosmos_train.data.latent_cache import build_cache

from .media import make_folder
from .test_latent_cache import TINY, cache_overrides, video_overrides

ROOT = Path(__file__).resolve().parents[3]
TRAIN = ROOT / "tools" / "train.py"


def torchrun(args: list[str], out: Path) -> None:
    exe = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which(
        "torchrun"
    )
    assert exe, "torchrun not found next to the Python interpreter"
    env = dict(
        os.environ, IMAGINAIRE_OUTPUT_ROOT=str(out), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT)
    )
    cmd = [exe, "--standalone", "--nproc_per_node=2", str(TRAIN), TINY, *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def losses(out: Path, name: str) -> dict[int, float]:
    rows = (out / "cosmos_train" / "cpu" / name / "metrics.jsonl").read_text().splitlines()
    return {r["iteration"]: r["loss"] for r in map(json.loads, rows) if r.get("split") == "train"}


@pytest.mark.slow
def test_two_ranks_read_their_shards_and_resume_exactly(tmp_path):
    folder = make_folder(tmp_path / "mp4", [(64, 64)] * 8, frames=21, text_dim=32, text_tokens=5)
    cache = tmp_path / "cache"
    config = lazycfg.resolve(lazycfg.load(TINY, video_overrides(folder)))
    build_cache(config, cache, samples_per_shard=2, log=lambda _: None)  # 4 shards
    common = [
        o for o in cache_overrides(cache) if not o.startswith("dataloader_train.sampling")
    ] + [
        "dataloader_train.sampling=shards",  # each rank reads 2 of the 4 shards per epoch
        "dataloader_train.batch_size=1",  # 4 steps per epoch: the resume at 2 is mid-epoch
        "trainer.logging_iter=1",
        "trainer.run_validation=false",
        "checkpoint.save_iter=2",
        "~trainer.callbacks.every_n_sample_reg",
        "~trainer.callbacks.every_n_sample_ema",
    ]
    out = tmp_path / "out"
    torchrun([*common, "trainer.max_iter=4", "job.name=straight"], out)
    torchrun([*common, "trainer.max_iter=2", "job.name=resumed"], out)
    torchrun([*common, "trainer.max_iter=4", "job.name=resumed"], out)  # resumes from iter 2
    straight, resumed = losses(out, "straight"), losses(out, "resumed")
    assert sorted(straight) == [1, 2, 3, 4] and sorted(resumed) == [1, 2, 3, 4]
    assert [resumed[i] for i in (3, 4)] == pytest.approx([straight[i] for i in (3, 4)], rel=1e-6)
