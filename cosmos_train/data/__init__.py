"""Datasets and the resumable, distributed-aware data loader.

- :class:`MockVideoDataset`, :class:`MockImageDataset`: Cosmos's mock keys, deterministic per index.
- :class:`SyntheticVideoDataset`: moving coloured shapes with fixed caption embeddings (CPU default).
- :class:`LocalVideoDataset`: the ``cosmos_nemo_assets`` folder (PyAV).
- :func:`write_mp4`: encode uint8 ``[3,T,H,W]`` videos to mp4.
- :func:`build_dataloader`: sampler with ``set_epoch`` and exact mid-epoch ``state_dict`` resume.
"""

from cosmos_train.data.loader import build_dataloader
from cosmos_train.data.local_video import LocalVideoDataset, VideoLoadError
from cosmos_train.data.mock import MockImageDataset, MockVideoDataset
from cosmos_train.data.synthetic import SyntheticVideoDataset
from cosmos_train.data.video_io import write_mp4

__all__ = ["MockVideoDataset", "MockImageDataset", "SyntheticVideoDataset", "LocalVideoDataset",
           "VideoLoadError", "build_dataloader", "write_mp4"]
