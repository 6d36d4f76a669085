#!/usr/bin/env python
"""Generate videos from a trained job or a checkpoint, sampled as Cosmos Predict2.5 samples.

Examples::

    # text2world from a prompt (needs the run's text encoder), Cosmos's defaults:
    python tools/generate.py /tmp/imaginaire4-output/cosmos_train/cpu/tiny_cpu --prompt "a red ball"

    # image2world / video2world (1 / 2 conditioning latent frames, chosen by the input's type):
    python tools/generate.py JOB_DIR --prompt "..." --input first_frame.jpg
    python tools/generate.py JOB_DIR --prompt "..." --input clip.mp4

    # several LoRA adapters (PEFT format) folded into the weights, each with its scale:
    python tools/generate.py JOB_DIR --prompt "..." --lora style_adapter:0.8 --lora robot_adapter

    # released weights + a precomputed embedding, Euler with 20 steps, written to robot.mp4:
    python tools/generate.py experiments/2b_nemo_480p.py --checkpoint /ckpt/model_ema_bf16.pt \\
        --text-embedding prompt.pt --solver euler --steps 20 -o robot.mp4

    # a JSON file of jobs (Cosmos's {"inference_type", "samples": {...}} format or a list of
    # {"name", "prompt", "input", "seed", ...} objects); under torchrun, jobs are split over ranks:
    torchrun --nproc_per_node=8 tools/generate.py JOB_DIR --batch-input jobs.json -o out_dir

SOURCE is a job directory (its config.yaml and latest checkpoint), an ``iter_*`` checkpoint
directory, or an experiment file (then ``--checkpoint`` names the weights: an ``iter_*`` directory
or a release ``.pt`` such as tools/export_checkpoint.py writes). A LoRA run samples with its base
(the run's ``checkpoint.load_path``, fingerprint checked) and its adapters. ``--lora PATH[:SCALE]``
(repeatable) folds PEFT adapters into the chosen (EMA or regular) weights before sampling.

Sampling follows Cosmos's inference (reference/unipc): flow UniPC (or ``--solver euler``) with 35
steps at shift 5, or the Karras schedule when the checkpoint's config sets
``use_kerras_sigma_at_inference`` (override with ``--karras/--no-karras``); guidance 7 as
``v_cond + g (v_cond - v_uncond)`` with the negative prompt as the unconditional branch; seed 1 for
numpy noise; conditioning latent frames replaced before every net call. An image input is frame 0
(image2world, 1 conditioning frame); an mp4 input gives its last frames (video2world, 2 frames).
Every mp4 gets a ``.json`` sidecar with every setting and the checkpoint's fingerprint; the same
settings give the same video. Without ``-o`` the videos go to ``<job dir>/generated/``.
There are no safety guardrails (Cosmos runs some at inference; this tool does not).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import lazycfg  # noqa: E402
from lazycfg import ConfigError  # noqa: E402

#: Per-job settings: the command-line flags (``--x-y`` is ``x_y``) a ``--batch-input`` job may set.
JOB_KEYS = (
    "name",
    "prompt",
    "negative_prompt",
    "text_embedding",
    "negative_text_embedding",
    "from_dataset",
    "input",
    "num_conditional_frames",
    "solver",
    "steps",
    "shift",
    "karras",
    "guidance",
    "seed",
    "resolution",
    "num_frames",
    "fps",
    "output",
)
#: Cosmos's inference types -> conditioning latent frames (cosmos_predict2/config.py).
INFERENCE_TYPES = {"text2world": 0, "image2world": 1, "video2world": 2}
DEFAULTS = {"steps": 35, "shift": 5.0, "guidance": 7.0, "seed": 1, "fps": 16.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="tools/generate.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring (python -c 'help(...)') or README.md, 'Generate'.",
    )
    p.add_argument(
        "source", help="job directory, iter_* checkpoint directory, or experiment .py file"
    )
    p.add_argument(
        "--checkpoint",
        help="iter_* directory, release .pt, or catalogue name / hf:// spec "
        "(default: the job's latest)",
    )
    text = p.add_argument_group("text")
    text.add_argument("--prompt", help="prompt, encoded with the run's text encoder")
    text.add_argument(
        "--negative-prompt", help="negative prompt (default: Cosmos's) for the unconditional branch"
    )
    text.add_argument(
        "--text-embedding", help=".pt file with a [L, D] prompt embedding (instead of --prompt)"
    )
    text.add_argument(
        "--negative-text-embedding", help=".pt file with the negative prompt's [L, D] embedding"
    )
    text.add_argument(
        "--from-dataset",
        type=int,
        metavar="N",
        help="caption and frames of item N of the run's dataset",
    )
    cond = p.add_argument_group("conditioning")
    cond.add_argument("--input", help="jpg/png image (image2world) or mp4 video (video2world)")
    cond.add_argument(
        "--num-conditional-frames",
        type=int,
        help="conditioning latent frames (default: 0 text, 1 image, 2 video)",
    )
    samp = p.add_argument_group("sampling")
    samp.add_argument(
        "--solver", choices=("unipc", "euler"), help="ODE solver (default: unipc, as Cosmos)"
    )
    samp.add_argument(
        "--steps", type=int, help=f"sampling steps N (default {DEFAULTS['steps']}; Karras runs N+1)"
    )
    samp.add_argument("--shift", type=float, help=f"schedule shift (default {DEFAULTS['shift']})")
    samp.add_argument(
        "--karras",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Karras schedule (default: the checkpoint's use_kerras_sigma_at_inference)",
    )
    samp.add_argument(
        "--guidance", type=float, help=f"CFG guidance g (default {DEFAULTS['guidance']:g})"
    )
    samp.add_argument("--seed", type=int, help=f"noise seed (default {DEFAULTS['seed']})")
    size = p.add_argument_group("size")
    size.add_argument(
        "--resolution", help="H,W of the output (default: the run's training resolution)"
    )
    size.add_argument(
        "--num-frames", type=int, help="output frames, 1+4k (default: the run's training clips)"
    )
    size.add_argument(
        "--fps",
        type=float,
        help=f"fps given to the net and written to the mp4 (default {DEFAULTS['fps']:g})",
    )
    run = p.add_argument_group("run")
    run.add_argument(
        "--batch-input", metavar="FILE.json", help="JSON file of jobs with per-job settings"
    )
    run.add_argument(
        "--regular", action="store_true", help="use the regular weights instead of the EMA weights"
    )
    run.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="PATH[:SCALE]",
        help="a PEFT LoRA adapter (tools/export_checkpoint.py --lora adapter) folded into the "
        "weights with SCALE (default 1); repeat to combine several",
    )
    run.add_argument(
        "--device",
        help="cpu or cuda (default: cuda when available, this rank's GPU under torchrun)",
    )
    run.add_argument(
        "--context-parallel",
        type=int,
        default=1,
        metavar="N",
        help="under torchrun: N ranks split each video's frames (one file per video; jobs go "
        "to groups of N ranks); default 1: each rank runs its own jobs",
    )
    run.add_argument(
        "-o",
        "--output",
        help="mp4 path (a directory with --batch-input); default: <job dir>/generated/",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        help="key=value overrides of the run's config (e.g. model.config.precision=float32)",
    )
    return p.parse_intermixed_args(argv)


# ------------------------------------------------------------------------------------ jobs
def _check_keys(job: dict[str, Any], where: str) -> None:
    for key in job:
        if key not in JOB_KEYS:
            close = difflib.get_close_matches(key, JOB_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{where}: unknown job setting {key!r}{hint}; valid settings: {', '.join(JOB_KEYS)}"
            )


def _relative_to(base: Path, job: dict[str, Any]) -> dict[str, Any]:
    """Input and embedding paths in a JSON file are relative to that file (as in Cosmos)."""
    for key in ("input", "text_embedding", "negative_text_embedding"):
        if job.get(key) is not None and not Path(job[key]).is_absolute():
            job[key] = str(base / job[key])
    return job


def _cosmos_jobs(data: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """Jobs from Cosmos's inference JSON (``inference_type``, ``samples``, shared settings)."""
    kind = data.get("inference_type")
    if kind not in INFERENCE_TYPES:
        raise ConfigError(
            f"{path}: inference_type must be one of {list(INFERENCE_TYPES)}, got {kind!r}"
        )
    shared: dict[str, Any] = {"num_conditional_frames": INFERENCE_TYPES[kind]}
    renames = {
        "negative_prompt": "negative_prompt",
        "seed": "seed",
        "guidance": "guidance",
        "num_output_frames": "num_frames",
        "resolution": "resolution",
    }
    unknown = set(data) - {"inference_type", "samples", *renames}
    if unknown:
        raise ConfigError(
            f"{path}: unknown top-level keys {sorted(unknown)}; Cosmos's format has "
            f"inference_type, samples, {', '.join(renames)}"
        )
    for key, ours in renames.items():
        if key in data and not (key == "resolution" and data[key] == "none"):
            shared[ours] = data[key]
    jobs = []
    for name, sample in data["samples"].items():
        sample = dict(sample)
        if "prompt_path" in sample:
            prompt_path = path.parent / sample.pop("prompt_path")
            if not prompt_path.is_file():
                raise ConfigError(
                    f"{path}: sample {name!r}: prompt_path {prompt_path} does not exist"
                )
            sample["prompt"] = prompt_path.read_text().strip()
        if "input_path" in sample:
            sample["input"] = sample.pop("input_path")
        job = {"name": name, **shared, **sample}
        _check_keys(job, f"{path}: sample {name!r}")
        jobs.append(_relative_to(path.parent, job))
    return jobs


def read_batch_input(path: str | Path) -> list[dict[str, Any]]:
    """Jobs of a ``--batch-input`` file: Cosmos's format, a job list or ``{"jobs": [...], ...}``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--batch-input {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--batch-input {path} is not valid JSON: {exc}") from exc
    if isinstance(data, dict) and "samples" in data:
        return _cosmos_jobs(data, path)
    shared: dict[str, Any] = {}
    if isinstance(data, dict) and "jobs" in data:
        shared = {k: v for k, v in data.items() if k != "jobs"}
        _check_keys(shared, f"{path}")
        data = data["jobs"]
    if not isinstance(data, list) or not all(isinstance(j, dict) for j in data) or not data:
        raise ConfigError(
            f'--batch-input {path}: expected a non-empty list of job objects, {{"jobs": [...]}}, '
            'or Cosmos\'s {"inference_type": ..., "samples": {...}}'
        )
    jobs = []
    for i, job in enumerate(data):
        _check_keys(job, f"{path}: job {i}")
        jobs.append(_relative_to(path.parent, {**shared, **job}))
    return jobs


def build_jobs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every job: the command line's settings, overridden per job by ``--batch-input``."""
    cli = {
        k: getattr(args, k)
        for k in JOB_KEYS
        if k not in ("name", "output") and getattr(args, k, None) is not None
    }
    if not args.batch_input:
        return [{**cli, "output": args.output}]
    return [{**cli, **job} for job in read_batch_input(args.batch_input)]


# ------------------------------------------------------------------------------------ run
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from cosmos_train.launch import run_cli

    return run_cli(lambda: _run(args))


def _rank() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; each rank runs its own jobs."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


def _load(args: argparse.Namespace, device: str) -> tuple[Any, Any, Path, str]:
    """(config, model, job directory, checkpoint description) for SOURCE and ``--checkpoint``."""
    from cosmos_train.checkpoint.dcp import latest_checkpoint
    from cosmos_train.inference import load_run

    source = Path(args.source)
    if not source.exists():
        raise ConfigError(
            f"{source} does not exist: pass a job directory, a checkpoint directory or an "
            "experiment file"
        )
    if args.checkpoint and not Path(args.checkpoint).exists():
        from cosmos_train.checkpoint.hub import resolve_weights

        # A catalogue name or hf:// spec resolves through the hub cache (errors say what to fetch).
        args.checkpoint = str(resolve_weights(args.checkpoint, what="--checkpoint"))
    if source.suffix == ".py":
        if not args.checkpoint:
            raise ConfigError(
                f"{source} is an experiment file: name the weights with --checkpoint PATH "
                "(.pt or iter_* dir)"
            )
        from cosmos_train.checkpoint.pretrained import check_pretrained_parts
        from cosmos_train.inference import build_model, load_weights

        config = lazycfg.resolve(lazycfg.load(str(source), list(args.overrides)))
        check_pretrained_parts(config, net_weights=args.checkpoint, context="inference")
        model = build_model(config, device)
        load_weights(model, checkpoint=args.checkpoint)
        return (
            config,
            model.eval(),
            Path(config.job.path_local),
            str(Path(args.checkpoint).resolve()),
        )
    config, model = load_run(
        source, checkpoint=args.checkpoint, device=device, overrides=list(args.overrides)
    )
    is_ckpt_dir = (source / "model" / ".metadata").is_file()
    job_dir = source.parent.parent if is_ckpt_dir else source
    if args.checkpoint:
        ckpt = Path(args.checkpoint)
    else:
        ckpt = source if is_ckpt_dir else latest_checkpoint(source / "checkpoints")
    return config, model, job_dir, str(Path(ckpt).resolve())


def _apply_loras(model: Any, specs: list[str], *, ema: bool) -> list[dict[str, Any]]:
    """Folds the ``--lora PATH[:SCALE]`` adapters into the sampling weights; returns a record."""
    if not specs:
        return []
    from cosmos_train.model.lora import ADAPTER_WEIGHTS_FILE, apply_loras_to_model, parse_lora_arg

    loras, record = [], []
    for spec in specs:
        path, scale = parse_lora_arg(spec)
        weights = Path(path) / ADAPTER_WEIGHTS_FILE if Path(path).is_dir() else Path(path)
        if not weights.is_file():
            raise ConfigError(
                f"--lora {spec}: no PEFT adapter at {path} (expected {ADAPTER_WEIGHTS_FILE} and "
                "adapter_config.json; write one with tools/export_checkpoint.py RUN -o DIR "
                "--lora adapter)"
            )
        loras.append((path, scale))
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        record.append({"path": str(Path(path).resolve()), "scale": scale, "sha256": digest})
    try:
        apply_loras_to_model(model, loras, ema=ema)
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(f"--lora: {exc}") from None
    return record


def _weights_sha256(model: Any, ema: bool) -> str:
    """SHA-256 of the sampling weights (names, dtypes, shapes and bytes, in state_dict order)."""
    import torch

    digest = hashlib.sha256()
    with torch.no_grad(), model.ema_scope(enabled=ema):
        for key, value in model.net.state_dict().items():
            if hasattr(value, "full_tensor"):
                value = value.full_tensor()
            value = value.detach().cpu().contiguous()
            digest.update(f"{key}|{value.dtype}|{tuple(value.shape)}|".encode())
            digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _dataset_shape(config: Any) -> tuple[int | None, int | None, int | None]:
    """(frames, height, width) of the run's training data, when the config says."""
    ds = config.dataloader_train.dataset if config.dataloader_train is not None else None
    if ds is None:
        return None, None, None

    def get(key: str) -> Any:
        return ds[key] if key in ds else None

    size = get("video_size")
    h, w = (size[0], size[1]) if size is not None else (get("height"), get("width"))
    return get("num_frames"), h, w


def _parse_resolution(value: Any) -> tuple[int, int]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        h, w = value
    else:
        parts = str(value).replace("x", ",").split(",")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ConfigError(f"--resolution {value!r}: write it as H,W (e.g. 480,832)")
        h, w = (int(p) for p in parts)
    return int(h), int(w)


class Generator:
    """Runs jobs against one loaded model; text encoder and fingerprints are made once."""

    def __init__(self, args: argparse.Namespace, device: str) -> None:
        self.args, self.device = args, device
        self.config, self.model, self.job_dir, self.checkpoint = _load(args, device)
        self.ema = not args.regular
        loras = _apply_loras(self.model, args.lora, ema=self.ema)
        self.fingerprint = {
            "checkpoint": self.checkpoint,
            "weights": "regular" if args.regular else "ema",
            "loras": loras,
            "weights_sha256": _weights_sha256(self.model, self.ema),
            "config_fingerprint": lazycfg.fingerprint(self.config),
        }

    # ---------------------------------------------------------------- text
    def _encode(self, text: str, flag: str) -> Any:
        """The ``[L, D]`` embedding of ``text`` by the run's encoder (``model.text_encoder``)."""
        encoder = self.model.text_encoder
        if encoder is None:
            raise ConfigError(
                f"{flag} needs a text encoder, but this run's config computes no text online "
                "(text_encoder=precomputed); pass --text-embedding FILE.pt (and "
                "--negative-text-embedding) "
                "written by tools/compute_text_embeddings.py with the run's encoder"
            )
        return encoder.encode([text])[0].float().cpu()

    def _encoder_record(self) -> dict[str, Any]:
        enc = self.model.text_encoder
        return {
            "class": type(enc).__name__,
            "weights": getattr(enc, "weights", None),
            "semantic": getattr(enc, "semantic", True),
        }

    def _load_embedding(self, path: str, flag: str) -> Any:
        import torch

        if not Path(path).is_file():
            raise ConfigError(
                f"{flag} {path} does not exist; write one with tools/compute_text_embeddings.py"
            )
        try:
            emb = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ConfigError(f"{flag} {path} is not a torch tensor file ({exc})") from exc
        if isinstance(emb, dict):
            emb = emb.get("embeddings")
        if (
            not isinstance(emb, torch.Tensor)
            or emb.dim() not in (2, 3)
            or (emb.dim() == 3 and emb.shape[0] != 1)
        ):
            raise ConfigError(
                f"{flag} {path} must hold a [L, D] tensor (or {{'embeddings': [L, D]}})"
            )
        return emb.reshape(emb.shape[-2], emb.shape[-1]).float()

    def _texts(self, job: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
        """(embedding, negative embedding or None, what the sidecar records)."""
        given = [k for k in ("prompt", "text_embedding", "from_dataset") if job.get(k) is not None]
        if len(given) != 1:
            raise ConfigError(
                "give exactly one of --prompt TEXT, --text-embedding FILE.pt or --from-dataset N"
                + (
                    f" (got {', '.join('--' + g.replace('_', '-') for g in given)})"
                    if given
                    else ""
                )
            )
        record: dict[str, Any] = {}
        if job.get("prompt") is not None:
            emb = self._encode(job["prompt"], "--prompt")
            record["prompt"] = job["prompt"]
        elif job.get("text_embedding") is not None:
            emb = self._load_embedding(job["text_embedding"], "--text-embedding")
            record["text_embedding"] = str(job["text_embedding"])
        else:
            emb = None  # from the dataset item
        if job.get("negative_text_embedding") is not None:
            if job.get("negative_prompt") is not None:
                raise ConfigError("give --negative-prompt or --negative-text-embedding, not both")
            neg = self._load_embedding(job["negative_text_embedding"], "--negative-text-embedding")
            record["negative_text_embedding"] = str(job["negative_text_embedding"])
        elif job.get("negative_prompt") is not None or (job.get("prompt") is not None):
            from cosmos_train.text_encoders import DEFAULT_NEGATIVE_PROMPT

            text = job.get("negative_prompt")
            text = DEFAULT_NEGATIVE_PROMPT if text is None else text
            neg = self._encode(text, "--negative-prompt")
            record["negative_prompt"] = text
        else:
            neg = None
            record["negative"] = (
                "zeros (the unconditional text of training; no negative prompt given)"
            )
        if "prompt" in record or "negative_prompt" in record:
            record["text_encoder"] = self._encoder_record()
        return emb, neg, record

    # ---------------------------------------------------------------- one job
    def prepare(self, job: dict[str, Any]) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        """(batch, sampler settings, sidecar record) of one job, every setting checked."""
        from cosmos_train.inference import (
            IMAGE_EXTENSIONS,
            check_num_conditional_frames,
            check_num_frames,
            conditioning_video,
            make_batch,
        )

        model, tokenizer = self.model, self.model.tokenizer
        emb, neg, record = self._texts(job)
        video = None
        frames, height, width = _dataset_shape(self.config)
        if job.get("from_dataset") is not None:
            if job.get("input") is not None:
                raise ConfigError("--from-dataset takes the item's frames; drop --input")
            loader = (
                self.config.dataloader_val
                if (self.config.dataloader_val is not None and self.config.trainer.run_validation)
                else self.config.dataloader_train
            )
            dataset = lazycfg.instantiate(loader.dataset)
            if not 0 <= job["from_dataset"] < len(dataset):
                raise ConfigError(
                    f"--from-dataset {job['from_dataset']}: the dataset has {len(dataset)} items"
                )
            item = dataset[job["from_dataset"]]
            emb, video = item["t5_text_embeddings"], item["video"]
            frames, height, width = video.shape[1:]
            record["from_dataset"] = job["from_dataset"]
            record["caption"] = item.get("ai_caption")
        if job.get("num_frames") is not None:
            frames = job["num_frames"]
        if frames is None:
            frames = tokenizer.get_pixel_num_frames(model.config.state_t)
        if job.get("resolution") is not None:
            height, width = _parse_resolution(job["resolution"])
        if height is None or width is None:
            raise ConfigError(
                "cannot tell the output size from the run's config: pass --resolution H,W"
            )
        if video is not None and tuple(video.shape[1:]) != (frames, height, width):
            raise ConfigError(
                f"--from-dataset item has {tuple(video.shape[1:])} frames x H x W; drop "
                "--num-frames/--resolution"
            )
        latent_t = check_num_frames(tokenizer, frames)
        max_t = getattr(model.net, "max_frames", None)
        if max_t is not None and latent_t > max_t:
            raise ConfigError(
                f"--num-frames {frames} gives {latent_t} latent frames; the net takes at most "
                f"{max_t}"
            )
        step = tokenizer.spatial_compression_factor * getattr(model.net, "patch_spatial", 1)
        if height % step or width % step or height < step or width < step:
            raise ConfigError(
                f"--resolution {height},{width}: height and width must be multiples of {step} "
                "(tokenizer compression x patch size)"
            )

        source = job.get("input")
        is_image = source is not None and Path(source).suffix.lower() in IMAGE_EXTENSIONS
        n = job.get("num_conditional_frames")
        if n is None:
            n = 1 if video is not None or is_image else (2 if source is not None else 0)
        if video is None:
            check_num_conditional_frames(
                n,
                latent_frames=latent_t,
                max_frames=model.config.max_num_conditional_frames,
                has_input=source is not None,
                is_image=is_image,
            )
        elif not 0 <= n < latent_t:
            raise ConfigError(f"--num-conditional-frames {n}: use 0..{latent_t - 1} for this clip")
        if source is not None:
            video = conditioning_video(
                source,
                num_frames=frames,
                height=height,
                width=width,
                num_conditional_frames=n,
                temporal_compression=tokenizer.temporal_compression_factor,
            )
            record["input"] = str(source)
        self._check_text_width(emb, neg)
        fps = float(job.get("fps", DEFAULTS["fps"]))
        batch = make_batch(
            text_embedding=emb,
            negative_text_embedding=neg,
            num_frames=frames,
            height=height,
            width=width,
            video=video if n else None,
            num_conditional_frames=n,
            fps=fps,
        )
        try:
            settings = model.sampler_settings(
                solver=job.get("solver"),
                num_steps=job.get("steps", DEFAULTS["steps"]),
                shift=job.get("shift", DEFAULTS["shift"]),
                karras=job.get("karras"),
                guidance=job.get("guidance", DEFAULTS["guidance"]),
                seed=job.get("seed", DEFAULTS["seed"]),
            )
        except ValueError as exc:
            raise ConfigError(f"sampler settings: {exc}") from exc
        kind = "text2world" if n == 0 else ("image2world" if is_image else "video2world")
        record.update(
            {
                "inference_type": kind,
                "num_conditional_frames": n,
                "resolution": [height, width],
                "num_frames": frames,
                "fps": fps,
                "sampler": settings.to_dict(),
            }
        )
        return batch, settings, record

    def _check_text_width(self, *embs: Any) -> None:
        expected = self.model._expected_text_dim()
        for emb in embs:
            if emb is not None and expected is not None and emb.shape[-1] != expected[0]:
                raise ConfigError(
                    f"the text embedding has width {emb.shape[-1]} but the net takes {expected[0]} "
                    f"({expected[1]}); compute it with the run's text encoder"
                )

    def run(self, job: dict[str, Any], out: Path, rank: int, write: bool = True) -> Path | None:
        from cosmos_train.data.video_io import write_mp4
        from cosmos_train.inference import generate

        t0 = time.perf_counter()
        batch, settings, record = self.prepare(job)
        video = generate(self.model, batch, sampler=settings, ema=self.ema)
        if not write:  # a context-parallel peer: the group's first rank writes the same video
            return None
        path = write_mp4(out, video[0], fps=record["fps"])
        sidecar = {
            "video": path.name,
            "name": job.get("name"),
            **record,
            "checkpoint": self.fingerprint,
            "source": str(Path(self.args.source).resolve()),
            "rank": rank,
            "seconds": round(time.perf_counter() - t0, 3),
            "guardrails": "none",
        }
        tmp = path.with_suffix(f".json.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(sidecar, indent=2, default=str) + "\n")
        os.replace(tmp, path.with_suffix(".json"))
        return path


def _slug(job: dict[str, Any], index: int) -> str:
    """A job's file name: its ``name``, else words of its prompt (or embedding) and its seed."""
    if job.get("name"):
        return str(job["name"])
    if job.get("prompt"):
        base = "_".join(re.findall(r"[a-z0-9]+", job["prompt"].lower())[:6])
    elif job.get("text_embedding"):
        base = Path(job["text_embedding"]).stem
    elif job.get("from_dataset") is not None:
        base = f"dataset{job['from_dataset']}"
    else:
        base = f"job{index}"
    return f"{base or f'job{index}'}_seed{job.get('seed', DEFAULTS['seed'])}"


def _output_path(job: dict[str, Any], index: int, args: argparse.Namespace, job_dir: Path) -> Path:
    """Where job ``index`` writes its mp4 (its sidecar goes next to it)."""
    if not args.batch_input and job.get("output"):
        return Path(job["output"])
    root = Path(args.output) if args.batch_input and args.output else job_dir / "generated"
    if job.get("output"):
        out = Path(job["output"])
        return out if out.is_absolute() else root / out
    return root / f"{_slug(job, index)}.mp4"


def _run(args: argparse.Namespace) -> None:
    """Builds the jobs, loads the model, runs this rank's share of the jobs."""
    import torch

    jobs = build_jobs(args)  # bad job files fail before the model loads
    rank, world, local_rank = _rank()
    device = args.device or (f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    gen = Generator(args, device)
    outputs = [_output_path(job, i, args, gen.job_dir) for i, job in enumerate(jobs)]
    if len(set(outputs)) != len(outputs):
        dup = sorted({str(o) for o in outputs if outputs.count(o) > 1})
        raise ConfigError(
            f"several jobs would write {dup}; give the jobs distinct names or outputs"
        )
    first, stride, writes = _job_share(args, gen, world)
    try:
        for i in range(first, len(jobs), stride):
            path = gen.run(jobs[i], outputs[i], rank, write=writes)
            if path is None:
                continue
            who = f"[rank {rank}] " if world > 1 else ""
            print(
                f"{who}wrote {path} ({path.with_suffix('.json').name}: settings and checkpoint "
                "fingerprint)"
            )
    finally:
        if args.context_parallel > 1:
            from cosmos_train.launch import _shutdown_distributed  # joins the gloo threads

            _shutdown_distributed()


def _job_share(args: argparse.Namespace, gen: Generator, world: int) -> tuple[int, int, bool]:
    """(first job, stride, writes files) of this rank: jobs round-robin over the ranks, or with
    ``--context-parallel N`` over groups of N ranks that split each video's frames."""
    rank = _rank()[0]
    n = args.context_parallel
    if n <= 1:
        return rank, world, True
    if world % n:
        raise ConfigError(
            f"--context-parallel {n} needs a multiple of {n} ranks (torchrun --nproc_per_node), "
            f"got {world}"
        )
    from cosmos_train.distributed.context_parallel import (
        data_parallel_rank_world,
        enable_model_context_parallel,
    )
    from cosmos_train.distributed.env import init_distributed

    init_distributed()
    try:
        cp = enable_model_context_parallel(gen.model, n)
    except ValueError as err:  # heads not divisible by N
        raise ConfigError(f"--context-parallel {n}: {err}") from None
    dp_rank, dp_size = data_parallel_rank_world()
    if cp.rank == 0:
        print(f"[rank {rank}] context parallel: {n} ranks split each video's frames")
    return dp_rank, dp_size, cp.rank == 0


if __name__ == "__main__":
    sys.exit(main())
