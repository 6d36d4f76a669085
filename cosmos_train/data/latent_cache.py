"""Latent cache: every training clip encoded once by the experiment's tokenizer, read as batches.

``tools/cache_latents.py EXPERIMENT.py [overrides] --output DIR`` writes (:func:`build_cache`)::

    DIR/manifest.json        what the cache was made from (the "spec", below), whether complete
    DIR/index.json           tar-shard index (cosmos_train.data.tar_shards)
    DIR/latents-NNNNNN.tar   per clip: <key>.latent.pt (torch.save of [C, T', H', W']), <key>.json
                             (caption, fps, window, image_size, sample index, text embedding hash)
    DIR/text/<sha>.pt        each distinct caption embedding once ([L_i, D], the real tokens)

The spec records the tokenizer's fingerprint (target, arguments, sha256 of its weights file), the
clip window (frames, start policy, seed; windows are those of epoch 0), the resolution (frame size
or aspect-ratio buckets, resize policy) and the caption choice (embedding folder, ``text_len``,
``text_dim``). Shard ``k`` always holds clips ``k*N .. k*N+N-1``; a shard is written atomically, and
a rerun with the same spec keeps finished shards (resumable); a rerun with another spec is refused.

:class:`LatentCacheDataset` (``data_train=latent_cache``) yields ``latents`` instead of ``video``,
with the same ``sample_idx``, text embeddings, fps and padding mask as the video item it was made
from, so the model (which skips its tokenizer's encoder when a batch has ``latents``) computes the
same loss as from video, up to the tokenizer's numerical tolerance. A cache whose spec differs
from the training config (another tokenizer, resolution, window or text layout) is refused, the
differences listed.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from cosmos_train.data._items import LATENTS_KEY, check_index
from cosmos_train.data.buckets import padding_mask_from_size
from cosmos_train.data.tar_shards import (
    ShardIndex,
    read_member,
    read_tar_index,
    shard_name,
    write_json_atomic,
    write_shard,
)
from cosmos_train.utils.atomic import atomic_write
from cosmos_train.utils.build import instantiate_at
from lazycfg import ConfigError

__all__ = [
    "CacheMismatchError",
    "LATENTS_KEY",
    "LatentCacheDataset",
    "MANIFEST_NAME",
    "build_cache",
    "cache_spec",
    "check_cache_against_config",
    "spec_differences",
    "tokenizer_fingerprint",
]

MANIFEST_NAME = "manifest.json"
CACHE_FORMAT = "cosmos_train.latent_cache/1"
SHARD_KIND_LATENTS = "latents"
_CACHE_CMD = "python tools/cache_latents.py EXPERIMENT.py [overrides] --output {dir}"


class CacheMismatchError(ConfigError, ValueError):
    """A latent cache made from a different tokenizer, window, resolution or text layout."""


# --------------------------------------------------------------------------- spec
def _target_name(node: Any) -> str:
    target = getattr(node, "_target_", None)
    if target is None:
        return type(node).__module__ + "." + type(node).__qualname__
    if isinstance(target, str):
        return target
    name = getattr(target, "__qualname__", None)
    return f"{target.__module__}.{name}" if name else str(target)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


@functools.lru_cache(maxsize=8)
def _file_sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's content (computed once per process per file version)."""
    st = os.stat(path)
    return _file_sha256_cached(str(path), st.st_size, st.st_mtime_ns)


def tokenizer_fingerprint(node: Any) -> dict[str, Any]:
    """What identifies a tokenizer's latents: its target, arguments and weights file content.

    ``ckpt_path`` (a local path, catalogue name or ``hf://`` spec) is resolved like the tokenizer
    resolves it and replaced by the sha256 of the file; weights that cannot be resolved here
    (offline, not downloaded) are recorded by their spec.

    Args:
        node: the tokenizer's config node (``model.config.tokenizer``).
    """
    kwargs = {k: _jsonable(node[k]) for k in node} if hasattr(node, "_target_") else {}
    kwargs.pop("allow_random", None)  # a permission, not a property of the latents
    fp: dict[str, Any] = {"target": _target_name(node), "kwargs": kwargs}
    ckpt = kwargs.get("ckpt_path")
    if "ckpt_path" in kwargs and not ckpt:
        fp["weights"] = "random (seeded init)"
    if isinstance(ckpt, str) and ckpt:
        del kwargs["ckpt_path"]  # the content counts, not where the file lies
        try:
            from cosmos_train.checkpoint.hub import resolve_weights

            path = resolve_weights(ckpt, what="model.config.tokenizer.ckpt_path")
        except Exception:  # noqa: BLE001 - unresolvable here: fall back to the spec itself
            fp["weights"] = ckpt
        else:
            fp["weights_sha256"] = _file_sha256(path)
    return fp


def _dataset_spec(dataset_node: Any) -> dict[str, Any]:
    """Window, resolution and caption parts of the spec from a video dataset's config node."""
    get = lambda k, d=None: dataset_node[k] if k in dataset_node else d  # noqa: E731
    buckets = get("aspect_ratio_buckets")
    size = get("video_size")
    if size is None and get("height") is not None:
        size = (get("height"), get("width"))
    resolution: dict[str, Any] = (
        {"aspect_ratio_buckets": buckets}
        if buckets is not None
        else {"video_size": _jsonable(size)}
    )
    return {
        "window": {
            "num_frames": get("num_frames"),
            "start": get("start", "random"),
            "seed": get("seed", 0),
        },
        "resolution": resolution,
        "resize": get("resize", "stretch") if buckets is None else "fit+reflection_pad",
        "caption": {
            "text_len": get("text_len"),
            "text_dim": get("text_dim"),
            "caption_key": get("caption_key"),
            "text_embeddings": get("text_embeddings_subdir", get("text_embeddings")),
        },
    }


def cache_spec(config: Any) -> dict[str, Any]:
    """The spec of a cache made from ``config``'s training dataset and tokenizer."""
    spec = _dataset_spec(config.dataloader_train.dataset)
    spec["tokenizer"] = tokenizer_fingerprint(config.model.config.tokenizer)
    spec["format"] = CACHE_FORMAT
    return spec


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}


#: Spec entries that must agree between a cache and the run that trains from it.
_MUST_MATCH = (
    "tokenizer",
    "window.num_frames",
    "resolution",
    "caption.text_len",
    "caption.text_dim",
)


def spec_differences(
    cache: Mapping[str, Any], expected: Mapping[str, Any], keys: Sequence[str] = _MUST_MATCH
) -> list[str]:
    """``"path: cache has X, the run expects Y"`` for every differing entry under ``keys``.

    An entry the run leaves at ``None`` (a dataset argument it does not pin) is not compared;
    under ``tokenizer`` every entry counts, missing ones included.
    """
    flat_c, flat_e = _flatten(cache), _flatten(expected)
    lines = []
    for path in sorted(set(flat_c) | set(flat_e)):
        if not any(path == k or path.startswith(k + ".") for k in keys):
            continue
        a, b = flat_c.get(path, "<missing>"), flat_e.get(path, "<missing>")
        if b is None and not path.startswith("tokenizer."):
            continue
        if a != b:
            lines.append(f"{path}: cache has {a!r}, the run expects {b!r}")
    return lines


def read_manifest(cache_dir: str | Path) -> dict[str, Any]:
    path = Path(cache_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"no latent cache in {cache_dir} ({MANIFEST_NAME} missing); make it "
            f"with: {_CACHE_CMD.format(dir=cache_dir)}"
        )
    manifest = json.loads(path.read_text())
    if manifest.get("spec", {}).get("format") != CACHE_FORMAT:
        raise ValueError(f"{path}: not a {CACHE_FORMAT} manifest")
    return manifest


def check_cache_against_config(config: Any) -> None:
    """Refuses a ``data_train=latent_cache`` run whose tokenizer differs from the cache's.

    The dataset itself checks the window, resolution and text layout it is configured with; the
    tokenizer is known only to the whole config, so the launcher calls this before training.
    No-op for other data sources.
    """
    dataset = getattr(config.dataloader_train, "dataset", None)
    if dataset is None or not _target_name(dataset).endswith(".LatentCacheDataset"):
        return
    cache_dir = dataset["cache_dir"]
    try:
        manifest = read_manifest(cache_dir)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(
            f"dataloader_train.dataset.cache_dir={cache_dir!r}: {err}",
            "dataloader_train.dataset.cache_dir",
        ) from err
    expected = {"tokenizer": tokenizer_fingerprint(config.model.config.tokenizer)}
    diff = spec_differences(manifest["spec"], expected, keys=("tokenizer",))
    if diff:
        raise CacheMismatchError(
            f"dataloader_train.dataset.cache_dir={cache_dir!r} was made with another tokenizer "
            "than "
            f"model.config.tokenizer:\n  "
            + "\n  ".join(diff)
            + f"\nRebuild it: {_CACHE_CMD.format(dir='NEW_DIR')}",
            "dataloader_train.dataset.cache_dir",
        )


# --------------------------------------------------------------------------- writing
def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    torch.save(tensor.contiguous().clone(), buf)
    return buf.getvalue()


def _store_text(text_dir: Path, emb: torch.Tensor, mask: torch.Tensor) -> str:
    """Stores the real tokens of one caption embedding once; returns its content hash."""
    real = emb[: int(mask.sum())] if mask is not None else emb
    real = real.contiguous()
    digest = hashlib.sha256(
        real.float().numpy().tobytes() + str(tuple(real.shape)).encode()
    ).hexdigest()[:32]
    path = text_dir / f"{digest}.pt"
    if not path.is_file():
        atomic_write(path, lambda tmp: torch.save(real.clone(), tmp))
    return digest


def build_cache(
    config: Any,
    output: str | Path,
    *,
    samples_per_shard: int = 64,
    device: str = "cpu",
    dtype: str = "float32",
    log: Callable[[str], None] = print,
) -> ShardIndex:
    """Encodes every clip of ``config.dataloader_train.dataset`` once; see the module docstring.

    Args:
        config: a loaded experiment config (its training dataset yields ``video`` items).
        output: the cache folder.
        samples_per_shard: clips per tar shard.
        device: where the tokenizer runs.
        dtype: stored latent dtype (``float32`` keeps the tokenizer's output exactly).
    """
    from cosmos_train.utils.dtypes import parse_dtype

    out = Path(output)
    spec = cache_spec(config)
    store_dtype = parse_dtype(dtype, "--dtype")
    manifest_path = out / MANIFEST_NAME
    if manifest_path.is_file():
        old = read_manifest(out)
        diff = spec_differences(
            old["spec"], spec, keys=("tokenizer", "window", "resolution", "resize", "caption")
        )
        if diff or old.get("samples_per_shard") != samples_per_shard or old.get("dtype") != dtype:
            raise CacheMismatchError(
                f"{out} holds a cache made with different settings; use another --output or "
                "delete it:\n  "
                + "\n  ".join(
                    diff
                    or [
                        f"samples_per_shard/dtype: cache has {old.get('samples_per_shard')}/"
                        f"{old.get('dtype')}, asked for {samples_per_shard}/{dtype}"
                    ]
                )
            )
    dataset = instantiate_at(config.dataloader_train.dataset, "dataloader_train.dataset")
    if callable(getattr(dataset, "set_epoch", None)):
        dataset.set_epoch(0)  # the cached windows are epoch 0's
    tokenizer = instantiate_at(config.model.config.tokenizer, "model.config.tokenizer").to(device)
    n = len(dataset)
    out.mkdir(parents=True, exist_ok=True)
    (out / "text").mkdir(exist_ok=True)
    manifest = {
        "spec": spec,
        "complete": False,
        "num_samples": n,
        "samples_per_shard": samples_per_shard,
        "dtype": dtype,
    }
    write_json_atomic(manifest_path, manifest)
    shards = []
    for number, begin in enumerate(range(0, n, samples_per_shard)):
        name = shard_name("latents", number)
        items = range(begin, min(n, begin + samples_per_shard))
        if (out / name).is_file():
            entries = read_tar_index(out / name)
            for entry in entries:  # the shapes live in each clip's json
                span = entry["members"]["json"]
                entry["latent_shape"] = json.loads(read_member(out / name, span))["latent_shape"]
            shards.append((name, entries))
            log(f"kept {out / name}")
            continue
        shapes: list[list[int]] = []

        def samples(items: range = items, shapes: list = shapes):  # bound now: used in this loop
            for i in items:
                item = dataset[i]
                pixels = item["video"].unsqueeze(0).to(device).float() / 127.5 - 1.0
                latent = tokenizer.encode(pixels)[0].to("cpu", store_dtype)
                meta = {
                    k: _jsonable(item[k].tolist() if isinstance(item[k], torch.Tensor) else item[k])
                    for k in (
                        "ai_caption",
                        "fps",
                        "num_frames",
                        "frame_start",
                        "frame_end",
                        "n_orig_video_frames",
                        "image_size",
                        "__key__",
                    )
                    if k in item
                }
                meta["sample_idx"] = int(item.get("sample_idx", i))
                meta["latent_shape"] = list(latent.shape)
                shapes.append(meta["latent_shape"])
                if "t5_text_embeddings" in item:
                    meta["text"] = _store_text(
                        out / "text", item["t5_text_embeddings"], item.get("t5_text_mask")
                    )
                yield (
                    f"{i:09d}",
                    {"latent.pt": _tensor_bytes(latent), "json": json.dumps(meta).encode()},
                )

        entries = write_shard(out / name, samples())
        for entry, shape in zip(entries, shapes):
            entry["latent_shape"] = shape
        shards.append((name, entries))
        log(f"wrote {out / name} ({len(entries)} clips)")
    ShardIndex.write(out, shards, meta={"kind": SHARD_KIND_LATENTS})
    manifest["complete"] = True
    write_json_atomic(manifest_path, manifest)
    return ShardIndex(out)


# --------------------------------------------------------------------------- reading
class LatentCacheDataset(Dataset):
    """Cached latents with the text embeddings and metadata of the clips they came from.

    Args:
        cache_dir: a folder written by ``tools/cache_latents.py``.
        num_frames: the run's clip frames (checked against the cache's window).
        video_size: the run's ``(height, width)`` (checked unless the cache uses buckets).
        aspect_ratio_buckets: the run's bucket resolution (checked against the cache's).
        text_len: tokens after padding ``L`` (checked).
        text_dim: embedding width ``D`` (checked).

    ``None`` skips a check. Items: ``latents`` float32 ``[C, T', H', W']``, ``ai_caption``, ``fps``,
    ``num_frames``, ``image_size``, ``padding_mask`` ``[1, H, W]``, ``t5_text_embeddings``
    ``[L, D]``
    and ``t5_text_mask`` ``[L]`` (when cached), ``sample_idx``, ``__key__``, ``frame_start``,
    ``frame_end``. ``shard_sizes`` and ``bucket_ids`` (latent shape per clip) serve
    ``build_dataloader(sampling="shards"|"buckets")``.
    """

    #: The loader yields latents: the model can skip (and never build) the tokenizer's encoder.
    provides_latents = True

    def __init__(
        self,
        *,
        cache_dir: str | Path,
        num_frames: int | None = None,
        video_size: Sequence[int] | None = None,
        aspect_ratio_buckets: str | None = None,
        text_len: int | None = None,
        text_dim: int | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        manifest = read_manifest(self.cache_dir)
        if not manifest.get("complete"):
            raise ValueError(
                f"the latent cache in {cache_dir} is incomplete (interrupted); finish it by "
                f"rerunning the same command: {_CACHE_CMD.format(dir=cache_dir)}"
            )
        self.spec = manifest["spec"]
        expected: dict[str, Any] = {
            "window": {"num_frames": num_frames},
            "caption": {"text_len": text_len, "text_dim": text_dim},
        }
        keys = ["window.num_frames", "caption.text_len", "caption.text_dim"]
        if aspect_ratio_buckets is not None:
            expected["resolution"] = {"aspect_ratio_buckets": aspect_ratio_buckets}
        elif video_size is not None:
            expected["resolution"] = {"video_size": [int(s) for s in video_size]}
        if "resolution" in expected:
            keys.append("resolution")
        diff = spec_differences(self.spec, expected, keys=keys)
        if diff:
            raise CacheMismatchError(
                f"the latent cache in {cache_dir} does not match this run:\n  "
                + "\n  ".join(diff)
                + f"\nRebuild it for this run: {_CACHE_CMD.format(dir='NEW_DIR')}"
            )
        self.num_frames = num_frames
        self.text_len = text_len if text_len is not None else self.spec["caption"]["text_len"]
        self.index = ShardIndex(self.cache_dir)
        self.shard_sizes = list(self.index.shard_sizes)
        self._meta: list[dict[str, Any] | None] = [None] * len(self.index)
        shapes = [e.get("latent_shape") for e in self.index.entries]
        self.bucket_ids = [str(s) for s in shapes] if all(shapes) else None

    def __len__(self) -> int:
        return len(self.index)

    def _text(self, digest: str) -> torch.Tensor:
        return torch.load(
            self.cache_dir / "text" / f"{digest}.pt", map_location="cpu", weights_only=True
        )

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_index(index, len(self), f"the latent cache in {self.cache_dir}")
        meta = json.loads(self.index.read(index, "json"))
        latent = torch.load(
            io.BytesIO(self.index.read(index, "latent.pt")), map_location="cpu", weights_only=True
        ).float()
        item: dict[str, Any] = {
            LATENTS_KEY: latent,
            "ai_caption": meta.get("ai_caption", ""),
            "fps": float(meta.get("fps", 16.0)),
            "num_frames": int(meta.get("num_frames", 1)),
            "sample_idx": int(meta["sample_idx"]),
            "__key__": meta.get("__key__", self.index.entries[index]["key"]),
            "frame_start": int(meta.get("frame_start", 0)),
            "frame_end": int(meta.get("frame_end", 0)),
        }
        if "image_size" in meta:
            size = torch.tensor(meta["image_size"], dtype=torch.int64)
            item["image_size"] = size
            item["padding_mask"] = padding_mask_from_size(size)
        if meta.get("text"):
            real = self._text(meta["text"]).float()
            emb = torch.zeros(self.text_len, real.shape[-1], dtype=torch.float32)
            emb[: real.shape[0]] = real
            mask = torch.zeros(self.text_len, dtype=torch.int64)
            mask[: real.shape[0]] = 1
            item["t5_text_embeddings"], item["t5_text_mask"] = emb, mask
        return item
