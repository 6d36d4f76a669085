#!/usr/bin/env python
"""Export a training checkpoint as Cosmos's release files.

    python tools/export_checkpoint.py RUN_OR_ITER_DIR -o OUT_DIR [--force] [--no-ema]
    python tools/export_checkpoint.py LORA_RUN -o OUT_DIR --lora {merged,adapter}

RUN_OR_ITER_DIR is a job directory (its latest checkpoint), its ``checkpoints/`` directory or an
``iter_*`` directory; FSDP-sharded checkpoints from any number of ranks work. OUT_DIR receives
``model.pt`` (``net.*`` and ``net_ema.*``), ``model_ema_fp32.pt`` and ``model_ema_bf16.pt`` (the
EMA weights as ``net.*``, when the run has EMA), the run's ``config.yaml`` and ``manifest.json``
(source, iteration, config fingerprint, key and parameter counts, SHA-256 of every file). The
export streams the shards (memory bounded by ``--chunk-mb``) and appears atomically; an existing
OUT_DIR is only replaced with ``--force``. The files load with Cosmos's loaders and with
``cosmos_train.checkpoint.consolidated.load_consolidated`` / ``tools/generate.py --checkpoint``.

A LoRA run's checkpoint holds only adapters: ``--lora merged`` writes the same release files with
the adapters folded into the base (the released key set), ``--lora adapter`` writes the adapter
alone in PEFT's format (EMA adapters unless ``--no-ema``), for ``tools/generate.py --lora``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="tools/export_checkpoint.py", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "source",
        help="job directory, its checkpoints/ directory, or an iter_* checkpoint directory",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output directory (created; must not exist without --force)",
    )
    p.add_argument(
        "--lora",
        choices=("merged", "adapter"),
        help="a LoRA run: 'merged' writes the release files with the adapters folded into the "
        "base; 'adapter' writes the adapter alone in PEFT's format (adapter_config.json + "
        "adapter_model.safetensors)",
    )
    p.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    p.add_argument("--no-ema", action="store_true", help="write model.pt only (no EMA files)")
    p.add_argument(
        "--chunk-mb",
        type=int,
        default=512,
        help="tensor MiB read at a time (bounds memory; default 512)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from cosmos_train.launch import run_cli

    return run_cli(lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from lazycfg import ConfigError

    if args.chunk_mb < 1:
        raise ConfigError(f"--chunk-mb must be >= 1, got {args.chunk_mb}")
    from cosmos_train.checkpoint.export import (
        export_checkpoint,
        is_lora_checkpoint,
        resolve_checkpoint_dir,
    )

    if args.lora or is_lora_checkpoint(resolve_checkpoint_dir(args.source)):
        _run_lora(args)
        return
    result = export_checkpoint(
        args.source,
        args.output,
        force=args.force,
        ema=not args.no_ema,
        chunk_bytes=args.chunk_mb << 20,
    )
    m = result.manifest
    print(
        f"exported {m['source_checkpoint']} (iteration {m['iteration']}) to {result.out_dir} "
        f"in {m['export_seconds']:.1f} s"
    )
    for name, info in m["files"].items():
        print(f"  {name}: {info['bytes'] / 2**20:.1f} MiB, sha256 {info['sha256'][:16]}...")


def _run_lora(args: argparse.Namespace) -> None:
    from cosmos_train.checkpoint.export import is_lora_checkpoint, resolve_checkpoint_dir
    from cosmos_train.model.lora import export_lora_checkpoint
    from lazycfg import ConfigError

    ckpt = resolve_checkpoint_dir(args.source)
    if not is_lora_checkpoint(ckpt):
        raise ConfigError(f"--lora {args.lora}: {ckpt} is not a LoRA run's checkpoint; drop --lora")
    if args.lora is None:
        raise ConfigError(
            f"{ckpt} is a LoRA run (adapters only, the base is referenced): pass --lora merged "
            "(release files with the adapters folded into the base) or --lora adapter (PEFT "
            "adapter file)"
        )
    files = export_lora_checkpoint(
        ckpt, args.output, merged=args.lora == "merged", ema=not args.no_ema, force=args.force
    )
    print(f"exported LoRA checkpoint {ckpt} ({args.lora}) to {args.output}")
    for name, path in files.items():
        print(f"  {name}: {path.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
