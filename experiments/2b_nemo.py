"""Cosmos-Predict2.5 2B post-training on the nemo assets (Cosmos's
``predict2_video2world_training_2b_cosmos_nemo_assets``), in plain Python.

Run (8 GPUs, FSDP2)::

    torchrun --nproc_per_node=8 tools/train.py experiments/2b_nemo.py

Weights, as Cosmos loads them, by catalogue name through the Hugging Face cache
(:mod:`cosmos_train.checkpoint.hub`; ``HF_HOME``/``HF_HUB_OFFLINE`` are honoured): the released
2B post-trained net (``checkpoint.load_path``), the Wan2.1 VAE (``model.config.tokenizer.ckpt_path``)
and Cosmos-Reason1.1-7B (``model.config.text_encoder.weights``). Any of them may be a local path
instead. A run that loads the released net stops if the VAE or text encoder would be random.

Data: ``datasets/cosmos_nemo_assets`` (93-frame windows resized to 704x1280): ``videos/<stem>.mp4``
and ``metas/<stem>.txt`` (one caption per video; or ``captions/<stem>.json`` with
``dataloader_train.dataset.caption_key=long|medium|short``). Build them with
``python tools/prepare_nemo_assets.py --videos-dir MP4_DIR --prompt "A video of sks teal robot."
--output-dir datasets/cosmos_nemo_assets``.

Text: as in Cosmos, Reason1 embeddings ``[512, 100352]`` are computed online in the training step
(``text_encoder=reason1_online``: frozen 7B decoder in bf16 on each GPU, 13.2 GiB; embeddings
of repeated captions are cached). ``text_encoder=precomputed`` reads ``reason1_embeddings/<stem>.pt``
instead, written by ``python tools/compute_text_embeddings.py --dataset-dir
datasets/cosmos_nemo_assets --subdir reason1_embeddings --encoder reason1``.

A DCP ``iter_*`` directory in ``checkpoint.load_path`` loads a run of ours; a rerun with the same
``job.name`` resumes from the job's latest checkpoint.
"""

from lazycfg import select

from cosmos_train.configs.base import make_config as base_config
from cosmos_train.configs.base import select_model
from cosmos_train.configs.callbacks import tune_callbacks
from cosmos_train.configs.data import is_local_folder, set_clips


def make_config():
    config = base_config()
    config.job.project = "cosmos_predict_v2p5"
    config.job.group = "video2world"
    config.job.name = "2b_cosmos_nemo_assets"
    config.job.wandb_mode = "online"
    config.upload_reproducible_setup = True  # Cosmos value; there is no object store to upload to

    # Model: rectified flow (Predict2.5), FSDP2 over 8 ranks.
    select_model(config, "fsdp_rectified_flow")
    select(config, "tokenizer", "wan2pt1_tokenizer")
    select(config, "text_encoder", "reason1_online")
    select(config, "callbacks", ["basic", "viz_online_sampling", "wandb", "cluster_speed"])
    model = config.model.config
    model.fsdp_shard_size = 8
    model.state_t = 24
    model.resolution = "720"
    model.shift = 5.0
    model.train_time_weight = "reweighting"
    model.conditional_frames_probs = {0: 0.5, 1: 0.25, 2: 0.25}
    model.min_num_conditional_frames = 0
    model.max_num_conditional_frames = 2
    if str(getattr(model.tokenizer, "_target_", "")).endswith("Wan21VAE"):  # not under a tokenizer=standin pin
        model.tokenizer.ckpt_path = "Wan2.1/vae"

    # Net: Cosmos's 2B size with the released Predict2.5 changes written out, so a command-line
    # net=cosmos_v1_14B keeps them (as Hydra keeps an experiment's patches over a group swap).
    select(config, "net", "cosmos_v1_2B")
    net = model.net
    net.rope_enable_fps_modulation = False
    net.rope_h_extrapolation_ratio = 3.0
    net.rope_w_extrapolation_ratio = 3.0
    net.rope_t_extrapolation_ratio = 1.0
    net.timestep_scale = 0.001
    net.use_crossattn_projection = True
    net.crossattn_proj_in_channels = 100352
    net.crossattn_emb_channels = 1024
    net.use_wan_fp32_strategy = True
    # Cosmos's sac_config.mode: keep attention outputs, recompute the rest of each block.
    config.trainer.parallelism.activation_checkpointing = "predict2_2b_720_aggressive"

    # Optimizer and schedule.
    select(config, "optimizer", "adamw")
    config.optimizer.lr = 2 ** (-14.5)
    config.optimizer.weight_decay = 0.001
    config.optimizer.betas = [0.9, 0.999]
    config.optimizer.fused = True
    config.scheduler.f_max = [0.5]
    config.scheduler.f_min = [0.2]
    config.scheduler.warm_up_steps = [2000]
    config.scheduler.cycle_lengths = [100000]
    config.scheduler.f_start = [1e-6]

    # Data: the nemo assets folder; its precomputed Reason1 embeddings only with
    # text_encoder=precomputed. (A command-line pin such as data_train=mock keeps the clip shape
    # and text width: a run that needs no files.)
    select(config, "data_train", "local_video")
    set_clips(config.dataloader_train, num_frames=93, height=704, width=1280, text_len=512, text_dim=100352)
    if is_local_folder(config.dataloader_train):
        config.dataloader_train.dataset.dataset_dir = "datasets/cosmos_nemo_assets"
        online = config.model.config.text_encoder is not None
        config.dataloader_train.dataset.text_embeddings_subdir = None if online else "reason1_embeddings"

    # Trainer, callbacks, checkpoints.
    config.trainer.max_iter = 1000
    config.trainer.logging_iter = 100
    config.trainer.run_validation = False
    config.trainer.straggler_detection.enabled = False
    config.trainer.straggler_detection.max_diff = 1.5
    # Skips the callbacks a smaller command-line choice (callbacks=[basic,wandb]) leaves out.
    tune_callbacks(
        config,
        grad_clip={"clip_norm": 0.1},
        manual_gc={"every_n": 200},
        every_n_sample_reg={"every_n": 200},
        every_n_sample_ema={"every_n": 200},
    )
    select(config, "ckpt_type", "dcp")
    config.checkpoint.load_path = "nvidia/Cosmos-Predict2.5-2B/base/post-trained"
    config.checkpoint.save_iter = 200
    config.checkpoint.load_training_state = False
    config.checkpoint.strict_resume = True
    config.model_parallel.context_parallel_size = 1
    return config
