"""Cosmos-Predict2.5 2B post-training on GR1 humanoid-robot videos (Cosmos's
``predict2_video2world_training_2b_groot_gr1_480``, ``cosmos_predict2/experiments/base/groot.py``).

The 2B nemo recipe (``2b_nemo.py``) with Cosmos's GR1 changes: the dataset folder
``datasets/benchmark_train/gr1`` (``videos/*.mp4``, ``metas/*.txt``, text embeddings; the
``LocalVideoDataset`` layout), 93-frame windows at 432x768 (the "480" resolution's 16:9 bucket:
24x54x96 latents, 24x27x48 = 31,104 net tokens per clip with the 1x2x2 patch), a 1,000-step
warm-up, and the job name ``2b_groot_gr1_480``.

    torchrun --nproc_per_node=8 tools/train.py experiments/2b_groot_gr1_480.py \\
        checkpoint.load_path=/path/to/Cosmos-Predict2.5-2B/model.pt

For many epochs over the same clips, encode them once and train from the latent cache::

    python tools/cache_latents.py experiments/2b_groot_gr1_480.py --output datasets/gr1_latents
    torchrun --nproc_per_node=8 tools/train.py experiments/2b_groot_gr1_480.py \\
        data_train=latent_cache dataloader_train.dataset.cache_dir=datasets/gr1_latents
"""

from cosmos_train.configs.data import is_local_folder, set_clips
from lazycfg import load_rel


def make_config():
    config = load_rel("2b_nemo.py")
    config.job.name = "2b_groot_gr1_480"
    config.model.config.resolution = "480"
    set_clips(config.dataloader_train, num_frames=93, height=432, width=768)
    if is_local_folder(config.dataloader_train):
        config.dataloader_train.dataset.dataset_dir = "datasets/benchmark_train/gr1"
    config.scheduler.warm_up_steps = [1000]
    return config
