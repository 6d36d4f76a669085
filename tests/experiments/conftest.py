"""Fixtures of the experiment tests: a tiny nemo-layout dataset and an in-process run helper."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"

#: Text embedding width of the tiny dataset (stands in for Reason1's 100352).
TINY_TEXT_DIM = 48
TINY_TEXT_LEN = 8


@pytest.fixture(scope="session")
def tiny_nemo_dataset(tmp_path_factory) -> Path:
    """``videos/*.mp4`` (13 frames, 48x64), ``metas/*.txt`` and ``reason1_embeddings/*.pt``."""
    import torch

    from cosmos_train.data.video_io import write_mp4

    root = tmp_path_factory.mktemp("cosmos_nemo_assets")
    gen = torch.Generator().manual_seed(0)
    for i in range(2):
        frames = torch.zeros(3, 13, 48, 64, dtype=torch.uint8)
        for t in range(13):  # a bright square moving right
            frames[:, t, 16:32, 2 + 3 * t : 18 + 3 * t] = 200
        write_mp4(root / "videos" / f"clip{i}.mp4", frames, fps=16)
        (root / "metas").mkdir(exist_ok=True)
        (root / "metas" / f"clip{i}.txt").write_text("A video of sks teal robot.")
        (root / "reason1_embeddings").mkdir(exist_ok=True)
        torch.save(
            torch.randn(TINY_TEXT_LEN, TINY_TEXT_DIM, generator=gen),
            root / "reason1_embeddings" / f"clip{i}.pt",
        )
    return root


@pytest.fixture(scope="session")
def nemo_overrides(tiny_nemo_dataset: Path) -> list[str]:
    """Shrinks the nemo recipes to a seconds-long CPU run (the recipe's structure is unchanged)."""
    dataset_dir = tiny_nemo_dataset
    return [
        "net=tiny",  # pinned: the experiment's Predict2.5 patches still apply on top
        # the folder's embedding files (the online path: test_2b_nemo.py)
        "text_encoder=precomputed",
        "checkpoint.load_path=''",  # no released net in tests
        f"model.config.net.crossattn_proj_in_channels={TINY_TEXT_DIM}",
        "model.config.net.crossattn_emb_channels=32",
        "tokenizer=standin",
        "model.config.precision=float32",
        "model.config.state_t=3",
        "model.config.fsdp_shard_size=1",
        "trainer.parallelism.activation_checkpointing=none",
        "trainer.parallelism.compile_blocks=false",
        "optimizer.fused=false",
        f"dataloader_train.dataset.dataset_dir={dataset_dir}",
        "dataloader_train.dataset.num_frames=9",
        "dataloader_train.dataset.video_size=[32,32]",
        f"dataloader_train.dataset.text_len={TINY_TEXT_LEN}",
        f"dataloader_train.dataset.text_dim={TINY_TEXT_DIM}",
        "dataloader_train.num_workers=0",
        "dataloader_train.pin_memory=false",
        "trainer.max_iter=2",
        "trainer.logging_iter=1",
        "checkpoint.save_iter=2",
    ]


@pytest.fixture
def run_experiment(tmp_path, monkeypatch) -> Callable[..., dict[str, Any]]:
    """Runs ``tools/train.py``'s launch path in this process; returns the job dir and metrics
    rows."""
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path / "out"))

    def run(name: str, overrides: list[str]) -> dict[str, Any]:
        import lazycfg
        from cosmos_train.launch import launch

        config = lazycfg.load(str(EXPERIMENTS / name), overrides)
        summary = launch(config)
        job = Path(config.job.path_local)
        metrics = job / "metrics.jsonl"
        rows = (
            [json.loads(line) for line in metrics.read_text().splitlines()]
            if metrics.is_file()
            else []
        )
        return {"summary": summary, "job_dir": job, "rows": rows, "config": config}

    return run


@pytest.fixture(scope="session")
def meta_param_count() -> Callable[[Any], int]:
    """Counts the parameters of ``model.config.net`` built on the meta device (no memory, no
    init)."""

    def count(config: Any) -> int:
        import torch

        import lazycfg

        with torch.device("meta"):
            net = lazycfg.instantiate(config.model.config.net)
        return sum(p.numel() for p in net.parameters())

    return count
