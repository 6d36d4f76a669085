"""Cosmos-Predict2.5 2B LoRA post-training on the nemo assets (Cosmos's
``predict2_lora_training_2b_cosmos_nemo_assets``, ``cosmos_nemo_assets_lora.py``), in plain Python.

Run (8 GPUs, FSDP2), with the released pre-trained 2B as base (Cosmos's recipe)::

    torchrun --nproc_per_node=8 tools/train.py experiments/2b_nemo_lora.py

``checkpoint.load_path`` defaults to the catalogue name
``nvidia/Cosmos-Predict2.5-2B/base/pre-trained`` (resolved through the Hugging Face cache); any
local consolidated ``.pt`` or DCP run works too
(``checkpoint.load_path=/path/to/model_ema_bf16.pt``).

Everything of ``experiments/2b_nemo.py`` (net, data, optimizer, schedule, callbacks) with Cosmos's
LoRA recipe on top: PEFT adapters of rank 32 (alpha 32) on the attention q/k/v/output projections
and both MLP layers, all three conditioning modes (0, 1 or 2 conditioning frames, a third each).

``checkpoint.load_path`` is the *base*: it is loaded into the plain net before the adapters are
injected. Without it (``checkpoint.load_path=''``) the run is an error unless
``model.config.lora_allow_random_base=True``. Only the adapters
train (the base is frozen); checkpoints hold the adapters, their optimizer and EMA state and the
base's path and fingerprint. Export with ``tools/export_checkpoint.py JOB_DIR -o OUT --lora merged``
(full weights in the released layout) or ``--lora adapter`` (a PEFT adapter file).
"""

from cosmos_train.configs.callbacks import tune_callbacks
from lazycfg import load_rel


def make_config():
    config = load_rel("2b_nemo.py")
    config.job.group = "lora"
    config.job.name = "2b_cosmos_nemo_assets_lora"

    # Cosmos's LoRA recipe.
    model = config.model.config
    model.use_lora = True
    model.lora_rank = 32
    model.lora_alpha = 32
    model.lora_target_modules = "q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2"
    model.init_lora_weights = True
    model.min_num_conditional_frames = 0  # text2world
    model.max_num_conditional_frames = 2  # up to video2world
    model.conditional_frames_probs = {0: 0.333, 1: 0.333, 2: 0.334}
    model.conditional_frame_timestep = -1.0
    model.conditioning_strategy = "frame_replace"
    model.denoise_replace_gt_frames = True

    # Cosmos's optimizer, schedule and cadences for this recipe (the same values as 2b_nemo).
    config.optimizer.lr = 2 ** (-14.5)
    config.optimizer.weight_decay = 0.001
    config.scheduler.f_max = [0.5]
    config.scheduler.f_min = [0.2]
    config.scheduler.warm_up_steps = [2000]
    config.scheduler.cycle_lengths = [100000]
    config.trainer.max_iter = 1000
    config.trainer.logging_iter = 100
    config.checkpoint.save_iter = 200
    # Skips the callbacks a smaller command-line choice (callbacks=[basic,wandb]) leaves out.
    tune_callbacks(config, every_n_sample_reg={"every_n": 200}, every_n_sample_ema={"every_n": 200})
    config.model_parallel.context_parallel_size = 1
    # The base: Cosmos's LoRA recipe starts from the pre-trained (not the post-trained) 2B.
    config.checkpoint.load_path = "nvidia/Cosmos-Predict2.5-2B/base/pre-trained"
    return config
