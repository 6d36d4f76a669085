#!/usr/bin/env python
"""Compute per-caption text embeddings for a local video dataset (``metas/<stem>.txt``).

Writes ``DATASET/SUBDIR/<stem>.pt`` (``torch.save`` of ``{"embeddings": [L_i, D], "caption",
"encoder", "semantic"}``, trimmed to the caption's real tokens) or, with ``--format pickle``,
Cosmos's t5_xxl layout (a pickle of a list with one float16 array ``[L_i, D]``). Point
``LocalVideoDataset(text_embeddings_subdir=SUBDIR, text_len=..., text_dim=D)`` at it.

Encoders:

- ``--encoder t5 --checkpoint DIR``: a LOCAL Hugging Face T5 encoder folder (e.g. a download of
  ``google-t5/t5-11b`` / ``t5-v1_1-xxl``: config, weights and tokenizer files), run with
  ``transformers`` (an optional extra: ``pip install transformers sentencepiece``). Nothing is
  downloaded. T5-XXL gives ``[L_i, 1024]`` with ``text_len`` 512, Cosmos's T5 layout.
- ``--encoder hash``: deterministic pseudo-embeddings from the caption's words (per-word seeded
  random vectors). NOT semantic: for smoke tests and pipelines without a model only.

Cosmos-Reason1 (the released Predict2.5 nets): those nets read ``[512, 100352]`` per caption
(the 28 hidden layers of the 7B Reason1 text encoder, 3584 wide, concatenated per token,
computed on the full 512-token padded sequence and stored untrimmed, ~100 MB per caption in
fp16). This tool has no Reason1 encoder; save such tensors yourself as ``<stem>.pt`` in the same
layout and train with ``text_dim=100352``, ``text_len=512`` and the ``predict2_5_2B`` net preset.

VAE-latent caching is not provided: the trainer encodes videos with the tokenizer every step.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path
from typing import Callable

import torch

from cosmos_train.data.text_hash import caption_words, hash_text_embedding
from cosmos_train.utils.dtypes import DTYPES

Encoder = Callable[[list[str]], list[torch.Tensor]]


class EmbeddingError(Exception):
    """A user-facing problem with the inputs; printed without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Compute per-caption text embeddings into DATASET/SUBDIR/<stem>.pt.",
        epilog="Reason1 layout for the released Predict2.5 nets: [512, 100352] per caption "
               "(not computed by this tool; see the module docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset-dir", required=True, type=Path, help="dataset folder")
    parser.add_argument("--captions-subdir", default="metas", help="folder of <stem>.txt captions")
    parser.add_argument("--subdir", default="t5_xxl", help="output folder inside the dataset")
    parser.add_argument("--encoder", choices=("t5", "hash"), required=True,
                        help="t5: local T5 checkpoint via transformers; hash: NOT semantic pseudo-embeddings")
    parser.add_argument("--checkpoint", type=Path, help="local T5 encoder folder (--encoder t5)")
    parser.add_argument("--text-len", type=int, default=512, help="maximum tokens per caption")
    parser.add_argument("--dim", type=int, default=1024, help="embedding width (--encoder hash)")
    parser.add_argument("--seed", type=int, default=0, help="word-vector seed (--encoder hash)")
    parser.add_argument("--format", choices=("pt", "pickle"), default="pt", help="output file format")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float16", help="stored dtype")
    parser.add_argument("--device", default="cpu", help="device for the T5 encoder")
    parser.add_argument("--batch-size", type=int, default=8, help="captions per T5 forward")
    parser.add_argument("--overwrite", action="store_true", help="recompute files that exist")
    return parser


def read_captions(dataset_dir: Path, captions_subdir: str) -> dict[str, str]:
    """``{stem: caption}`` for every ``<stem>.txt`` of the captions folder."""
    folder = dataset_dir / captions_subdir
    if not folder.is_dir():
        raise EmbeddingError(f"caption folder {folder} does not exist; create the dataset with "
                             f"python tools/prepare_nemo_assets.py --videos-dir MP4_DIR --prompt "
                             f"\"PROMPT\" --output-dir {dataset_dir}")
    captions = {p.stem: p.read_text(encoding="utf-8").strip() for p in sorted(folder.glob("*.txt"))}
    if not captions:
        raise EmbeddingError(f"no <stem>.txt captions in {folder}")
    return captions


def hash_encoder(*, text_len: int, dim: int, seed: int) -> Encoder:
    """Per-word seeded vectors, trimmed to the caption's words (NOT semantic)."""

    def encode(captions: list[str]) -> list[torch.Tensor]:
        out = []
        for caption in captions:
            emb, _ = hash_text_embedding(caption, text_len=text_len, text_dim=dim, seed=seed)
            out.append(emb[: min(len(caption_words(caption)), text_len)])
        return out

    return encode


def t5_encoder(*, checkpoint: Path | None, text_len: int, device: str, batch_size: int) -> Encoder:
    """A local T5 encoder via ``transformers``; outputs trimmed to each caption's real tokens."""
    if checkpoint is None:
        raise EmbeddingError("--encoder t5 needs --checkpoint DIR (a local T5 encoder folder); "
                             "use --encoder hash for a smoke test without a model")
    if not checkpoint.exists():
        raise EmbeddingError(f"--checkpoint {checkpoint} does not exist; download a T5 encoder "
                             f"(config, weights, tokenizer) to a local folder first")
    try:
        from transformers import AutoTokenizer, T5EncoderModel
    except ImportError as err:
        raise EmbeddingError("--encoder t5 needs the optional 'transformers' package: pip install "
                             "transformers sentencepiece (or use --encoder hash)") from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(checkpoint), local_files_only=True)
        model = T5EncoderModel.from_pretrained(str(checkpoint), local_files_only=True)
    except (OSError, ValueError) as err:
        raise EmbeddingError(f"cannot load a T5 encoder from {checkpoint}: {err}") from err
    model = model.to(device).eval()

    @torch.no_grad()
    def encode(captions: list[str]) -> list[torch.Tensor]:
        out: list[torch.Tensor] = []
        for i in range(0, len(captions), batch_size):
            batch = tokenizer(captions[i:i + batch_size], max_length=text_len, padding="max_length",
                              truncation=True, return_tensors="pt")
            ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state.float().cpu()
            lengths = mask.sum(dim=1).tolist()
            out.extend(hidden[j, : int(n)] for j, n in enumerate(lengths))
        return out

    return encode


def _save(path: Path, emb: torch.Tensor, caption: str, encoder: str, fmt: str, dtype: torch.dtype) -> None:
    emb = emb.to(dtype).contiguous()
    if fmt == "pickle":
        if dtype == torch.bfloat16:
            raise EmbeddingError("--format pickle stores numpy arrays, which have no bfloat16; "
                                 "use --dtype float16 (Cosmos's t5_xxl layout) or --format pt")
        with open(path, "wb") as f:
            pickle.dump([emb.numpy()], f)
    else:
        torch.save({"embeddings": emb, "caption": caption, "encoder": encoder,
                    "semantic": encoder != "hash"}, path)


def compute(args: argparse.Namespace) -> tuple[int, int]:
    """Write the embedding files; returns ``(written, skipped)``."""
    if args.text_len <= 0 or args.dim <= 0 or args.batch_size <= 0:
        raise EmbeddingError("--text-len, --dim and --batch-size must be positive")
    captions = read_captions(args.dataset_dir, args.captions_subdir)
    out_dir = args.dataset_dir / args.subdir
    suffix = ".pt" if args.format == "pt" else ".pickle"
    todo = {s: c for s, c in captions.items() if args.overwrite or not (out_dir / f"{s}{suffix}").exists()}
    if not todo:
        return 0, len(captions)
    if args.encoder == "hash":
        print("note: --encoder hash writes deterministic pseudo-embeddings that carry NO meaning",
              file=sys.stderr)
        encode = hash_encoder(text_len=args.text_len, dim=args.dim, seed=args.seed)
    else:
        encode = t5_encoder(checkpoint=args.checkpoint, text_len=args.text_len, device=args.device,
                            batch_size=args.batch_size)
    unique = sorted(set(todo.values()))  # nemo assets share one prompt: encode it once
    by_caption = dict(zip(unique, encode(unique)))
    out_dir.mkdir(parents=True, exist_ok=True)
    for stem, caption in todo.items():
        _save(out_dir / f"{stem}{suffix}", by_caption[caption], caption, args.encoder, args.format,
              DTYPES[args.dtype])
    return len(todo), len(captions) - len(todo)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        written, skipped = compute(args)
    except EmbeddingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.dataset_dir / args.subdir}: {written} written, {skipped} already present "
          f"(--overwrite recomputes). Use text_embeddings_subdir={args.subdir!r}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
