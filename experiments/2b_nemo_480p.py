"""The 2B nemo recipe on ONE GPU at 480p (93 frames at 480x832: 24x30x52 = 37,440 tokens).

Differences from ``2b_nemo.py``: no sharding (``fsdp_shard_size=1`` on one rank), selective
activation checkpointing that keeps attention and non-square matmul outputs (``selective_mlp``)
with per-block ``torch.compile`` -- the fastest setting that fits an 80 GB H100 at 480p in the
net benchmarks (docs/gpu_runs/) -- and 480p windows.

    python tools/train.py experiments/2b_nemo_480p.py checkpoint.load_path=/path/to/model.pt
"""

from cosmos_train.configs.data import set_clips
from lazycfg import load_rel


def make_config():
    config = load_rel("2b_nemo.py")
    config.job.name = "2b_cosmos_nemo_assets_480p"
    config.model.config.fsdp_shard_size = 1
    config.model.config.resolution = "480"
    set_clips(config.dataloader_train, height=480, width=832)
    config.trainer.parallelism.activation_checkpointing = "selective_mlp"
    config.trainer.parallelism.compile_blocks = True
    return config
