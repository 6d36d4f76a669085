"""Webdataset-style tar shards: atomic writing, an index of member offsets, random-access reads.

A shard is a plain POSIX tar whose members are ``<key>.<ext>`` files, the members of one sample
consecutive (the webdataset convention, so ``webdataset``/``tar tf`` read our shards too). A shard
folder holds ``<prefix>-NNNNNN.tar`` files and ``index.json``: per shard, its file name and per
sample its key and ``{ext: [offset, size]}`` of the member data, so a reader (and a resumed run)
reads exactly the bytes of the samples it needs, never scanning a tar. Without ``index.json``
the tar headers are scanned once (``read_tar_index``).

Every shard is written to a temporary name and renamed into place, so a crash never leaves a
half-written shard under the final name; ``index.json`` is written last, the same way.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cosmos_train.utils.atomic import atomic_write

__all__ = [
    "INDEX_NAME",
    "ShardIndex",
    "read_member",
    "read_tar_index",
    "shard_name",
    "write_json_atomic",
    "write_shard",
]

INDEX_NAME = "index.json"
_INDEX_FORMAT = "cosmos_train.tar_shards/1"

#: One sample: its key and ``{ext: bytes}``.
Sample = tuple[str, Mapping[str, bytes]]


def shard_name(prefix: str, number: int) -> str:
    """``<prefix>-000042.tar``."""
    return f"{prefix}-{number:06d}.tar"


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Writes ``obj`` as JSON to ``path`` through a temporary file and a rename."""
    text = json.dumps(obj, indent=1, sort_keys=True)
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_shard(path: str | Path, samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """Writes ``samples`` to the tar ``path`` atomically; returns their index entries.

    Args:
        path: the final ``.tar`` path (its folder must exist).
        samples: ``(key, {ext: data})``; keys must not contain ``/`` and exts not start with ``.``.

    Returns:
        ``[{"key": key, "members": {ext: [offset, size]}}, ...]`` in write order.
    """
    entries: list[dict[str, Any]] = []

    def write(tmp: Path) -> None:
        with (
            open(tmp, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for key, members in samples:
                if "/" in key or not key or key.startswith("."):
                    raise ValueError(f"sample key {key!r} must be a non-empty name without '/'")
                spans: dict[str, list[int]] = {}
                for ext, data in members.items():
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size = len(data)
                    info.mode = 0o644
                    tar.addfile(info, io.BytesIO(data))
                    # The data follows the header, padded to 512 bytes: offset = end - padded size.
                    spans[ext] = [raw.tell() - _padded(len(data)), len(data)]
                entries.append({"key": key, "members": spans})

    atomic_write(path, write)
    return entries


def _padded(size: int) -> int:
    return (size + tarfile.BLOCKSIZE - 1) // tarfile.BLOCKSIZE * tarfile.BLOCKSIZE


def read_tar_index(path: str | Path) -> list[dict[str, Any]]:
    """Index entries of any tar (webdataset grouping: key = the name before the first dot
    of the base name, members of a key consecutive)."""
    entries: list[dict[str, Any]] = []
    with tarfile.open(path, mode="r:") as tar:
        for info in tar:
            if not info.isfile():
                continue
            base = info.name.rsplit("/", 1)[-1]
            key, dot, ext = base.partition(".")
            if not dot:
                continue
            if not entries or entries[-1]["key"] != key:
                entries.append({"key": key, "members": {}})
            entries[-1]["members"][ext] = [info.offset_data, info.size]
    return entries


def read_member(path: str | Path, span: list[int] | tuple[int, int]) -> bytes:
    """The bytes of one member: ``span`` is ``[offset, size]`` from an index entry."""
    offset, size = int(span[0]), int(span[1])
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(size)
    if len(data) != size:
        raise OSError(
            f"{path}: truncated member at offset {offset} ({len(data)} of {size} bytes); "
            "the shard is damaged: rebuild it"
        )
    return data


class ShardIndex:
    """The samples of a shard folder: shard files, per-shard sample counts, member spans.

    Args:
        root: the folder with ``*.tar`` shards and (normally) ``index.json``.

    ``len()`` is the number of samples; sample ``i`` is ``(shard path, entry)`` through
    :meth:`locate`. ``shard_of[i]`` is its shard number; ``meta`` is the index's extra fields.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"shard folder {self.root} does not exist; build it with "
                f"python tools/make_shards.py --dataset-dir DIR --output {self.root}"
            )
        index_path = self.root / INDEX_NAME
        if index_path.is_file():
            data = json.loads(index_path.read_text())
            if data.get("format") != _INDEX_FORMAT:
                raise ValueError(
                    f"{index_path}: not a cosmos_train shard index "
                    f"(format {data.get('format')!r}, expected {_INDEX_FORMAT!r})"
                )
            shards = [(s["file"], s["samples"]) for s in data["shards"]]
            self.meta: dict[str, Any] = data.get("meta", {})
        else:
            tars = sorted(p.name for p in self.root.glob("*.tar"))
            shards = [(name, read_tar_index(self.root / name)) for name in tars]
            self.meta = {}
        if not shards or not any(samples for _, samples in shards):
            raise FileNotFoundError(
                f"no samples in the shards of {self.root}; build them with "
                "python tools/make_shards.py"
            )
        self.files = [self.root / name for name, _ in shards]
        missing = [str(f) for f in self.files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"{index_path} lists shards that are missing: {missing[:5]}")
        self.entries: list[dict[str, Any]] = []
        self.shard_of: list[int] = []
        self.shard_sizes: list[int] = []
        for number, (_, samples) in enumerate(shards):
            self.entries.extend(samples)
            self.shard_of.extend([number] * len(samples))
            self.shard_sizes.append(len(samples))

    def __len__(self) -> int:
        return len(self.entries)

    def locate(self, index: int) -> tuple[Path, dict[str, Any]]:
        """``(shard path, {"key", "members", ...})`` of sample ``index``."""
        return self.files[self.shard_of[index]], self.entries[index]

    def read(self, index: int, ext: str) -> bytes:
        """The ``ext`` member of sample ``index``."""
        path, entry = self.locate(index)
        if ext not in entry["members"]:
            raise KeyError(
                f"sample {entry['key']!r} in {path} has no .{ext} member "
                f"(it has {sorted(entry['members'])})"
            )
        return read_member(path, entry["members"][ext])

    @staticmethod
    def write(
        root: str | Path,
        shards: list[tuple[str, list[dict[str, Any]]]],
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Writes ``index.json`` for ``[(file name, entries), ...]`` atomically."""
        write_json_atomic(
            Path(root) / INDEX_NAME,
            {
                "format": _INDEX_FORMAT,
                "meta": dict(meta or {}),
                "shards": [{"file": name, "samples": entries} for name, entries in shards],
            },
        )
