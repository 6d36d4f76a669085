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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import lazycfg
from cosmos_train.utils.build import instantiate_at
from lazycfg import ConfigError

__all__ = [
    "check_num_conditional_frames",
    "check_num_frames",
    "conditioning_video",
    "build_model",
    "generate",
    "load_run",
    "load_weights",
    "make_batch",
    "resize_and_center_crop",
]

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
        f"{job_dir} has no config.yaml: pass a job directory written by tools/train.py "
        "(or --dryrun), "
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
    # Defines cosmos_train's config classes, so loading the saved config.yaml may import them
    # (lazycfg.load imports only from packages that registered config classes).
    import cosmos_train.config  # noqa: F401
    from cosmos_train.checkpoint.pretrained import check_pretrained_parts

    job_dir = Path(job_dir)
    ckpt_dir: Path | None = None
    if (job_dir / ".metadata").is_file() or (job_dir / "model" / ".metadata").is_file():
        ckpt_dir, job_dir = job_dir, job_dir.parent.parent
    config = lazycfg.load(str(_find_config(ckpt_dir or job_dir)), list(overrides))
    # Never silently random at inference either: a run fine-tuned from released weights (or a
    # released --checkpoint) needs the real VAE and text encoder unless allow_random says otherwise.
    check_pretrained_parts(
        config,
        net_weights=str(checkpoint) if checkpoint is not None else None,
        context="inference",
    )
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    model = build_model(config, device)
    source = checkpoint if checkpoint is not None else ckpt_dir
    load_weights(model, job_dir=job_dir, checkpoint=source)
    model.eval()
    return config, model


def build_model(config: Any, device: str | torch.device) -> Any:
    """The run's model on ``device`` (unsharded), built as ``config`` says; weights not loaded."""
    from cosmos_train.distributed.parallelize import make_net_builder
    from cosmos_train.model.lora import model_build_kwargs

    builder = make_net_builder(device=device, mode="none", seed=config.trainer.seed)
    return instantiate_at(
        config.model,
        "model",
        device=device,
        net_builder=builder,
        seed=config.trainer.seed,
        **model_build_kwargs(config),  # a LoRA run: its base, then the checkpoint's adapters
    )


def load_weights(
    model: Any, *, job_dir: Path | None = None, checkpoint: str | Path | None = None
) -> Path:
    """Loads ``checkpoint`` (``iter_*`` dir or ``.pt``), else the job's latest; returns its path."""
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
        raise ConfigError(
            f"{job_dir}/checkpoints has no checkpoint (latest_checkpoint.txt missing); train first"
        )
    log.info("loaded %s", ck.loaded_from)
    return Path(ck.loaded_from)


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_EXTENSIONS = (".mp4",)


def check_num_frames(tokenizer: Any, num_frames: int, what: str = "--num-frames") -> int:
    """Latent frames for ``num_frames`` frames; a clear error if the tokenizer cannot code it."""
    tc = int(getattr(tokenizer, "temporal_compression_factor", 1))
    n = int(num_frames)
    if n < 1 or (n - 1) % tc:
        lower = max(1, 1 + ((n - 1) // tc) * tc)
        raise ConfigError(
            f"{what} {n} is not a frame count the tokenizer can code: it takes 1 + {tc}k frames "
            f"(e.g. {lower} or {lower + tc}); pass one of those"
        )
    return tokenizer.get_latent_num_frames(n)


def check_num_conditional_frames(
    n: int,
    *,
    latent_frames: int,
    max_frames: int,
    has_input: bool,
    is_image: bool,
    what: str = "--num-conditional-frames",
) -> None:
    """Conditioning latent frames the sample can take: 0 without an input, 1 for an image,
    ``1..min(max_frames, latent_frames - 1)`` for a video."""
    if n < 0:
        raise ConfigError(f"{what} must be >= 0, got {n}")
    if not has_input:
        if n:
            raise ConfigError(
                f"{what} {n} needs conditioning frames: pass --input IMAGE_OR_MP4 "
                "(or 0 for text2world)"
            )
        return
    if n == 0:
        raise ConfigError(
            f"{what} 0 ignores --input; drop --input for text2world, or condition on 1 or "
            "more frames"
        )
    if is_image and n > 1:
        raise ConfigError(
            f"{what} {n}: an image gives 1 conditioning latent frame; use 1, or a video --input"
        )
    cap = min(int(max_frames), latent_frames - 1)
    if n > cap:
        raise ConfigError(
            f"{what} {n} is too large: the sample has {latent_frames} latent frames and the model "
            f"was trained with at most {max_frames} conditioning frames "
            f"(model.config.max_num_conditional_frames); use 1..{cap}"
        )


def _read_frames(path: Path) -> torch.Tensor:
    """Every frame of an image or video file, uint8 ``[3, T, H, W]`` RGB (PyAV)."""
    import av
    import numpy as np

    try:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.error.FFmpegError, ValueError) as exc:
        raise ConfigError(
            f"--input {path} cannot be decoded ({exc}); pass a jpg/png image or an mp4 video"
        ) from exc
    if not frames:
        raise ConfigError(f"--input {path} has no frames")
    return torch.from_numpy(np.stack(frames)).permute(3, 0, 1, 2).contiguous()


def resize_and_center_crop(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Cosmos's ``resize_input``: scale (keeping the aspect ratio) to cover ``height x width``, then
    crop the centre. uint8 ``[3, T, h, w]`` in and out."""
    import math

    import torch.nn.functional as F

    h, w = video.shape[-2:]
    if (h, w) == (height, width):
        return video
    scale = max(width / w, height / h)
    size = (int(math.ceil(scale * h)), int(math.ceil(scale * w)))
    frames = video.permute(1, 0, 2, 3).float()  # [T, 3, h, w]
    frames = F.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = int(round((size[0] - height) / 2.0)), int(round((size[1] - width) / 2.0))
    frames = frames[:, :, top : top + height, left : left + width]
    return frames.round().clamp(0, 255).to(torch.uint8).permute(1, 0, 2, 3).contiguous()


def conditioning_video(
    path: str | Path,
    *,
    num_frames: int,
    height: int,
    width: int,
    num_conditional_frames: int,
    temporal_compression: int = 4,
) -> torch.Tensor:
    """The model input for ``--input``, taken as Cosmos's inference takes it (uint8 [3, T, H, W]).

    - an image is frame 0, and the other frames are zeros (``read_and_process_image``);
    - a video gives its **last** ``tc*(n-1)+1`` frames (``n`` conditioning latent frames), and the
      rest of the clip repeats the last of them (``read_and_process_video``);
    - then the clip is resized to cover ``height x width`` and centre-cropped.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--input {path} does not exist")
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
        raise ConfigError(
            f"--input {path}: unsupported extension {ext!r}; use one of "
            f"{list(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)}"
        )
    frames = _read_frames(path)
    _, available, h, w = frames.shape
    clip = torch.zeros(3, num_frames, h, w, dtype=torch.uint8)
    if ext in IMAGE_EXTENSIONS:
        clip[:, 0] = frames[:, 0]
    else:
        take = temporal_compression * (num_conditional_frames - 1) + 1
        if available < take:
            raise ConfigError(
                f"--input {path} has {available} frames; {num_conditional_frames} conditioning "
                "latent frames need "
                f"its last {take}. Use a longer video or fewer --num-conditional-frames"
            )
        take = min(take, num_frames)
        clip[:, :take] = frames[:, available - take :]
        clip[:, take:] = frames[:, -1:].expand(-1, num_frames - take, -1, -1)
    return resize_and_center_crop(clip, height, width)


def make_batch(
    *,
    text_embedding: torch.Tensor,
    num_frames: int,
    height: int,
    width: int,
    video: torch.Tensor | None = None,
    num_conditional_frames: int = 0,
    fps: float = 16.0,
    negative_text_embedding: torch.Tensor | None = None,
) -> dict[str, Any]:
    """A one-sample batch for :meth:`generate_samples`.

    Args:
        text_embedding: ``[L, D]`` (or ``[1, L, D]``) text embedding.
        negative_text_embedding: the unconditional branch's text (negative prompt); zeros if None.
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
        raise ValueError(
            f"conditioning video has shape {tuple(video.shape)}, expected "
            f"[3, {num_frames}, {height}, {width}]"
        )
    batch = {
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
    if negative_text_embedding is not None:
        neg = negative_text_embedding.float()
        batch["neg_t5_text_embeddings"] = neg[None] if neg.dim() == 2 else neg
    return batch


def generate(
    model: Any,
    batch: dict[str, Any],
    *,
    sampler: Any = None,
    num_steps: int = 35,
    guidance: float = 0.0,
    seed: int = 0,
    ema: bool = True,
) -> torch.Tensor:
    """Samples uint8 ``[B, 3, T, H, W]`` videos (EMA weights unless ``ema=False``).

    ``sampler`` (:class:`~cosmos_train.model.sampler.SamplerSettings`) gives every setting;
    without it the model's defaults with ``num_steps``, ``guidance`` and ``seed``.
    """
    batch = {
        k: (v.to(model.device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()
    }
    with torch.no_grad(), model.ema_scope(enabled=ema):
        extra = {} if sampler is None else {"sampler": sampler}
        return model.generate_samples(
            batch, num_steps=num_steps, guidance=guidance, seed=seed, **extra
        )
