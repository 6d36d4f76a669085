#!/usr/bin/env python
"""Encode every training clip of an experiment once and store the latents (a latent cache).

``python tools/cache_latents.py EXPERIMENT.py [key=value ...] --output DIR``

Loads the experiment (with overrides, like ``tools/train.py``), builds its training dataset
(``dataloader_train.dataset``: the folder, shard or synthetic clips, windows of epoch 0) and its
tokenizer (``model.config.tokenizer``), and writes ``DIR/latents-NNNNNN.tar`` shards,
``DIR/text/<hash>.pt`` (each distinct caption embedding once), ``DIR/index.json`` and
``DIR/manifest.json`` (tokenizer fingerprint, clip window, resolution, caption choice). Shards are
written atomically; rerunning the same command after an interruption keeps the finished shards.

Then train from the cache (the model skips the tokenizer's encoder; the tokenizer is built only
for sample videos)::

    python tools/train.py EXPERIMENT.py data_train=latent_cache \\
        dataloader_train.dataset.cache_dir=DIR

A cache made with another tokenizer, resolution, clip window or text layout is refused, with the
differences listed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/cache_latents.py", description=__doc__.split("\n")[1]
    )
    parser.add_argument("experiment", help="experiment file (experiments/*.py)")
    parser.add_argument("overrides", nargs="*", help="overrides: key=value, group=option, ...")
    parser.add_argument("--output", required=True, help="cache folder")
    parser.add_argument("--samples-per-shard", type=int, default=64)
    parser.add_argument(
        "--device", default=None, help="tokenizer device (default: cuda if available)"
    )
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "bfloat16", "float16"),
        help="stored latent dtype (float32 keeps the tokenizer output exactly)",
    )
    args = parser.parse_intermixed_args(argv)

    from cosmos_train.launch import run_cli

    def body() -> int:
        import torch

        import lazycfg
        from cosmos_train.data.latent_cache import build_cache

        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise lazycfg.ConfigError(
                "tools/cache_latents.py runs in one process (each clip is encoded once); "
                "start it with python, not torchrun"
            )

        config = lazycfg.resolve(lazycfg.load(args.experiment, args.overrides))
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        start = time.perf_counter()
        index = build_cache(
            config,
            args.output,
            samples_per_shard=args.samples_per_shard,
            device=device,
            dtype=args.dtype,
        )
        print(
            f"cached {len(index)} clips in {len(index.files)} shards under {args.output} "
            f"({time.perf_counter() - start:.1f} s). Train from it with: "
            f"python tools/train.py {args.experiment} data_train=latent_cache "
            f"dataloader_train.dataset.cache_dir={args.output}"
        )
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
