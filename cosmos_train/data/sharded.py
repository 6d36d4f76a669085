"""Raw clips from webdataset-style tar shards (``tools/make_shards.py`` builds them).

Shard layout (see :mod:`cosmos_train.data.tar_shards`): per sample ``<key>.mp4`` (the clip as
stored in the folder dataset), ``<key>.txt`` (caption) and, when the folder had precomputed text
embeddings, ``<key>.emb.pt`` (``torch.save`` of the caption's float ``[L_i, D]``); ``index.json``
also records each clip's frame size and caption, so building the dataset reads no tar data.

:class:`ShardedVideoDataset` yields the same items as
:class:`~cosmos_train.data.local_video.LocalVideoDataset` (same windows for the same seed, same
resize, same buckets, same retries); load it with ``build_dataloader(sampling="shards")`` so each
rank reads its own shards, or ``sampling="buckets"`` for aspect-ratio buckets.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cosmos_train.data.local_video import LocalVideoDataset
from cosmos_train.data.tar_shards import ShardIndex

__all__ = ["ShardedVideoDataset", "SHARD_KIND_CLIPS"]

#: ``index.json`` ``meta.kind`` of raw-clip shards.
SHARD_KIND_CLIPS = "clips"


class _Member:
    """A sample of a shard standing where the folder dataset has a video path."""

    def __init__(self, index: ShardIndex, i: int) -> None:
        self.index, self.i = index, i
        path, entry = index.locate(i)
        self.stem = entry["key"]
        self.shard = path

    def __str__(self) -> str:
        return f"{self.shard}:{self.stem}"

    def open(self, ext: str) -> io.BytesIO:
        return io.BytesIO(self.index.read(self.i, ext))


class ShardedVideoDataset(LocalVideoDataset):
    """Clips, captions and optional text embeddings from tar shards.

    Args:
        shards_dir: folder of ``*.tar`` shards with ``index.json`` (``tools/make_shards.py``).
        num_frames: frames per clip ``T``.
        video_size: output ``(height, width)``.
        text_len: tokens after padding ``L``.
        text_dim: embedding width ``D``.
        text_embeddings: read ``<key>.emb.pt`` (the shards must have them); ``False``: captions.
        start: ``"random"`` window start or ``"first"`` frames.
        resize: ``"stretch"`` or ``"center_crop"``.
        max_retries: distinct clips tried for one item.
        seed: seed of the window starts and replacement choices.
        aspect_ratio_buckets: a Cosmos resolution name: resize and pad into aspect-ratio buckets.

    ``shard_sizes`` (samples per shard) drives ``build_dataloader(sampling="shards")``.
    """

    def __init__(
        self,
        *,
        shards_dir: str | Path,
        num_frames: int = 93,
        video_size: Sequence[int] = (704, 1280),
        text_len: int = 512,
        text_dim: int = 1024,
        text_embeddings: bool = True,
        start: str = "random",
        resize: str = "stretch",
        max_retries: int = 8,
        seed: int = 0,
        aspect_ratio_buckets: str | None = None,
    ) -> None:
        self.index = ShardIndex(shards_dir)
        kind = self.index.meta.get("kind", SHARD_KIND_CLIPS)
        if kind != SHARD_KIND_CLIPS:
            raise ValueError(
                f"{shards_dir} holds {kind!r} shards, not raw clips; a latent cache "
                "is read by LatentCacheDataset (data_train=latent_cache)"
            )
        self.shard_sizes = list(self.index.shard_sizes)
        super().__init__(
            dataset_dir=shards_dir,
            num_frames=num_frames,
            video_size=video_size,
            videos_subdir="",
            captions_subdir="",
            text_embeddings_subdir="" if text_embeddings else None,
            text_len=text_len,
            text_dim=text_dim,
            start=start,
            resize=resize,
            max_retries=max_retries,
            seed=seed,
            aspect_ratio_buckets=aspect_ratio_buckets,
        )

    # The folder dataset's lookups, answered from the shard index.
    def _find_videos(self, subdir: str) -> list[Any]:
        return [_Member(self.index, i) for i in range(len(self.index))]

    def _read_captions(self, subdir: str) -> list[str]:
        return [
            self._info(i).get("caption") or self.index.read(i, "txt").decode("utf-8").strip()
            for i in range(len(self.index))
        ]

    def _find_embeddings(self, subdir: str) -> list[Any]:
        missing = [
            m.stem for m in self.videos if "emb.pt" not in self.index.entries[m.i]["members"]
        ]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} sample(s) in {self.dataset_dir} have no text embedding (.emb.pt), "
                f"e.g. {missing[:3]}; rebuild the shards with tools/make_shards.py "
                "--text-embeddings-subdir SUBDIR, or set text_embeddings=False"
            )
        return list(self.videos)

    def _info(self, i: int) -> dict[str, Any]:
        return self.index.entries[i].get("info", {})

    def _frame_size(self, i: int) -> tuple[int, int]:
        info = self._info(i)
        if "height" in info and "width" in info:
            return int(info["height"]), int(info["width"])
        return super()._frame_size(i)

    def _embedding(self, member: Any) -> tuple[torch.Tensor, torch.Tensor]:
        emb = torch.load(member.open("emb.pt"), map_location="cpu", weights_only=True)
        return self._pad_embedding(emb.float(), member)

    def _decode(
        self, member: Any, rng: np.random.Generator, to_array: Any = None
    ) -> tuple[torch.Tensor, int, int, float]:
        # Only the clip's bytes are read (one seek into its shard); PyAV decodes from memory.
        return super()._decode(member.open("mp4"), rng, to_array)


def write_clip_shards(
    dataset_dir: str | Path,
    output: str | Path,
    *,
    samples_per_shard: int = 64,
    videos_subdir: str = "videos",
    captions_subdir: str = "metas",
    text_embeddings_subdir: str | None = None,
    caption_key: str | None = None,
    prefix: str = "clips",
    log: Any = print,
) -> ShardIndex:
    """Packs a folder dataset (``LocalVideoDataset`` layout) into tar shards with an index.

    Shards already in ``output`` under their final names are kept (a rerun after a crash writes
    only the missing ones); ``index.json`` is written last. The mp4 bytes are copied unchanged.

    Returns:
        The index of the written shards.
    """
    from cosmos_train.data.local_video import load_text_embedding
    from cosmos_train.data.tar_shards import read_tar_index, shard_name, write_shard
    from cosmos_train.data.video_io import count_frames, probe_size

    if samples_per_shard < 1:
        raise ValueError(f"samples_per_shard must be >= 1, got {samples_per_shard}")
    # The folder dataset finds the files and reports missing captions/embeddings; no decoding.
    folder = LocalVideoDataset(
        dataset_dir=dataset_dir,
        num_frames=1,
        video_size=(2, 2),
        videos_subdir=videos_subdir,
        captions_subdir=captions_subdir,
        text_embeddings_subdir=text_embeddings_subdir,
        caption_key=caption_key,
    )
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    n = len(folder.videos)
    shards: list[tuple[str, list[dict[str, Any]]]] = []
    for number, begin in enumerate(range(0, n, samples_per_shard)):
        name = shard_name(prefix, number)
        items = range(begin, min(n, begin + samples_per_shard))
        infos = []
        for i in items:
            height, width = probe_size(folder.videos[i])
            infos.append(
                {
                    "caption": folder.captions[i],
                    "height": height,
                    "width": width,
                    "frames": count_frames(folder.videos[i]),
                    "source": folder.videos[i].name,
                }
            )
        if (out / name).is_file():
            entries = read_tar_index(out / name)
            log(f"kept {out / name} ({len(entries)} clips)")
        else:

            def samples(items: range = items):  # bound now: used in this loop
                for i in items:
                    members = {
                        "mp4": folder.videos[i].read_bytes(),
                        "txt": folder.captions[i].encode("utf-8"),
                    }
                    if folder.embedding_files is not None:
                        buf = io.BytesIO()
                        torch.save(load_text_embedding(folder.embedding_files[i]), buf)
                        members["emb.pt"] = buf.getvalue()
                    yield folder.videos[i].stem, members

            entries = write_shard(out / name, samples())
            log(f"wrote {out / name} ({len(entries)} clips)")
        for entry, info in zip(entries, infos):
            entry["info"] = info
        shards.append((name, entries))
    ShardIndex.write(
        out,
        shards,
        meta={
            "kind": SHARD_KIND_CLIPS,
            "source": str(dataset_dir),
            "text_embeddings": text_embeddings_subdir is not None,
        },
    )
    return ShardIndex(out)
