"""A short tiny_cpu training run for tool tests (one place, not one copy per test module)."""

from __future__ import annotations

import os
from pathlib import Path

import lazycfg

ROOT = Path(__file__).resolve().parents[2]
#: 2 iterations, a checkpoint at 2, no validation or sample videos.
SHORT_RUN = (
    "trainer.max_iter=2",
    "trainer.run_validation=false",
    "checkpoint.save_iter=2",
    "~trainer.callbacks.every_n_sample_reg",
    "~trainer.callbacks.every_n_sample_ema",
)


def train_tiny_job(output_root: Path, *overrides: str) -> Path:
    """Trains ``experiments/tiny_cpu.py`` (``SHORT_RUN`` plus ``overrides``) under ``output_root``;
    returns its job directory."""
    from cosmos_train.launch import launch

    old = os.environ.get("IMAGINAIRE_OUTPUT_ROOT")
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(output_root)
    try:
        cfg = lazycfg.load(str(ROOT / "experiments" / "tiny_cpu.py"), [*overrides, *SHORT_RUN])
        launch(cfg)
        return Path(cfg.job.path_local)
    finally:
        if old is None:
            del os.environ["IMAGINAIRE_OUTPUT_ROOT"]
        else:
            os.environ["IMAGINAIRE_OUTPUT_ROOT"] = old
