"""Typed model configs with Cosmos's field names, so Cosmos override paths keep working.

``model.config.net.*``, ``model.config.ema.*``, ``model.config.tokenizer``,
``model.config.conditioner``, ``model.config.state_t``, ``model.config.shift`` (rectified flow
only), ``model.config.conditional_frames_probs`` and the LoRA fields (``use_lora``,
``lora_rank``, ``lora_alpha``, ``lora_target_modules``, ``init_lora_weights``) mean what they mean
in Cosmos Predict2.5 (``text2world_model*.py`` / ``video2world_model*.py``).

``net``, ``tokenizer`` and ``conditioner`` hold lazy nodes (``L(MiniTrainDiT)(...)``) or
zero-argument
factories; the model builds them itself. The EDM and rectified-flow configs are separate classes:
``model.config.shift`` on an EDM config is a typed error, as in Cosmos. Every class is a
``lazycfg.configclass``: assignments are type-checked and a misspelt field is an error with a
suggestion, in Python as on the command line.
"""

from __future__ import annotations

from typing import Any

import attrs

from lazycfg import configclass

__all__ = [
    "CONDITIONING_STRATEGIES",
    "EDMSDEConfig",
    "EMAConfig",
    "HIGH_SIGMA_STRATEGIES",
    "Video2WorldConfig",
    "Video2WorldRectifiedFlowConfig",
]

#: EDM high-sigma strategies (Cosmos ``HighSigmaStrategy`` values).
HIGH_SIGMA_STRATEGIES = (
    "none",
    "uniform80_2000",
    "loguniform200_100000",
    "shift24",
    "balanced_two_heads_v1",
    "hardcoded_20steps",
)
CONDITIONING_STRATEGIES = ("frame_replace",)
PRECISIONS = ("float32", "float16", "bfloat16")
SCALINGS = ("edm", "rectified_flow")
TRAIN_TIME_DISTRIBUTIONS = ("logitnormal", "uniform")
TRAIN_TIME_WEIGHTS = ("uniform", "reweighting")


def _one_of(allowed: tuple[str, ...]):
    """attrs validator with a message that lists the valid values."""

    def check(inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in allowed:
            raise ValueError(
                f"model.config.{attribute.name}={value!r} is not valid; choose one of "
                f"{list(allowed)}"
            )

    return check


def _positive(inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value <= 0:
        raise ValueError(f"model.config.{attribute.name} must be > 0, got {value}")


def _probs(inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not value:
        raise ValueError(
            f"model.config.{attribute.name} must be a non-empty {{frames: probability}} dict or "
            "None"
        )
    bad = {k: v for k, v in value.items() if int(k) != k or k < 0 or v < 0}
    if bad:
        raise ValueError(
            f"model.config.{attribute.name}: frame counts must be ints >= 0 and probabilities >= "
            f"0, got {bad}"
        )
    if sum(value.values()) <= 0:
        raise ValueError(f"model.config.{attribute.name}: probabilities sum to 0")


@configclass
class EMAConfig:
    """Power EMA of the net (Cosmos ``text2world_model.EMAConfig``).

    Args:
        enabled: keep an fp32 ``net_ema`` and update it after every optimizer step.
        rate: the power EMA's ``s`` (relative std of the averaging profile).
        iteration_shift: added to the iteration before computing the decay.
    """

    enabled: bool = True
    rate: float = 0.1
    iteration_shift: int = 0


@configclass
class EDMSDEConfig:
    """Training-noise distribution of the EDM objective (Cosmos ``EDMSDE``): ``log sigma ~
    N(p_mean, p_std)``."""

    p_mean: float = 0.0
    p_std: float = 1.0
    sigma_max: float = 80.0
    sigma_min: float = 0.0002


@configclass
class _CommonModelConfig:
    """Fields shared by the EDM and rectified-flow Video2World configs."""

    tokenizer: Any = None
    conditioner: Any = None
    net: Any = None
    #: Online caption encoder (``text_encoder`` group); ``None``: the dataset supplies embeddings.
    text_encoder: Any = None
    ema: EMAConfig = attrs.field(factory=EMAConfig)

    fsdp_shard_size: int = 1
    precision: str = attrs.field(default="bfloat16", validator=_one_of(PRECISIONS))
    input_data_key: str = "video"
    input_image_key: str = "images"
    input_caption_key: str = "ai_caption"

    state_ch: int = 16
    state_t: int = 8
    resolution: str = "512"

    min_num_conditional_frames: int = 1
    max_num_conditional_frames: int = 2
    conditional_frames_probs: dict[int, float] | None = attrs.field(default=None, validator=_probs)
    conditioning_strategy: str = attrs.field(
        default="frame_replace", validator=_one_of(CONDITIONING_STRATEGIES)
    )
    denoise_replace_gt_frames: bool = True

    # LoRA post-training (Cosmos's fields; cosmos_train.model.lora): adapters on a loaded base.
    use_lora: bool = False
    lora_rank: int = attrs.field(default=32, validator=_positive)
    lora_alpha: int = attrs.field(default=32, validator=_positive)
    lora_target_modules: str = "q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2"
    init_lora_weights: bool = True
    #: Ours: allow adapters on a net whose base weights were never loaded (logged loudly).
    lora_allow_random_base: bool = False

    def __attrs_post_init__(self) -> None:
        if (
            self.min_num_conditional_frames < 0
            or self.max_num_conditional_frames < self.min_num_conditional_frames
        ):
            raise ValueError(
                "model.config needs 0 <= min_num_conditional_frames <= max_num_conditional_frames, "
                f"got {self.min_num_conditional_frames} and {self.max_num_conditional_frames}"
            )


@configclass
class Video2WorldConfig(_CommonModelConfig):
    """The EDM Video2World objective (Cosmos ``Video2WorldConfig``)."""

    sde: EDMSDEConfig = attrs.field(factory=EDMSDEConfig)
    sigma_data: float = 0.5
    scaling: str = attrs.field(default="edm", validator=_one_of(SCALINGS))
    loss_scale: float = 10.0
    adjust_video_noise: bool = True
    high_sigma_strategy: str = attrs.field(
        default="uniform80_2000", validator=_one_of(HIGH_SIGMA_STRATEGIES)
    )
    high_sigma_ratio: float = 0.05
    low_sigma_ratio: float = 0.05
    sigma_conditional: float = 0.0001


@configclass
class Video2WorldRectifiedFlowConfig(_CommonModelConfig):
    """The rectified-flow Video2World objective of Predict2.5 (Cosmos
    ``Video2WorldModelRectifiedFlowConfig``)."""

    state_t: int = 24
    shift: float = 5.0
    num_train_timesteps: int = 1000
    train_time_distribution: str = attrs.field(
        default="logitnormal", validator=_one_of(TRAIN_TIME_DISTRIBUTIONS)
    )
    train_time_weight: str = attrs.field(default="uniform", validator=_one_of(TRAIN_TIME_WEIGHTS))
    use_high_sigma_strategy: bool = False
    high_sigma_ratio: float = 0.05
    high_sigma_timesteps_min: int = 980
    high_sigma_timesteps_max: int = 1000
    conditional_frame_timestep: float = -1.0
    #: Sample with Cosmos's Karras schedule (sigma 200 -> 0.01, rho 7) instead of the shift schedule
    #: (Cosmos's field name, spelling included; True for the post-trained 2B release).
    use_kerras_sigma_at_inference: bool = False
