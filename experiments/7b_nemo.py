"""The nemo recipe with Cosmos's 7B net size (4096/28/32, extra per-block position embedding,
RoPE t-extrapolation 2.0) under the Predict2.5 changes of ``2b_nemo.py``. There is no released
Predict2.5-7B checkpoint: this trains from scratch (or from a run of ours).

    torchrun --nproc_per_node=8 tools/train.py experiments/7b_nemo.py
"""

from lazycfg import load_rel


def make_config():
    config = load_rel("2b_nemo.py")
    config.job.name = "7b_cosmos_nemo_assets"
    config.checkpoint.load_path = (
        ""  # no released Predict2.5-7B net (the VAE and Reason1 still load)
    )
    net = config.model.config.net
    net.model_channels = 4096
    net.num_blocks = 28
    net.num_heads = 32
    net.extra_per_block_abs_pos_emb = True
    net.rope_t_extrapolation_ratio = 2.0
    return config
