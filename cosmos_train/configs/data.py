"""``data_train`` / ``data_val`` options: the training and validation data loaders.

Package ``dataloader_train`` / ``dataloader_val``. Every option is a
``build_dataloader(dataset=..., ...)`` node (a resumable, distributed-aware loader).

Deliberate differences from Cosmos's ``mock``: Cosmos joins an image loader and a 136-frame video
loader (136 frames cannot go through the Wan2.1 tokenizer, whose inputs have 1+4k frames, so the
Predict2.5 models assert on it). Here ``mock`` is the video loader alone with 93 frames at Cosmos's
"512" resolution (384x640); ``mock_image`` is the image loader alone.

``local_video`` reads the ``datasets/cosmos_nemo_assets`` folder layout (``videos/*.mp4``,
``metas/*.txt``, precomputed text embeddings); prepare it with ``tools/prepare_nemo_assets.py``.
``dataset.caption_key=long|medium|short`` reads Cosmos's ``captions/<stem>.json`` instead of
``metas``.

Post-training at scale (issue 16):

* ``shards``: webdataset-style tar shards of raw clips (``tools/make_shards.py``), each rank reading
  its own shards (``sampling="shards"``), deterministic per-epoch shuffling, exact resume.
* ``latent_cache``: latents + text embeddings written once by ``tools/cache_latents.py``; the
  model skips the tokenizer's encoder (and builds the tokenizer only for sample videos).
* ``joint_image_video``: images as one-frame clips interleaved with videos, Cosmos's 1:1 batch
  ratio (``dataloader_train.ratios``).
* aspect-ratio buckets on any clip source: ``dataloader_train.sampling=buckets
  dataloader_train.dataset.aspect_ratio_buckets=480`` (Cosmos's resolution tables).
"""

from __future__ import annotations

from typing import Any

from lazycfg import L, lazy_imports, register

with lazy_imports():  # references only: nothing is imported until a loader is built
    from cosmos_train.data.images import LocalImageDataset
    from cosmos_train.data.joint import JointDataLoader
    from cosmos_train.data.latent_cache import LatentCacheDataset
    from cosmos_train.data.loader import build_dataloader
    from cosmos_train.data.local_video import LocalVideoDataset
    from cosmos_train.data.mock import MockImageDataset, MockVideoDataset
    from cosmos_train.data.sharded import ShardedVideoDataset
    from cosmos_train.data.synthetic import SyntheticVideoDataset

#: Cosmos's "512" resolution at 9:16 (``VIDEO_RES_SIZE_INFO["512"]["9,16"]``).
_RES_512 = (384, 640)


def _mock_video():
    return L(build_dataloader)(
        dataset=L(MockVideoDataset)(
            num_frames=93, height=_RES_512[0], width=_RES_512[1], text_len=512, text_dim=1024
        ),
        batch_size=1,
        shuffle=False,
        num_workers=0,
    )


def _mock_image():
    return L(build_dataloader)(
        dataset=L(MockImageDataset)(height=_RES_512[0], width=_RES_512[1]),
        batch_size=2,
        shuffle=False,
        num_workers=0,
    )


def _synthetic():
    # 17 frames (1+4k) of 64x64: 5x8x8 latents through the 4x8x8 stand-in tokenizer.
    return L(build_dataloader)(
        dataset=L(SyntheticVideoDataset)(
            num_frames=17, height=64, width=64, length=256, text_len=8, text_dim=32
        ),
        batch_size=4,
        shuffle=True,
        num_workers=0,
    )


def _local_video():
    return L(build_dataloader)(
        dataset=L(LocalVideoDataset)(
            dataset_dir="datasets/cosmos_nemo_assets",
            num_frames=93,
            video_size=(704, 1280),
            caption_key=None,
        ),
        batch_size=1,
        shuffle=True,
        num_workers=4,
        pin_memory=True,
    )


def _shards():
    return L(build_dataloader)(
        dataset=L(ShardedVideoDataset)(
            shards_dir="datasets/shards", num_frames=93, video_size=(704, 1280)
        ),
        batch_size=1,
        shuffle=True,
        num_workers=4,
        pin_memory=True,
        sampling="shards",
    )


def _latent_cache():
    return L(build_dataloader)(
        dataset=L(LatentCacheDataset)(cache_dir="datasets/latent_cache"),
        batch_size=1,
        shuffle=True,
        num_workers=2,
        pin_memory=True,
        sampling="shards",
    )


def _joint_image_video():
    # Cosmos get_joint_image_video_dataloader: image_data and video_data at ratio 1:1.
    images = L(build_dataloader)(
        dataset=L(LocalImageDataset)(dataset_dir="datasets/images", image_size=(704, 1280)),
        batch_size=1,
        shuffle=True,
        num_workers=2,
    )
    return L(JointDataLoader)(
        loaders={"image_data": images, "video_data": _local_video()},
        ratios={"image_data": 1, "video_data": 1},
    )


_LOCAL = "cosmos_train.data.local_video.LocalVideoDataset"
#: Datasets sized by ``video_size=(height, width)`` (the others take ``height`` and ``width``).
_VIDEO_SIZE_DATASETS = (
    _LOCAL,
    "cosmos_train.data.sharded.ShardedVideoDataset",
    "cosmos_train.data.latent_cache.LatentCacheDataset",
)
_JOINT = "cosmos_train.data.joint.JointDataLoader"


def _video_dataset(loader: Any) -> Any:
    """The clip dataset node of a loader node (the video loader of a joint loader)."""
    if str(loader._target_) == _JOINT:
        return loader.loaders["video_data"].dataset
    return loader.dataset


def set_clips(
    loader: Any,
    *,
    num_frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    text_len: int | None = None,
    text_dim: int | None = None,
) -> Any:
    """Sets the clip shape of a ``data_*`` option's dataset, whichever option is selected.

    The folder, shard and latent-cache datasets take ``video_size=(height, width)``; the mock and
    synthetic datasets take ``height`` and ``width``; a joint loader's images get the same size.
    Experiments use this so a command-line
    ``data_train=mock`` pin keeps the recipe's clip shape and text width (a run without data).
    """
    dataset = _video_dataset(loader)
    local = str(dataset._target_) in _VIDEO_SIZE_DATASETS
    if num_frames is not None:
        dataset.num_frames = num_frames
    if height is not None and width is not None:
        if local:
            dataset.video_size = (height, width)
        else:
            dataset.height, dataset.width = height, width
    if text_len is not None:
        dataset.text_len = text_len
    if text_dim is not None:
        dataset.text_dim = text_dim
    if str(loader._target_) == _JOINT:  # the images get the same frame size and text layout
        images = loader.loaders["image_data"].dataset
        if height is not None and width is not None:
            images.image_size = (height, width)
        for name, value in (("text_len", text_len), ("text_dim", text_dim)):
            if value is not None:
                images[name] = value
    return loader


def is_local_folder(loader: Any) -> bool:
    """True when ``loader`` reads the local mp4 folder directly (``data_*=local_video``)."""
    return str(loader._target_) != _JOINT and str(loader.dataset._target_) == _LOCAL


OPTIONS = {
    "mock": _mock_video,
    "mock_video": _mock_video,
    "mock_image": _mock_image,
    "synthetic": _synthetic,
    "local_video": _local_video,
    "shards": _shards,
    "latent_cache": _latent_cache,
    "joint_image_video": _joint_image_video,
}

for _name, _make in OPTIONS.items():
    register("data_train", _name, _make(), package="dataloader_train")
    register("data_val", _name, _make(), package="dataloader_val")
