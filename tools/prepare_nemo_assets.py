#!/usr/bin/env python
"""Build the ``datasets/cosmos_nemo_assets`` folder layout from a folder of mp4s and one prompt.

Creates ``OUTPUT/videos/<stem>.mp4`` (copied, symlinked or hard-linked) and
``OUTPUT/metas/<stem>.txt`` holding the prompt, the layout ``LocalVideoDataset`` reads (see
``cosmos_train/data/local_video.py``). Re-running with the same inputs is a no-op; changed files
need ``--overwrite``. Text embeddings are a separate step: ``tools/compute_text_embeddings.py``.

Example::

    python tools/prepare_nemo_assets.py --videos-dir ~/Downloads/nemo_diffusion_example_data \\
        --prompt "A video of sks teal robot." --output-dir datasets/cosmos_nemo_assets
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
from pathlib import Path


class PrepareError(Exception):
    """A user-facing problem with the inputs; printed without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Build the cosmos_nemo_assets layout (videos/*.mp4, metas/*.txt) from a "
        "folder of mp4 files and one prompt.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--videos-dir", required=True, type=Path, help="folder holding the .mp4 files"
    )
    parser.add_argument("--prompt", required=True, help="caption written for every video")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("datasets/cosmos_nemo_assets"),
        help="dataset folder to create or update",
    )
    parser.add_argument(
        "--mode",
        choices=("copy", "symlink", "hardlink"),
        default="copy",
        help="how videos land in OUTPUT/videos",
    )
    parser.add_argument("--recursive", action="store_true", help="also take mp4s in sub-folders")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace videos/captions that already exist with different content",
    )
    parser.add_argument(
        "--num-frames",
        type=int,
        default=93,
        help="warn about videos with fewer frames than this (the training clip length)",
    )
    return parser


def _find_mp4s(folder: Path, recursive: bool) -> list[Path]:
    if not folder.is_dir():
        raise PrepareError(f"--videos-dir {folder} is not a folder")
    pattern = "**/*" if recursive else "*"
    videos = sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() == ".mp4")
    if not videos:
        hint = "" if recursive else " (add --recursive to search sub-folders)"
        raise PrepareError(f"no .mp4 files in {folder}{hint}")
    stems: dict[str, Path] = {}
    for video in videos:
        if video.stem in stems:
            raise PrepareError(
                f"two videos share the name {video.stem!r}: {stems[video.stem]} and "
                f"{video}; rename one (captions are matched by file name)"
            )
        stems[video.stem] = video
    return videos


def _place_video(src: Path, dst: Path, mode: str, overwrite: bool) -> str:
    """Put ``src`` at ``dst``; returns what happened ("added", "kept", "replaced")."""
    action = "added"
    if dst.exists() or dst.is_symlink():
        same = dst.exists() and (os.path.samefile(src, dst) or filecmp.cmp(src, dst, shallow=False))
        if same:
            return "kept"
        if not overwrite:
            raise PrepareError(
                f"{dst} already exists with different content; pass --overwrite to replace it"
            )
        dst.unlink()
        action = "replaced"
    if mode == "copy":
        shutil.copy2(src, dst)
    elif mode == "symlink":
        dst.symlink_to(src.resolve())
    else:
        try:
            os.link(src, dst)
        except OSError as err:
            raise PrepareError(
                f"cannot hard-link {src} to {dst} ({err}); use --mode copy or --mode symlink"
            ) from err
    return action


def _write_caption(path: Path, prompt: str, overwrite: bool) -> str:
    if path.exists():
        if path.read_text(encoding="utf-8").strip() == prompt:
            return "kept"
        if not overwrite:
            raise PrepareError(
                f"{path} already holds a different caption; pass --overwrite to replace it"
            )
        path.write_text(prompt + "\n", encoding="utf-8")
        return "replaced"
    path.write_text(prompt + "\n", encoding="utf-8")
    return "added"


def _frame_count(path: Path) -> int | None:
    """Frames stored in the container (no decoding); ``None`` if unknown or unreadable."""
    from cosmos_train.data.video_io import count_frames  # here: --help must not import torch

    try:
        return count_frames(path) or None
    except Exception:  # a count is advisory: the dataset reports undecodable files itself
        return None


def prepare(
    videos_dir: Path,
    prompt: str,
    output_dir: Path,
    *,
    mode: str = "copy",
    recursive: bool = False,
    overwrite: bool = False,
    num_frames: int = 93,
) -> dict[str, int]:
    """Create or update the layout; returns counts of added/kept/replaced videos and short ones."""
    prompt = prompt.strip()
    if not prompt:
        raise PrepareError("--prompt is empty; give the caption to write for every video")
    if "\n" in prompt:
        raise PrepareError("--prompt must be one line (each metas/<stem>.txt holds one caption)")
    videos = _find_mp4s(videos_dir, recursive)
    (output_dir / "videos").mkdir(parents=True, exist_ok=True)
    (output_dir / "metas").mkdir(parents=True, exist_ok=True)
    counts = {"added": 0, "kept": 0, "replaced": 0, "short": 0}
    for src in videos:
        counts[_place_video(src, output_dir / "videos" / f"{src.stem}.mp4", mode, overwrite)] += 1
        _write_caption(output_dir / "metas" / f"{src.stem}.txt", prompt, overwrite)
        frames = _frame_count(src)
        if frames is not None and frames < num_frames:
            counts["short"] += 1
            print(
                f"warning: {src.name} has {frames} frames < --num-frames {num_frames}; the "
                f"dataset will skip it",
                file=sys.stderr,
            )
    return counts


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        counts = prepare(
            args.videos_dir,
            args.prompt,
            args.output_dir,
            mode=args.mode,
            recursive=args.recursive,
            overwrite=args.overwrite,
            num_frames=args.num_frames,
        )
    except PrepareError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"{args.output_dir}: {counts['added']} added, {counts['kept']} unchanged, "
        f"{counts['replaced']} replaced, {counts['short']} shorter than {args.num_frames} frames. "
        f"Next (optional): python tools/compute_text_embeddings.py --dataset-dir {args.output_dir} "
        "..."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
