"""Datasets and the resumable, distributed-aware data loader.

- :class:`MockVideoDataset`, :class:`MockImageDataset`: Cosmos's mock keys, deterministic per index.
- :class:`SyntheticVideoDataset`: moving coloured shapes with fixed caption embeddings (CPU default).
- :class:`LocalVideoDataset` (``cosmos_train.data.local_video``): the ``cosmos_nemo_assets`` folder.
- :func:`build_dataloader`: sampler with ``set_epoch`` and exact mid-epoch ``state_dict`` resume.
"""

from cosmos_train.data.loader import build_dataloader
from cosmos_train.data.mock import MockImageDataset, MockVideoDataset
from cosmos_train.data.synthetic import SyntheticVideoDataset

__all__ = ["MockVideoDataset", "MockImageDataset", "SyntheticVideoDataset", "build_dataloader"]
