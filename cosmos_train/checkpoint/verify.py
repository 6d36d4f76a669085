"""Checkpoint verification: a manifest written at save time, checked before a resume trusts it.

Every published checkpoint directory holds ``manifest.json``: the size and a CRC-32 of each file
in it. Files up to :data:`FULL_CRC_BYTES` are checksummed whole; larger ones (a 2B run writes
gigabytes per key) by :data:`SAMPLE_BLOCKS` evenly spaced blocks of :data:`BLOCK_BYTES`, first and
last included, so verifying costs a few MiB of reads per file, not a second full read. Sampling
catches truncated, zeroed and overwritten files; it can miss a few flipped bytes between samples.

Independently of the manifest (checkpoints written before it existed have none), each DCP key's
``.metadata`` must unpickle and every data file it references must exist and be at least as long
as the byte ranges recorded there.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "BLOCK_BYTES",
    "FULL_CRC_BYTES",
    "MANIFEST_FILE",
    "SAMPLE_BLOCKS",
    "file_digest",
    "verify_checkpoint",
    "write_manifest",
]

MANIFEST_FILE = "manifest.json"
FULL_CRC_BYTES = 16 << 20
SAMPLE_BLOCKS = 16
BLOCK_BYTES = 256 << 10
_FORMAT = 1


def file_digest(path: str | os.PathLike) -> dict[str, Any]:
    """``{"size": bytes, "crc32": int, "sampled": bool}`` of one file (see the module docstring)."""
    size = os.path.getsize(path)
    crc = 0
    sampled = size > FULL_CRC_BYTES
    with open(path, "rb") as f:
        if not sampled:
            while chunk := f.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
        else:
            last = size - BLOCK_BYTES
            for i in range(SAMPLE_BLOCKS):
                f.seek(last * i // (SAMPLE_BLOCKS - 1))
                crc = zlib.crc32(f.read(BLOCK_BYTES), crc)
    return {"size": size, "crc32": crc, "sampled": sampled}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)


def write_manifest(checkpoint_dir: str | os.PathLike, iteration: int) -> Path:
    """Writes ``manifest.json`` for every file now in ``checkpoint_dir``; returns its path."""
    root = Path(checkpoint_dir)
    files = {p.relative_to(root).as_posix(): file_digest(p) for p in _files(root)}
    path = root / MANIFEST_FILE
    with open(path, "w") as f:
        json.dump({"format": _FORMAT, "iteration": int(iteration), "files": files}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    return path


def _key_of(relative: str) -> str | None:
    """The DCP key a manifest entry belongs to (``model/__0_0.distcp`` -> ``model``)."""
    head, sep, _ = relative.partition("/")
    return head if sep else None


def _manifest_problems(root: Path, keys: set[str]) -> list[str]:
    try:
        manifest = json.loads((root / MANIFEST_FILE).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{MANIFEST_FILE} is unreadable ({type(exc).__name__}: {exc})"]
    problems = []
    for relative, want in files.items():
        if _key_of(relative) not in keys:
            # Only the keys being loaded; config.yaml is checked when the resume compares configs.
            continue
        path = root / relative
        if not path.is_file():
            problems.append(f"{relative} is missing")
            continue
        got = file_digest(path)
        if got["size"] != want["size"]:
            problems.append(f"{relative} has {got['size']} bytes, {want['size']} were written")
        elif got["crc32"] != want["crc32"]:
            problems.append(f"{relative} has a different checksum than when it was written")
    return problems


def _dcp_problems(key_dir: Path, key: str) -> list[str]:
    """The key's ``.metadata`` unpickles and covers data files that exist and are long enough."""
    from torch.distributed.checkpoint import FileSystemReader

    if not (key_dir / ".metadata").is_file():
        return [f"{key}/.metadata is missing"]
    try:
        metadata = FileSystemReader(str(key_dir)).read_metadata()
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
        return [f"{key}/.metadata is unreadable ({type(exc).__name__}: {exc})"]
    needed: dict[str, int] = {}
    for info in (getattr(metadata, "storage_data", None) or {}).values():
        rel = getattr(info, "relative_path", None)
        if rel is not None:
            end = int(getattr(info, "offset", 0)) + int(getattr(info, "length", 0))
            needed[rel] = max(needed.get(rel, 0), end)
    problems = []
    for rel, end in sorted(needed.items()):
        path = key_dir / rel
        if not path.is_file():
            problems.append(f"{key}/{rel} is missing")
        elif path.stat().st_size < end:
            problems.append(f"{key}/{rel} has {path.stat().st_size} bytes, .metadata needs {end}")
    return problems


def verify_checkpoint(checkpoint_dir: str | os.PathLike, keys: Iterable[str]) -> list[str]:
    """Why the checkpoint's ``keys`` cannot be trusted (empty when they verify).

    Args:
        checkpoint_dir: an ``iter_X`` directory.
        keys: the DCP keys that will be loaded (``model``, ``optim``, ...).
    """
    root = Path(checkpoint_dir)
    keys = set(keys)
    if not root.is_dir():
        return [f"{root} is not a directory"]
    if (root / MANIFEST_FILE).is_file():
        problems = _manifest_problems(root, keys)
        if problems:
            return problems
    return [p for key in sorted(keys) for p in _dcp_problems(root / key, key)]
