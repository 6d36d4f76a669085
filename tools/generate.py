#!/usr/bin/env python
"""Generate videos from a trained job (or an official checkpoint), with the EMA weights by default.

Examples::

    # A sample for the 3rd validation clip's caption, conditioned on its first latent frame:
    python tools/generate.py /tmp/imaginaire4-output/cosmos_train/cpu/tiny_cpu --from-dataset 3 \
        --num-conditional-frames 1 --steps 35 --guidance 3 --seed 0 -o sample.mp4

    # Official weights + your text embedding, text-to-video (no conditioning frames):
    python tools/generate.py experiments/2b_nemo_480p.py --checkpoint /ckpt/model.pt \
        --text-embedding prompt.pt -o robot.mp4

SOURCE is a job directory (its config.yaml and latest checkpoint), an ``iter_*`` checkpoint
directory, or an experiment file (then ``--checkpoint`` names the weights). The text embedding is
a ``.pt`` tensor ``[L, D]`` (what tools/compute_text_embeddings.py writes), or the embedding of
item N of the run's dataset (``--from-dataset N``, validation set when the run has one).
Conditioning frames come from ``--condition-video`` or, with ``--from-dataset``, from that item.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import lazycfg  # noqa: E402
from lazycfg import ConfigError  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tools/generate.py", description=__doc__.split("\n\n")[0])
    p.add_argument("source", help="job directory, iter_* checkpoint directory, or experiment .py file")
    p.add_argument("--checkpoint", help="iter_* directory or consolidated .pt to load (default: the job's latest)")
    p.add_argument("--text-embedding", help=".pt file with a [L, D] text embedding")
    p.add_argument("--from-dataset", type=int, metavar="N", help="use item N of the run's dataset (text, and frames)")
    p.add_argument("--condition-video", help="mp4 whose first frames condition the sample")
    p.add_argument("--num-conditional-frames", type=int, default=0, help="latent frames to condition on (0: text only)")
    p.add_argument("--num-frames", type=int, help="output frames (default: the run's training clips)")
    p.add_argument("--height", type=int, help="output height (default: the run's)")
    p.add_argument("--width", type=int, help="output width (default: the run's)")
    p.add_argument("--fps", type=float, default=16.0, help="fps given to the net and written to the file")
    p.add_argument("--steps", type=int, default=35, help="sampling steps")
    p.add_argument("--guidance", type=float, default=0.0, help="classifier-free guidance scale")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--regular", action="store_true", help="use the regular weights instead of the EMA weights")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("-o", "--output", default="sample.mp4", help="output mp4 path")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the run's config (e.g. model.config.precision=float32)")
    return p.parse_intermixed_args(argv)


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    """(config, model) from a job dir / checkpoint dir, or from an experiment file + --checkpoint."""
    from cosmos_train.inference import load_run

    source = Path(args.source)
    if not source.exists():
        raise ConfigError(f"{source} does not exist: pass a job directory, a checkpoint directory or an experiment file")
    if source.suffix == ".py":
        if not args.checkpoint:
            raise ConfigError(f"{source} is an experiment file: name the weights with --checkpoint PATH (.pt or iter_* dir)")
        import torch

        from cosmos_train.distributed.parallelize import make_net_builder
        from cosmos_train.inference import load_weights

        config = lazycfg.resolve(lazycfg.load(str(source), list(args.overrides)))
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        builder = make_net_builder(device=device, mode="none", seed=config.trainer.seed)
        model = lazycfg.instantiate(config.model, device=device, net_builder=builder, seed=config.trainer.seed)
        load_weights(model, checkpoint=args.checkpoint)
        return config, model.eval()
    return load_run(source, checkpoint=args.checkpoint, device=args.device, overrides=list(args.overrides))


def _dataset_shape(config: Any) -> tuple[int | None, int | None, int | None]:
    """(frames, height, width) of the run's training data, when the config says."""
    ds = config.dataloader_train.dataset if config.dataloader_train is not None else None
    if ds is None:
        return None, None, None
    get = lambda k: ds[k] if k in ds else None  # noqa: E731
    size = get("video_size")
    h, w = (size[0], size[1]) if size is not None else (get("height"), get("width"))
    return get("num_frames"), h, w


def _read_video(path: str, num_frames: int, height: int, width: int):
    """First ``num_frames`` frames of an mp4, resized to ``height x width``, uint8 ``[3, T, H, W]``."""
    import av
    import numpy as np
    import torch
    import torch.nn.functional as F

    frames = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == num_frames:
                break
    if len(frames) < num_frames:
        raise ConfigError(f"--condition-video {path} has {len(frames)} frames, fewer than {num_frames}")
    video = torch.from_numpy(np.stack(frames)).permute(3, 0, 1, 2).float()  # [3, T, h, w]
    video = F.interpolate(video, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return video.round().clamp(0, 255).to(torch.uint8)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from cosmos_train.launch import run_cli

    return run_cli(lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    """Loads the run, builds the batch, samples and writes the mp4."""
    import torch

    from cosmos_train.data.video_io import write_mp4
    from cosmos_train.inference import generate, make_batch

    config, model = _load(args)
    frames, height, width = _dataset_shape(config)
    frames, height, width = args.num_frames or frames, args.height or height, args.width or width
    if None in (frames, height, width):
        raise ConfigError("cannot tell the output size from the run's config: pass --num-frames, --height and --width")
    video = None
    if args.from_dataset is not None:
        loader = config.dataloader_val if config.dataloader_val is not None and config.trainer.run_validation else config.dataloader_train
        item = lazycfg.instantiate(loader.dataset)[args.from_dataset]
        emb = item["t5_text_embeddings"]
        video = item["video"]
        frames, height, width = video.shape[1:]
        print(f"caption: {item.get('ai_caption')}")
    elif args.text_embedding:
        emb = torch.load(args.text_embedding, map_location="cpu", weights_only=True)
        if isinstance(emb, dict):
            emb = emb["embeddings"]
    else:
        raise ConfigError("give a text embedding: --text-embedding FILE.pt or --from-dataset N")
    if args.condition_video:
        video = _read_video(args.condition_video, frames, height, width)
    if args.num_conditional_frames == 0:
        video = None
    batch = make_batch(text_embedding=emb, num_frames=frames, height=height, width=width, video=video,
                       num_conditional_frames=args.num_conditional_frames, fps=args.fps)
    out = generate(model, batch, num_steps=args.steps, guidance=args.guidance, seed=args.seed, ema=not args.regular)
    path = write_mp4(args.output, out[0], fps=args.fps)
    print(f"wrote {path} ({'regular' if args.regular else 'EMA'} weights, {args.steps} steps, guidance {args.guidance}, seed {args.seed})")


if __name__ == "__main__":
    sys.exit(main())
