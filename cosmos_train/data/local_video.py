"""Local video folder dataset: the ``datasets/cosmos_nemo_assets`` layout, decoded with PyAV.

Dataset folder layout
---------------------

::

    datasets/cosmos_nemo_assets/          # dataset_dir
    ├── videos/<stem>.mp4                 # videos_subdir: the clips (any length >= num_frames)
    ├── metas/<stem>.txt                  # captions_subdir: one caption per video, same stem
    ├── captions/<stem>.json              # OR (caption_key set) Cosmos's JSON captions, in
    │                                     #   caption_json_subdir: {"long": ..., "medium": ...,
    │                                     #   "short": ...}; caption_key picks one
    └── <text_embeddings_subdir>/         # OPTIONAL precomputed text embeddings, same stem:
        ├── <stem>.pt                     #   torch.save of a float tensor [L_i, D], or of a dict
        │                                 #   {"embeddings": [L_i, D], ...} (what
        │                                 #   tools/compute_text_embeddings.py writes), or
        └── <stem>.pickle                 #   Cosmos's t5_xxl format: pickle of a list holding one
                                          #   float16 numpy array [L_i, D] (also .pkl)

Build the ``videos/`` + ``metas/`` part from a folder of mp4s and one prompt with
``python tools/prepare_nemo_assets.py --videos-dir MP4_DIR --prompt "A video of sks teal robot."
--output-dir datasets/cosmos_nemo_assets``, and the embeddings with
``python tools/compute_text_embeddings.py --dataset-dir datasets/cosmos_nemo_assets --subdir t5_xxl
--encoder t5 --checkpoint /path/to/local/t5-encoder`` (``--encoder hash`` writes deterministic,
NOT semantic, pseudo-embeddings for smoke tests).

Text embeddings: each file holds the ``L_i`` real tokens of its caption; the dataset pads them
with zeros to ``text_len`` and sets ``t5_text_mask`` to 1 on the real tokens and 0 on padding.
``L_i`` must not exceed ``text_len`` and ``D`` must equal ``text_dim``.

- T5-XXL (Cosmos 1 / Predict2 layout): ``D = 1024``, ``text_len = 512``, files trimmed to the real
  token count (``text_embeddings_subdir="t5_xxl"``).
- Cosmos-Reason1 (the released Predict2.5 nets, ``crossattn_proj_in_channels = 100352``):
  ``[512, 100352]`` per caption, i.e. the 28 hidden layers of the 7B Reason1 encoder (3584 wide)
  concatenated per token, computed on the full 512-token padded sequence and stored untrimmed
  (so the mask is all ones); set ``text_dim=100352`` and the net preset ``predict2_5_2B``. Such a
  file is 98 MiB in bf16 per caption; ``tools/compute_text_embeddings.py --encoder reason1`` writes
  them (``reason1_embeddings/``). The released recipes compute them online instead
  (``text_encoder=reason1_online``, :mod:`cosmos_train.text_encoders`).

With ``text_embeddings_subdir=None`` items carry no ``t5_text_embeddings``/``t5_text_mask``
(the model must then encode ``ai_caption`` itself). Missing folders or files are reported when the
dataset is built, naming the folder and the command that creates it.

Video decoding (differences from Cosmos's decord-based ``VideoDataset``, on purpose): the window
start is drawn from ``randint(0, total - T + 1)`` so the last start and exactly-``T``-frame
videos work; it is deterministic per ``(seed, epoch, index, attempt)``; a video that is too short
or fails to decode is replaced by another one, and after ``max_retries`` distinct failures the
item raises :class:`VideoLoadError` listing every failure (never an endless loop). Frames are
resized by FFmpeg's swscale (bilinear, area-aware when shrinking) either stretched to
``video_size`` (Cosmos's behaviour) or scaled to cover it and centre-cropped (aspect kept).

Aspect-ratio buckets: with ``aspect_ratio_buckets="480"`` (a Cosmos resolution name, see
:mod:`cosmos_train.data.buckets`) ``video_size`` is not used: every video goes to the bucket of
its own aspect ratio (``bucket_ids``), is resized with the aspect kept to fit the bucket's size
and reflection-padded to it, with ``padding_mask`` 1 on the padding and ``image_size``
``[H, W, h, w]`` as in Cosmos. Load it with ``build_dataloader(sampling="buckets")`` so every
step's batch has one shape.
"""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from cosmos_train.data._items import check_index, check_positive_ints, size_fields
from cosmos_train.data.buckets import bucket_size, closest_aspect_ratio
from cosmos_train.data.video_io import (
    ClipUnusable,
    decode_window,
    frame_resizer,
    pad_to,
    probe_size,
)

__all__ = [
    "CAPTION_KEYS",
    "EMBEDDING_SUFFIXES",
    "LocalVideoDataset",
    "VideoLoadError",
    "load_text_embedding",
    "read_caption",
]

#: The prompt lengths of Cosmos's JSON caption files.
CAPTION_KEYS: tuple[str, ...] = ("long", "medium", "short")

#: Embedding file suffixes, in lookup order.
EMBEDDING_SUFFIXES: tuple[str, ...] = (".pt", ".pickle", ".pkl")
_PREPARE_CMD = (
    'python tools/prepare_nemo_assets.py --videos-dir MP4_DIR --prompt "PROMPT" --output-dir {dir}'
)
_EMBED_CMD = (
    "python tools/compute_text_embeddings.py --dataset-dir {dir} --subdir {sub} "
    "--encoder reason1   (Predict2.5 nets; --encoder t5 --checkpoint LOCAL_T5_DIR for T5, "
    "--encoder hash for a smoke test)"
)


class VideoLoadError(RuntimeError):
    """No usable video was found for an item after ``max_retries`` distinct failures."""


_SkippableVideo = ClipUnusable  # a video that cannot serve this item: try another one


def _first_n(items: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def read_caption(
    dataset_dir: str | Path,
    stem: str,
    *,
    captions_subdir: str = "metas",
    caption_key: str | None = None,
    caption_json_subdir: str = "captions",
) -> str:
    """The caption of video ``stem``: ``metas/<stem>.txt``, or
    ``captions/<stem>.json[caption_key]``.

    Raises:
        FileNotFoundError: the caption file is missing.
        ValueError: a JSON file that is not an object holding ``caption_key`` as a string.
    """
    dataset_dir = Path(dataset_dir)
    if caption_key is None:
        return (dataset_dir / captions_subdir / f"{stem}.txt").read_text(encoding="utf-8").strip()
    path = dataset_dir / caption_json_subdir / f"{stem}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get(caption_key), str):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"{path} has no string {caption_key!r} caption (found {found}); Cosmos's caption files "
            'are {"long": ..., "medium": ..., "short": ...}: set caption_key to one of the keys '
            "it has"
        )
    return data[caption_key].strip()


def load_text_embedding(path: str | Path) -> torch.Tensor:
    """Read one caption's embeddings ``[L, D]`` as float32 from a ``.pt`` or ``.pickle`` file.

    ``.pt``: a tensor or a dict with ``"embeddings"``. ``.pickle``/``.pkl`` (Cosmos t5_xxl): a list
    holding one numpy array, or a bare array. Pickles execute code when loaded: only read your own.
    """
    path = Path(path)
    if path.suffix == ".pt":
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, dict):
            if "embeddings" not in obj:
                raise ValueError(
                    f"{path}: a dict embedding file needs an 'embeddings' entry, "
                    f"found keys {sorted(obj)}"
                )
            obj = obj["embeddings"]
    else:
        with open(path, "rb") as f:
            obj = pickle.load(f)
        if isinstance(obj, (list, tuple)):
            if len(obj) != 1:
                raise ValueError(
                    f"{path}: expected a list with one [L, D] array (Cosmos t5_xxl "
                    f"layout), found a list of {len(obj)}"
                )
            obj = obj[0]
    tensor = torch.as_tensor(np.asarray(obj) if not isinstance(obj, torch.Tensor) else obj)
    if tensor.dim() == 3 and tensor.shape[0] == 1:
        tensor = tensor[0]  # a saved batch of one
    if tensor.dim() != 2:
        raise ValueError(
            f"{path}: expected embeddings of shape [L, D], found {tuple(tensor.shape)}"
        )
    return tensor.float()


class LocalVideoDataset(Dataset):
    """Clips, captions and optional precomputed text embeddings from a local folder.

    Args:
        dataset_dir: the dataset folder (see the module docstring for its layout).
        num_frames: frames per clip ``T``.
        video_size: output ``(height, width)``.
        videos_subdir: folder of ``.mp4`` files inside ``dataset_dir``.
        captions_subdir: folder of ``<stem>.txt`` captions inside ``dataset_dir``.
        caption_key: ``None`` reads the ``.txt`` captions; ``"long"``, ``"medium"`` or ``"short"``
            reads that prompt from Cosmos's ``<caption_json_subdir>/<stem>.json`` instead.
        caption_json_subdir: folder of the ``<stem>.json`` captions inside ``dataset_dir``.
        text_embeddings_subdir: folder of ``<stem>.pt``/``.pickle`` embeddings, or ``None``.
        text_len: tokens after padding ``L``.
        text_dim: embedding width ``D`` (1024 for T5-XXL, 100352 for Reason1).
        start: ``"random"`` window start or ``"first"`` frames.
        resize: ``"stretch"`` to ``video_size`` or ``"center_crop"`` (keep the aspect ratio).
        aspect_ratio_buckets: a Cosmos resolution name (``"480"``, ``"720"``, ...): resize and
            pad each video into its aspect-ratio bucket instead of ``video_size``.
        max_retries: distinct videos tried for one item before :class:`VideoLoadError`.
        seed: seed of the window starts and replacement choices.

    Items: ``video`` uint8 ``[3,T,H,W]``, ``ai_caption``, ``fps`` (from the container),
    ``image_size`` int64 ``[H,W,H,W]``, ``num_frames``, ``padding_mask`` float32 ``[1,H,W]``
    zeros, ``t5_text_embeddings`` float32 ``[L,D]`` and ``t5_text_mask`` int64 ``[L]`` (when
    embeddings are configured), ``sample_idx`` (the requested index), ``__key__`` (the stem of
    the video used), ``frame_start``/``frame_end`` (window, end exclusive) and
    ``n_orig_video_frames``.
    """

    #: File suffixes of the clips in ``videos_subdir``.
    MEDIA_SUFFIXES: tuple[str, ...] = (".mp4",)

    def __init__(
        self,
        *,
        dataset_dir: str | Path,
        num_frames: int = 93,
        video_size: Sequence[int] = (704, 1280),
        videos_subdir: str = "videos",
        captions_subdir: str = "metas",
        caption_key: str | None = None,
        caption_json_subdir: str = "captions",
        text_embeddings_subdir: str | None = None,
        text_len: int = 512,
        text_dim: int = 1024,
        start: str = "random",
        resize: str = "stretch",
        max_retries: int = 8,
        seed: int = 0,
        aspect_ratio_buckets: str | None = None,
    ) -> None:
        if start not in ("random", "first"):
            raise ValueError(f"start must be 'random' or 'first', got {start!r}")
        if resize not in ("stretch", "center_crop"):
            raise ValueError(f"resize must be 'stretch' or 'center_crop', got {resize!r}")
        if len(tuple(video_size)) != 2 or any(int(s) <= 0 for s in video_size):
            raise ValueError(
                f"video_size must be (height, width) of positive ints, got {video_size!r}"
            )
        check_positive_ints(
            num_frames=num_frames, text_len=text_len, text_dim=text_dim, max_retries=max_retries
        )
        if caption_key is not None and caption_key not in CAPTION_KEYS:
            raise ValueError(
                f"caption_key must be None (metas/<stem>.txt) or one of {list(CAPTION_KEYS)}, "
                f"got {caption_key!r}"
            )
        self.caption_key = caption_key
        self.caption_json_subdir = caption_json_subdir
        self.dataset_dir = Path(dataset_dir)
        self.num_frames = num_frames
        self.video_size = (int(video_size[0]), int(video_size[1]))
        self.text_len = text_len
        self.text_dim = text_dim
        self.start = start
        self.resize = resize
        self.max_retries = max_retries
        self.seed = seed
        self.epoch = 0
        self._to_array = frame_resizer(self.video_size, resize)

        self.videos = self._find_videos(videos_subdir)
        self.captions = self._read_captions(captions_subdir)
        self.embedding_files = (
            self._find_embeddings(text_embeddings_subdir)
            if text_embeddings_subdir is not None
            else None
        )
        self.aspect_ratio_buckets = aspect_ratio_buckets
        #: The aspect-ratio bucket of every video (``None`` without buckets).
        self.bucket_ids: list[str] | None = None
        if aspect_ratio_buckets is not None:
            bucket_size(aspect_ratio_buckets, "1,1")  # an unknown resolution fails here
            self.bucket_ids = [
                closest_aspect_ratio(*self._frame_size(i)) for i in range(len(self.videos))
            ]

    def _frame_size(self, i: int) -> tuple[int, int]:
        """``(height, width)`` of video ``i`` as stored (for its aspect-ratio bucket)."""
        try:
            return probe_size(self.videos[i])
        except ClipUnusable as err:
            raise ValueError(f"{self.videos[i]}: {err}; remove the file") from err

    # ---- construction-time checks -------------------------------------------------------
    def _find_videos(self, subdir: str) -> list[Path]:
        root = self.dataset_dir
        prepare = _PREPARE_CMD.format(dir=root)
        if not root.is_dir():
            raise FileNotFoundError(
                f"dataset folder {root} does not exist. Create it with: {prepare}"
            )
        folder = root / subdir
        if not folder.is_dir():
            raise FileNotFoundError(
                f"video folder {folder} does not exist (dataset_dir={root}, "
                f"videos_subdir={subdir!r}). Create it with: {prepare}"
            )
        videos = sorted(
            p for p in folder.iterdir() if p.suffix.lower() in self.MEDIA_SUFFIXES and p.is_file()
        )
        if not videos:
            raise FileNotFoundError(
                f"no {'/'.join(self.MEDIA_SUFFIXES)} files in {folder}. "
                f"Create the dataset with: {prepare}"
            )
        return videos

    def _read_captions(self, subdir: str) -> list[str]:
        json_layout = self.caption_key is not None
        folder = self.dataset_dir / (self.caption_json_subdir if json_layout else subdir)
        suffix = ".json" if json_layout else ".txt"
        missing = [
            f"{v.stem}{suffix}" for v in self.videos if not (folder / f"{v.stem}{suffix}").is_file()
        ]
        if missing:
            where = (
                f"caption_json_subdir/<stem>.json (caption_key={self.caption_key!r})"
                if json_layout
                else f"{subdir}/<stem>.txt"
            )
            raise FileNotFoundError(
                f"{len(missing)} caption file(s) missing in {folder}: {_first_n(missing)}. Every "
                f"video needs {where}; create them with: "
                f"{_PREPARE_CMD.format(dir=self.dataset_dir)}"
            )
        return [
            read_caption(
                self.dataset_dir,
                v.stem,
                captions_subdir=subdir,
                caption_key=self.caption_key,
                caption_json_subdir=self.caption_json_subdir,
            )
            for v in self.videos
        ]

    def _find_embeddings(self, subdir: str) -> list[Path]:
        folder = self.dataset_dir / subdir
        command = _EMBED_CMD.format(dir=self.dataset_dir, sub=subdir)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"text embedding folder {folder} does not exist "
                f"(text_embeddings_subdir={subdir!r}). Compute the embeddings with: {command}; or "
                "set text_embeddings_subdir=None"
            )
        found, missing = [], []
        for video in self.videos:
            path = next(
                (
                    folder / f"{video.stem}{s}"
                    for s in EMBEDDING_SUFFIXES
                    if (folder / f"{video.stem}{s}").is_file()
                ),
                None,
            )
            if path is None:
                missing.append(video.stem)
            found.append(path)
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} text embedding file(s) missing in {folder} for videos "
                f"{_first_n(missing)} (looked for <stem>{'|'.join(EMBEDDING_SUFFIXES)}). "
                f"Compute them with: {command}"
            )
        return found

    # ---- items ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.videos)

    def set_epoch(self, epoch: int) -> None:
        """Vary the random windows per epoch (the loader calls this with the sampler's epoch)."""
        self.epoch = int(epoch)

    def _rng(self, index: int, attempt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index, attempt])

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self.videos)
        index = check_index(index, n, f"the videos in {self.dataset_dir}")
        failures: list[str] = []
        tried: set[int] = set()
        candidate = index
        for attempt in range(self.max_retries):
            try:
                item = self._load(candidate, self._rng(index, attempt))
            except _SkippableVideo as err:
                tried.add(candidate)
                failures.append(f"{self.videos[candidate]}: {err}")
                warnings.warn(
                    f"skipping video {self.videos[candidate]} for item {index}: {err}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                untried = [i for i in range(n) if i not in tried]
                if not untried:
                    break
                candidate = untried[int(self._rng(index, attempt).integers(len(untried)))]
                continue
            item["sample_idx"] = index
            return item
        raise VideoLoadError(
            f"item {index}: {len(failures)} video(s) failed (max_retries={self.max_retries}, "
            f"num_frames={self.num_frames}):\n  "
            + "\n  ".join(failures)
            + "\nUse longer videos, lower num_frames, or remove the broken files."
        )

    def _load(self, i: int, rng: np.random.Generator) -> dict[str, Any]:
        if self.bucket_ids is None:
            video, start, total, fps = self._decode(self.videos[i], rng)
            geometry = size_fields(*self.video_size)
        else:
            video, start, total, fps, geometry = self._decode_into_bucket(i, rng)
        item: dict[str, Any] = {
            "video": video,
            "ai_caption": self.captions[i],
            "fps": fps,
            **geometry,
            "num_frames": self.num_frames,
            "__key__": self.videos[i].stem,
            "frame_start": start,
            "frame_end": start + self.num_frames,
            "n_orig_video_frames": total,
        }
        if self.embedding_files is not None:
            item["t5_text_embeddings"], item["t5_text_mask"] = self._embedding(
                self.embedding_files[i]
            )
        return item

    def _embedding(self, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
        return self._pad_embedding(load_text_embedding(path), path)

    def _pad_embedding(self, emb: torch.Tensor, path: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``emb`` ``[L_i, D]`` zero-padded to ``text_len`` and its mask; ``path`` names it in
        errors."""
        length, dim = emb.shape
        if dim != self.text_dim:
            raise ValueError(
                f"{path}: embedding width {dim} != text_dim={self.text_dim}; set "
                f"text_dim={dim} (and the net's text channels) or recompute the files"
            )
        if length > self.text_len:
            raise ValueError(
                f"{path}: {length} tokens > text_len={self.text_len}; raise text_len "
                f"or recompute the embeddings with --text-len {self.text_len}"
            )
        padded = torch.zeros(self.text_len, dim, dtype=torch.float32)
        padded[:length] = emb
        mask = torch.zeros(self.text_len, dtype=torch.int64)
        mask[:length] = 1
        return padded, mask

    def _decode(
        self, path: Path, rng: np.random.Generator, to_array: Any = None
    ) -> tuple[torch.Tensor, int, int, float]:
        """Decode the window: ``(video u8 [3,T,H,W], start, total frames, fps)``."""
        try:
            return decode_window(
                path,
                self.num_frames,
                to_array=to_array or self._to_array,
                start=self.start,
                rng=rng,
            )
        except ClipUnusable as err:
            raise _SkippableVideo(str(err)) from err

    def _decode_into_bucket(self, i: int, rng: np.random.Generator) -> tuple[Any, ...]:
        """Decode video ``i`` resized into its bucket and padded: ``(..., size fields)``."""
        size = bucket_size(
            self.aspect_ratio_buckets, self.bucket_ids[i], images=self.MEDIA_SUFFIXES != (".mp4",)
        )
        video, start, total, fps = self._decode(self.videos[i], rng, frame_resizer(size, "fit"))
        h, w = video.shape[-2:]
        video, mask = pad_to(video, size)
        geometry = {
            "image_size": torch.tensor([*size, h, w], dtype=torch.int64),
            "padding_mask": mask,
        }
        return video, start, total, fps, geometry
