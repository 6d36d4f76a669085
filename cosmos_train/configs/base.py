"""``make_config()``: Cosmos's video2world base config with every default group option selected.

Registration happens once per process, when :func:`register_options` first imports the option
modules (``cosmos_train.configs.{data,optimizer,...}``). Their targets are dotted strings, so
neither registering nor loading a config imports torch.

Default choices (Cosmos's primary defaults list, in order; ``*`` = differs from Cosmos):

=============  ==============================  =================================================
group          default                         package
=============  ==============================  =================================================
data_train     mock                            dataloader_train
data_val       mock                            dataloader_val
optimizer      fusedadamw                      optimizer
scheduler      lambdalinear                    scheduler
model          ddp                             _global_ (model, trainer.distributed_parallelism)
callbacks      basic                           trainer.callbacks
net            (none; experiments select one)  model.config.net
conditioner    video_prediction_conditioner    model.config.conditioner
ema            power                           model.config.ema
tokenizer      wan2pt1_tokenizer *             model.config.tokenizer
text_encoder   precomputed *                   model.config.text_encoder
checkpoint     local *                         checkpoint
ckpt_type      dcp *                           checkpoint.type
=============  ==============================  =================================================

``*``: Cosmos's default tokenizer option is not registered (composing without an experiment
fails there); its default checkpoint option ``s3`` is a disabled object store (``local`` here);
its default ``ckpt_type`` ``dummy`` silently saves nothing (``dcp`` here; ``ckpt_type=disabled``
opts out).
``text_encoder`` is ours (Cosmos sets ``text_encoder_config`` inside the model config).
"""

from __future__ import annotations

import importlib

from cosmos_train.config import Config
from lazycfg import choices, select

__all__ = [
    "DEFAULT_CHOICES",
    "MODEL_SUBGROUPS",
    "make_config",
    "register_options",
    "select_model",
    "select_checkpoint",
]

#: Option modules, imported once (each registers its group's options into the default registry).
OPTION_MODULES = (
    "data",
    "optimizer",
    "scheduler",
    "model",
    "callbacks",
    "net",
    "conditioner",
    "ema",
    "tokenizer",
    "text_encoder",
    "checkpoint",
)

#: (group, default option) in Cosmos's defaults-list order; ``None``: nothing selected.
DEFAULT_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("data_train", "mock"),
    ("data_val", "mock"),
    ("optimizer", "fusedadamw"),
    ("scheduler", "lambdalinear"),
    ("model", "ddp"),
    ("callbacks", "basic"),
    ("net", None),
    ("conditioner", "video_prediction_conditioner"),
    ("ema", "power"),
    ("tokenizer", "wan2pt1_tokenizer"),
    ("text_encoder", "precomputed"),
    ("checkpoint", "local"),
    ("ckpt_type", "dcp"),
)

#: Groups whose package lives inside ``model`` (a model selection replaces them).
MODEL_SUBGROUPS = ("net", "conditioner", "ema", "tokenizer", "text_encoder")


def register_options() -> None:
    """Imports every option module once (registration is a side effect of the first import)."""
    for name in OPTION_MODULES:
        importlib.import_module(f"cosmos_train.configs.{name}")


def make_config() -> Config:
    """Cosmos's ``make_config()`` (video2world): base values plus the default group choices."""
    register_options()
    config = Config()
    config.job.project = "cosmos_diffusion_v2"
    config.job.group = "debug"
    config.job.name = "delete_${now:%Y-%m-%d}_${now:%H-%M-%S}"
    config.trainer.straggler_detection.enabled = False
    config.trainer.max_iter = 400_000
    config.trainer.logging_iter = 10
    config.trainer.validation_iter = 100
    config.trainer.run_validation = False
    for group, option in DEFAULT_CHOICES:
        if option is not None:
            select(config, group, option)
    return config


def select_model(config: Config, option: str) -> Config:
    """Selects ``model=option`` and re-applies the current net/conditioner/ema/tokenizer choices.

    A model option replaces ``model`` wholesale (its typed config starts with no net, tokenizer
    or conditioner); Hydra merged those groups after the model. Use this instead of
    ``select(config, "model", ...)`` in experiments so the sub-choices survive; command-line pins
    of any of these groups still win.
    """
    previous = choices(config)
    select(config, "model", option)
    for group in MODEL_SUBGROUPS:
        if previous.get(group) is not None:
            select(config, group, previous[group])
    return config


def select_checkpoint(config: Config, option: str) -> Config:
    """Selects ``checkpoint=option`` and re-applies the current ``ckpt_type`` choice (see
    ``select_model``)."""
    previous = choices(config).get("ckpt_type")
    select(config, "checkpoint", option)
    if previous is not None:
        select(config, "ckpt_type", previous)
    return config
