#!/usr/bin/env python
"""Compute per-caption text embeddings for a local video dataset.

Captions come from ``metas/<stem>.txt`` (or, with ``--caption-key long|medium|short``, from
Cosmos's ``captions/<stem>.json``). Output: ``DATASET/SUBDIR/<stem>.pt``, a ``torch.save`` of
``{"embeddings": [L, D], "caption", "encoder", "weights", "semantic"}``; point
``LocalVideoDataset(text_embeddings_subdir=SUBDIR, text_len=..., text_dim=D)`` at it.

Encoders:

- ``--encoder reason1``: Cosmos-Reason1 embeddings, what the released Predict2.5 nets take:
  ``[512, 100352]`` per caption (28 decoder layers x 3584, normalised per token, on the full
  512-token padded chat; untrimmed), in bfloat16 as Cosmos computes them: 98 MiB per caption.
  ``--weights`` is a catalogue name (default ``nvidia/Cosmos-Reason1.1-7B``, through the Hugging
  Face cache), ``hf://ORG/REPO[@REV]`` or a local folder. Also writes ``SUBDIR/negative_prompt.pt``,
  the embedding of Cosmos's default negative prompt (``--negative-prompt`` changes it) for
  ``tools/generate.py``'s classifier-free guidance.
- ``--encoder t5 --checkpoint DIR``: a LOCAL Hugging Face T5 encoder folder (``google-t5/t5-11b``),
  ``[L_i, 1024]`` trimmed to the caption's tokens (Cosmos's Predict2 T5 layout).
- ``--encoder hash``: deterministic pseudo-embeddings from the caption's words. NOT semantic:
  for smoke tests only.

Identical captions are encoded once (the nemo assets share one caption) and their files are hard
links of one file where the file system allows. Files are written atomically (temporary file, then
rename). A rerun skips files that exist and verify (loadable; same caption, encoder, weights, dtype
and shape) and recomputes the rest; ``--overwrite`` recomputes everything.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import torch  # noqa: E402

from cosmos_train.data.local_video import CAPTION_KEYS, read_caption  # noqa: E402
from cosmos_train.data.text_hash import caption_words, hash_text_embedding  # noqa: E402
from cosmos_train.utils.atomic import atomic_write  # noqa: E402
from cosmos_train.utils.dtypes import DTYPES  # noqa: E402

Encoder = Callable[[list[str]], list[torch.Tensor]]
NEGATIVE_STEM = "negative_prompt"
_REASON1_WEIGHTS = "nvidia/Cosmos-Reason1.1-7B"


class EmbeddingError(Exception):
    """A user-facing problem with the inputs; printed without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Compute per-caption text embeddings into DATASET/SUBDIR/<stem>.pt.",
        epilog="Reason1 layout for the released Predict2.5 nets: [512, 100352] per caption "
        "(--encoder reason1; 98 MiB each in bfloat16).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--dataset-dir", required=True, type=Path, help="dataset folder")
    parser.add_argument("--captions-subdir", default="metas", help="folder of <stem>.txt captions")
    parser.add_argument(
        "--caption-key",
        choices=CAPTION_KEYS,
        help="read captions/<stem>.json[KEY] (Cosmos's JSON captions) instead of the .txt files",
    )
    parser.add_argument(
        "--caption-json-subdir", default="captions", help="folder of <stem>.json captions"
    )
    parser.add_argument(
        "--subdir",
        default=None,
        help="output folder inside the dataset "
        "(default: reason1_embeddings for reason1, t5_xxl otherwise)",
    )
    parser.add_argument(
        "--encoder",
        choices=("reason1", "t5", "hash"),
        required=True,
        help="reason1: Cosmos-Reason1 (Predict2.5); t5: local T5 folder; hash: NOT semantic",
    )
    parser.add_argument(
        "--weights",
        default=_REASON1_WEIGHTS,
        help="--encoder reason1: catalogue name, hf://ORG/REPO[@REV] or local folder",
    )
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="--encoder reason1: tokenizer folder if not beside the weights",
    )
    parser.add_argument("--checkpoint", type=Path, help="local T5 encoder folder (--encoder t5)")
    parser.add_argument(
        "--text-len", type=int, default=512, help="tokens per caption (pad/truncate length)"
    )
    parser.add_argument("--dim", type=int, default=1024, help="embedding width (--encoder hash)")
    parser.add_argument("--seed", type=int, default=0, help="word-vector seed (--encoder hash)")
    parser.add_argument(
        "--format", choices=("pt", "pickle"), default="pt", help="output file format"
    )
    parser.add_argument(
        "--dtype",
        choices=tuple(DTYPES),
        default=None,
        help="stored dtype (default: bfloat16 for reason1, as Cosmos; float16 otherwise)",
    )
    parser.add_argument("--device", default="cpu", help="device for the encoder")
    parser.add_argument("--batch-size", type=int, default=8, help="captions per encoder forward")
    parser.add_argument(
        "--negative-prompt",
        default=None,
        help="text of SUBDIR/negative_prompt.pt (reason1; default: Cosmos's negative prompt)",
    )
    parser.add_argument(
        "--no-negative-prompt", action="store_true", help="do not write negative_prompt.pt"
    )
    parser.add_argument("--overwrite", action="store_true", help="recompute files that exist")
    return parser


def read_captions(args: argparse.Namespace) -> dict[str, str]:
    """``{stem: caption}`` for every caption file (``.txt``, or ``.json`` with a caption key)."""
    json_layout = args.caption_key is not None
    folder = args.dataset_dir / (args.caption_json_subdir if json_layout else args.captions_subdir)
    if not folder.is_dir():
        raise EmbeddingError(
            f"caption folder {folder} does not exist; create the dataset with "
            f"python tools/prepare_nemo_assets.py --videos-dir MP4_DIR --prompt "
            f'"PROMPT" --output-dir {args.dataset_dir}'
        )
    stems = [p.stem for p in sorted(folder.glob("*.json" if json_layout else "*.txt"))]
    if not stems:
        raise EmbeddingError(f"no <stem>.{'json' if json_layout else 'txt'} captions in {folder}")
    try:
        return {
            s: read_caption(
                args.dataset_dir,
                s,
                captions_subdir=args.captions_subdir,
                caption_key=args.caption_key,
                caption_json_subdir=args.caption_json_subdir,
            )
            for s in stems
        }
    except ValueError as err:
        raise EmbeddingError(str(err)) from None


def hash_encoder(*, text_len: int, dim: int, seed: int) -> Encoder:
    """Per-word seeded vectors, trimmed to the caption's words (NOT semantic)."""

    def encode(captions: list[str]) -> list[torch.Tensor]:
        out = []
        for caption in captions:
            emb, _ = hash_text_embedding(caption, text_len=text_len, text_dim=dim, seed=seed)
            out.append(emb[: min(len(caption_words(caption)), text_len)])
        return out

    return encode


def _need_transformers(encoder: str) -> None:
    try:
        import transformers  # noqa: F401
    except ImportError as err:
        raise EmbeddingError(
            f"--encoder {encoder} needs the optional 'transformers' package: pip install "
            "'lazycfg-cosmos-train[text]' (or use --encoder hash)"
        ) from err


def reason1_encoder(args: argparse.Namespace, dtype: torch.dtype) -> tuple[Encoder, str]:
    """Cosmos-Reason1 embeddings ``[text_len, 100352]`` per caption; (encode, weights spec)."""
    _need_transformers("reason1")
    from cosmos_train.checkpoint.hub import WeightsNotFoundError
    from cosmos_train.text_encoders.reason1 import Reason1TextEncoder, WeightsLoadError

    try:
        model = Reason1TextEncoder(
            weights=args.weights,
            tokenizer=args.tokenizer,
            max_length=args.text_len,
            device=args.device,
            dtype=dtype,
        )
    except (WeightsNotFoundError, WeightsLoadError) as err:
        raise EmbeddingError(
            str(err).replace("model.config.text_encoder.weights", "--weights")
        ) from None

    def encode(captions: list[str]) -> list[torch.Tensor]:
        return [row.cpu() for row in model.encode(captions).unbind(0)]

    return encode, str(args.weights)


def t5_encoder(*, checkpoint: Path | None, text_len: int, device: str) -> Encoder:
    """A local T5 encoder (:class:`~cosmos_train.text_encoders.t5.T5TextEncoder`), trimmed."""
    if checkpoint is None:
        raise EmbeddingError(
            "--encoder t5 needs --checkpoint DIR (a local T5 encoder folder); "
            "use --encoder hash for a smoke test without a model"
        )
    if not checkpoint.exists():
        raise EmbeddingError(
            f"--checkpoint {checkpoint} does not exist; download a T5 encoder "
            f"(config, weights, tokenizer) to a local folder first"
        )
    try:
        import transformers  # noqa: F401
    except ImportError as err:
        raise EmbeddingError(
            "--encoder t5 needs the optional 'transformers' package: pip install "
            "transformers sentencepiece (or use --encoder hash)"
        ) from err
    from cosmos_train.text_encoders.reason1 import WeightsLoadError
    from cosmos_train.text_encoders.t5 import T5TextEncoder

    try:
        model = T5TextEncoder(
            weights=str(checkpoint), max_length=text_len, device=device, dtype="float32"
        )
    except WeightsLoadError as err:
        raise EmbeddingError(f"cannot load a T5 encoder from {checkpoint}: {err}") from None

    def encode(captions: list[str]) -> list[torch.Tensor]:
        hidden, mask = model.encode_with_mask(captions)
        return [hidden[j, : int(n)].cpu() for j, n in enumerate(mask.sum(dim=1).tolist())]

    return encode


# ---- files ---------------------------------------------------------------------------------
def _record(
    emb: torch.Tensor, caption: str, encoder: str, weights: str | None, dtype: torch.dtype
) -> dict[str, Any]:
    return {
        "embeddings": emb.to(dtype).contiguous(),
        "caption": caption,
        "encoder": encoder,
        "weights": weights,
        "semantic": encoder != "hash",
    }


def _save(path: Path, record: dict[str, Any], fmt: str) -> None:
    if fmt == "pickle":
        if record["embeddings"].dtype == torch.bfloat16:
            raise EmbeddingError(
                "--format pickle stores numpy arrays, which have no bfloat16; "
                "use --dtype float16 (Cosmos's t5_xxl layout) or --format pt"
            )

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                pickle.dump([record["embeddings"].numpy()], f)
    else:

        def write(tmp: Path) -> None:
            torch.save(record, tmp)

    atomic_write(path, write)


def _link_or_copy(src: Path, dst: Path) -> None:
    """``dst`` as a hard link of ``src`` (one copy on disk), else a byte copy; atomic either way."""

    def write(tmp: Path) -> None:
        try:
            os.link(src, tmp)
        except OSError:
            import shutil

            shutil.copyfile(src, tmp)

    atomic_write(dst, write)


def verify(
    path: Path,
    caption: str,
    encoder: str,
    weights: str | None,
    dtype: torch.dtype,
    text_len: int | None,
) -> bool:
    """Whether ``path`` is a complete embedding file of ``caption`` made by this encoder setup."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - any unreadable file is recomputed
        return False
    if not isinstance(obj, dict) or not isinstance(obj.get("embeddings"), torch.Tensor):
        return False
    emb = obj["embeddings"]
    same = (obj.get("caption"), obj.get("encoder"), obj.get("weights")) == (
        caption,
        encoder,
        weights,
    )
    shape_ok = emb.dim() == 2 and (text_len is None or emb.shape[0] == text_len)
    return same and shape_ok and emb.dtype == dtype


# ---- main ----------------------------------------------------------------------------------
def compute(args: argparse.Namespace) -> tuple[int, int]:
    """Write the embedding files; returns ``(written, skipped)``."""
    if args.text_len <= 0 or args.dim <= 0 or args.batch_size <= 0:
        raise EmbeddingError("--text-len, --dim and --batch-size must be positive")
    subdir = args.subdir or ("reason1_embeddings" if args.encoder == "reason1" else "t5_xxl")
    dtype = DTYPES[args.dtype or ("bfloat16" if args.encoder == "reason1" else "float16")]
    captions = read_captions(args)
    jobs = dict(captions)
    negative = None
    if args.encoder == "reason1" and not args.no_negative_prompt:
        from cosmos_train.text_encoders.reason1 import DEFAULT_NEGATIVE_PROMPT

        if NEGATIVE_STEM in jobs:
            raise EmbeddingError(
                f"a caption file is named {NEGATIVE_STEM!r}, which is the negative prompt's "
                "file name; rename it or pass --no-negative-prompt"
            )
        negative = (
            args.negative_prompt if args.negative_prompt is not None else DEFAULT_NEGATIVE_PROMPT
        )
        jobs[NEGATIVE_STEM] = negative
    out_dir = args.dataset_dir / subdir
    suffix = ".pt" if args.format == "pt" else ".pickle"
    weights = (
        str(args.weights)
        if args.encoder == "reason1"
        else (str(args.checkpoint) if args.encoder == "t5" else None)
    )
    text_len = (
        args.text_len if args.encoder == "reason1" else None
    )  # only reason1 files are untrimmed

    def done(stem: str, caption: str) -> bool:
        path = out_dir / f"{stem}{suffix}"
        if args.overwrite or not path.exists():
            return False
        if args.format == "pickle":
            return True  # no metadata to check in Cosmos's pickle layout
        if verify(path, caption, args.encoder, weights, dtype, text_len):
            return True
        print(
            f"note: {path} does not verify (other caption/encoder/dtype or incomplete): "
            "recomputing",
            file=sys.stderr,
        )
        return False

    todo = {s: c for s, c in jobs.items() if not done(s, c)}
    if not todo:
        return 0, len(jobs)
    if args.encoder == "hash":
        print(
            "note: --encoder hash writes deterministic pseudo-embeddings that carry NO meaning",
            file=sys.stderr,
        )
        encode = hash_encoder(text_len=args.text_len, dim=args.dim, seed=args.seed)
    elif args.encoder == "reason1":
        encode, weights = reason1_encoder(args, dtype)
    else:
        encode = t5_encoder(
            checkpoint=args.checkpoint,
            text_len=args.text_len,
            device=args.device,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    first_file: dict[str, Path] = {}  # caption -> the file already holding its embedding
    stems_by_caption: dict[str, list[str]] = {}
    for stem, caption in todo.items():
        stems_by_caption.setdefault(caption, []).append(stem)
    unique = list(stems_by_caption)  # identical captions are encoded once
    from tqdm import tqdm

    with tqdm(
        total=len(unique),
        desc=f"{args.encoder} captions",
        unit="caption",
        file=sys.stderr,
        disable=None,
    ) as progress:
        for i in range(0, len(unique), args.batch_size):
            chunk = unique[i : i + args.batch_size]
            for caption, emb in zip(chunk, encode(chunk)):
                for stem in stems_by_caption[caption]:
                    path = out_dir / f"{stem}{suffix}"
                    if caption in first_file and args.format == "pt":
                        _link_or_copy(first_file[caption], path)
                    else:
                        _save(
                            path, _record(emb, caption, args.encoder, weights, dtype), args.format
                        )
                        first_file[caption] = path
            progress.update(len(chunk))
    return len(todo), len(jobs) - len(todo)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        written, skipped = compute(args)
    except EmbeddingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    subdir = args.subdir or ("reason1_embeddings" if args.encoder == "reason1" else "t5_xxl")
    print(
        f"{args.dataset_dir / subdir}: {written} written, {skipped} already present "
        f"(--overwrite recomputes). Use text_embeddings_subdir={subdir!r}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
