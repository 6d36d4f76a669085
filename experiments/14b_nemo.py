"""The nemo recipe with the 14B net (Cosmos's ``cosmos_v1_14B`` plus the Predict2.5 changes, i.e.
the released Predict2.5-14B net: 14,368,047,104 parameters). Needs FSDP over >= 8 80 GB GPUs.

    torchrun --nproc_per_node=8 tools/train.py experiments/14b_nemo.py
"""

from lazycfg import load_rel


def make_config():
    config = load_rel("2b_nemo.py")
    config.job.name = "14b_cosmos_nemo_assets"
    config.checkpoint.load_path = (
        "nvidia/Cosmos-Predict2.5-14B/base/pre-trained"  # no 14B post-trained release
    )
    # Same result as the command-line pin net=cosmos_v1_14B on 2b_nemo.py: the 14B size under
    # the experiment's Predict2.5 patches.
    net = config.model.config.net
    net.model_channels = 5120
    net.num_blocks = 36
    net.num_heads = 40
    return config
