"""Load a trained run for sampling or inspection: :func:`load_run` (notebooks) and :func:`generate`.

    from cosmos_train.inference import load_run
    config, model = load_run("/tmp/imaginaire4-output/cosmos_train/cpu/tiny_cpu")
    with model.ema_scope():
        video = model.generate_samples(batch, num_steps=35, guidance=0.0, seed=0)

The config is the job's ``config.yaml`` (the resolved config the run trained with), so the model
is built exactly as trained; the weights come from the job's latest DCP checkpoint, a given
``iter_*`` directory, or an official consolidated ``.pt`` file.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch

import lazycfg
from lazycfg import ConfigError

from cosmos_train.utils.build import instantiate_at

__all__ = ["load_run", "load_weights", "make_batch", "generate"]

log = logging.getLogger(__name__)


def _find_config(job_dir: Path) -> Path:
    """``<job>/config.yaml``, or the one saved inside a checkpoint directory."""
    for candidate in (job_dir / "config.yaml", job_dir / "config" / "config.yaml"):
        if candidate.is_file():
            return candidate
    saved = sorted(job_dir.glob("config*.yaml"))
    if saved:
        return saved[0]
    raise ConfigError(
        f"{job_dir} has no config.yaml: pass a job directory written by tools/train.py (or --dryrun), "
        "or a checkpoint directory with its config"
    )


def load_run(
    job_dir: str | Path,
    *,
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    overrides: Sequence[str] = (),
) -> tuple[Any, Any]:
    """The resolved config and the trained model of a job directory.

    Args:
        job_dir: the job directory (holds ``config.yaml`` and ``checkpoints/``), or an
            ``iter_*`` checkpoint directory (its config is read from it).
        checkpoint: an ``iter_*`` directory or consolidated ``.pt`` to load instead of the job's
            latest checkpoint.
        device: where to build the model (default: CUDA when available, else CPU).
        overrides: key=value overrides applied to the saved config before building
            (e.g. ``["model.config.precision=float32"]``).

    Returns:
        ``(config, model)``; the model is in eval mode, with regular and EMA weights loaded.
    """
    from cosmos_train.distributed.parallelize import make_net_builder

    job_dir = Path(job_dir)
    ckpt_dir: Path | None = None
    if (job_dir / ".metadata").is_file() or (job_dir / "model" / ".metadata").is_file():
        ckpt_dir, job_dir = job_dir, job_dir.parent.parent
    config = lazycfg.load(str(_find_config(ckpt_dir or job_dir)), list(overrides))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    builder = make_net_builder(device=device, mode="none", seed=config.trainer.seed)
    model = instantiate_at(config.model, "model", device=device, net_builder=builder, seed=config.trainer.seed)
    source = checkpoint if checkpoint is not None else ckpt_dir
    load_weights(model, job_dir=job_dir, checkpoint=source)
    model.eval()
    return config, model


def load_weights(model: Any, *, job_dir: Path | None = None, checkpoint: str | Path | None = None) -> Path:
    """Loads ``checkpoint`` (``iter_*`` dir or ``.pt``), else the job's latest checkpoint; returns its path."""
    from cosmos_train.checkpoint.dcp import DCPCheckpointer

    if checkpoint is None and job_dir is None:
        raise ValueError("load_weights needs job_dir or checkpoint")
    if checkpoint is not None:
        # A scratch job dir so the checkpointer's "own latest checkpoint" rule cannot interfere.
        with tempfile.TemporaryDirectory() as scratch:
            ck = DCPCheckpointer(job_dir=scratch, load_path=str(checkpoint))
            ck.load(model)
            return Path(ck.loaded_from)
    ck = DCPCheckpointer(job_dir=job_dir)
    if ck.load(model) is None:
        raise ConfigError(f"{job_dir}/checkpoints has no checkpoint (latest_checkpoint.txt missing); train first")
    log.info("loaded %s", ck.loaded_from)
    return Path(ck.loaded_from)


def make_batch(
    *,
    text_embedding: torch.Tensor,
    num_frames: int,
    height: int,
    width: int,
    video: torch.Tensor | None = None,
    num_conditional_frames: int = 0,
    fps: float = 16.0,
) -> dict[str, Any]:
    """A one-sample batch for :meth:`generate_samples`.

    Args:
        text_embedding: ``[L, D]`` (or ``[1, L, D]``) text embedding.
        num_frames, height, width: the output video's size (frames 1+4k for the 4x tokenizers).
        video: uint8 ``[3, T, H, W]`` whose first frames condition the sample (zeros when None).
        num_conditional_frames: latent frames taken from ``video`` (0: text-to-video).
        fps: frames per second given to the net.
    """
    emb = text_embedding.float()
    if emb.dim() == 2:
        emb = emb[None]
    if video is None:
        video = torch.zeros(3, num_frames, height, width, dtype=torch.uint8)
        if num_conditional_frames:
            raise ValueError("num_conditional_frames > 0 needs a conditioning video")
    if tuple(video.shape[1:]) != (num_frames, height, width):
        raise ValueError(f"conditioning video has shape {tuple(video.shape)}, expected [3, {num_frames}, {height}, {width}]")
    return {
        "video": video[None],
        "t5_text_embeddings": emb,
        "t5_text_mask": torch.ones(emb.shape[:2], dtype=torch.int64),
        "fps": torch.tensor([float(fps)]),
        "padding_mask": torch.zeros(1, 1, height, width),
        "image_size": torch.tensor([[height, width, height, width]]),
        "num_frames": torch.tensor([num_frames]),
        "sample_idx": torch.tensor([0]),
        "num_conditional_frames": int(num_conditional_frames),
    }


def generate(
    model: Any,
    batch: dict[str, Any],
    *,
    num_steps: int = 35,
    guidance: float = 0.0,
    seed: int = 0,
    ema: bool = True,
) -> torch.Tensor:
    """Samples uint8 ``[B, 3, T, H, W]`` videos (EMA weights unless ``ema=False``)."""
    batch = {k: (v.to(model.device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
    with torch.no_grad(), model.ema_scope(enabled=ema):
        return model.generate_samples(batch, num_steps=num_steps, guidance=guidance, seed=seed)
