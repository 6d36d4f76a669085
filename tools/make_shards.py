#!/usr/bin/env python
"""Pack a folder video dataset into webdataset-style tar shards for multi-node training.

Reads the ``LocalVideoDataset`` layout (``videos/<stem>.mp4``, ``metas/<stem>.txt``, optional
``<embeddings>/<stem>.pt``) and writes ``OUTPUT/clips-NNNNNN.tar`` (``<stem>.mp4``, ``.txt``,
``.emb.pt``) plus ``OUTPUT/index.json`` (member offsets, frame sizes, captions). Shards are
written atomically; a rerun keeps the finished ones. Train from them with
``data_train=shards dataloader_train.dataset.shards_dir=OUTPUT``.

Example::

    python tools/make_shards.py --dataset-dir datasets/cosmos_nemo_assets \\
        --text-embeddings-subdir reason1_embeddings --output datasets/nemo_shards \\
        --samples-per-shard 64
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument(
        "--dataset-dir", required=True, help="folder in the LocalVideoDataset layout"
    )
    parser.add_argument("--output", required=True, help="folder for the shards and index.json")
    parser.add_argument("--samples-per-shard", type=int, default=64)
    parser.add_argument("--videos-subdir", default="videos")
    parser.add_argument("--captions-subdir", default="metas")
    parser.add_argument(
        "--text-embeddings-subdir",
        default=None,
        help="also pack <stem>.pt/.pickle text embeddings from this subfolder",
    )
    parser.add_argument(
        "--caption-key",
        default=None,
        choices=("long", "medium", "short"),
        help="read Cosmos's captions/<stem>.json[KEY] instead of metas/<stem>.txt",
    )
    parser.add_argument("--prefix", default="clips", help="shard file name prefix")
    args = parser.parse_args(argv)

    from cosmos_train.data.sharded import write_clip_shards

    try:
        index = write_clip_shards(
            args.dataset_dir,
            args.output,
            samples_per_shard=args.samples_per_shard,
            videos_subdir=args.videos_subdir,
            captions_subdir=args.captions_subdir,
            text_embeddings_subdir=args.text_embeddings_subdir,
            caption_key=args.caption_key,
            prefix=args.prefix,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(index)} clips in {len(index.files)} shards under {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
