"""Datasets and the resumable, distributed-aware data loader.

- :class:`MockVideoDataset`, :class:`MockImageDataset`: Cosmos's mock keys, deterministic per index.
- :class:`SyntheticVideoDataset`: moving coloured shapes with fixed caption embeddings (CPU
  default).
- :class:`LocalVideoDataset`: the ``cosmos_nemo_assets`` folder (PyAV), optionally in
  aspect-ratio buckets (:mod:`cosmos_train.data.buckets`, Cosmos's resolution tables).
- :class:`ShardedVideoDataset`: the same clips from webdataset-style tar shards
  (``tools/make_shards.py``).
- :class:`LatentCacheDataset`: latents + text embeddings written once by
  ``tools/cache_latents.py`` (the model then skips the tokenizer's encoder).
- :class:`LocalImageDataset`: images as one-frame clips; :class:`JointDataLoader` interleaves
  image and video batches by Cosmos's ratio.
- :func:`write_mp4`: encode uint8 ``[3,T,H,W]`` videos to mp4.
- :func:`build_dataloader`: ``sampling="distributed" | "shards" | "buckets"``, ``set_epoch`` and
  exact mid-epoch ``state_dict`` resume.
"""

from cosmos_train.data.images import LocalImageDataset
from cosmos_train.data.joint import JointDataLoader
from cosmos_train.data.latent_cache import LatentCacheDataset
from cosmos_train.data.loader import build_dataloader
from cosmos_train.data.local_video import LocalVideoDataset, VideoLoadError
from cosmos_train.data.mock import MockImageDataset, MockVideoDataset
from cosmos_train.data.sharded import ShardedVideoDataset
from cosmos_train.data.synthetic import SyntheticVideoDataset
from cosmos_train.data.video_io import write_mp4

__all__ = [
    "JointDataLoader",
    "LatentCacheDataset",
    "LocalImageDataset",
    "LocalVideoDataset",
    "MockImageDataset",
    "MockVideoDataset",
    "ShardedVideoDataset",
    "SyntheticVideoDataset",
    "VideoLoadError",
    "build_dataloader",
    "write_mp4",
]
