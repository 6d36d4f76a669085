"""Model configs: Cosmos defaults, no shared mutable defaults, EDM vs RF fields, validation."""

from __future__ import annotations

import attrs
import pytest

from cosmos_train.model.config import EMAConfig, Video2WorldConfig, Video2WorldRectifiedFlowConfig
from lazycfg import ConfigError, ConfigTypeError
from lazycfg._configclass import is_configclass


def test_cosmos_defaults() -> None:
    edm = Video2WorldConfig()
    assert (edm.tokenizer, edm.conditioner, edm.net) == (None, None, None)
    assert edm.ema == EMAConfig(enabled=True, rate=0.1, iteration_shift=0)
    assert (edm.precision, edm.state_ch, edm.state_t, edm.resolution) == ("bfloat16", 16, 8, "512")
    assert (
        edm.min_num_conditional_frames,
        edm.max_num_conditional_frames,
        edm.conditional_frames_probs,
    ) == (1, 2, None)
    assert (edm.sigma_data, edm.loss_scale, edm.sigma_conditional, edm.high_sigma_strategy) == (
        0.5,
        10.0,
        1e-4,
        "uniform80_2000",
    )
    assert (edm.sde.p_mean, edm.sde.p_std, edm.sde.sigma_min, edm.sde.sigma_max) == (
        0.0,
        1.0,
        0.0002,
        80.0,
    )
    rf = Video2WorldRectifiedFlowConfig()
    assert (rf.shift, rf.train_time_distribution, rf.train_time_weight, rf.state_t) == (
        5.0,
        "logitnormal",
        "uniform",
        24,
    )
    assert (
        rf.use_high_sigma_strategy,
        rf.conditional_frame_timestep,
        rf.denoise_replace_gt_frames,
    ) == (False, -1.0, True)


def test_no_shared_mutable_defaults() -> None:
    a, b = Video2WorldRectifiedFlowConfig(), Video2WorldRectifiedFlowConfig()
    a.ema.rate = 0.2
    assert b.ema.rate == 0.1
    c, d = Video2WorldConfig(), Video2WorldConfig()
    c.sde.p_mean = 1.0
    assert d.sde.p_mean == 0.0


def test_rf_only_fields_are_not_on_edm_config() -> None:
    edm_fields = {f.name for f in attrs.fields(Video2WorldConfig)}
    assert "shift" not in edm_fields and "train_time_distribution" not in edm_fields
    with pytest.raises(TypeError):
        Video2WorldConfig(shift=5.0)  # type: ignore[call-arg]
    assert "sde" not in {f.name for f in attrs.fields(Video2WorldRectifiedFlowConfig)}


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (Video2WorldConfig, dict(precision="fp8"), "precision"),
        (Video2WorldConfig, dict(high_sigma_strategy="huge"), "high_sigma_strategy"),
        (
            Video2WorldRectifiedFlowConfig,
            dict(train_time_distribution="normal"),
            "train_time_distribution",
        ),
        (
            Video2WorldRectifiedFlowConfig,
            dict(conditional_frames_probs={0: -1.0}),
            "conditional_frames_probs",
        ),
        (
            Video2WorldRectifiedFlowConfig,
            dict(min_num_conditional_frames=3),
            "min_num_conditional_frames",
        ),
    ],
    ids=["precision", "high-sigma", "time-distribution", "negative-prob", "min>max"],
)
def test_invalid_values_name_the_field(cls, kwargs, match) -> None:
    with pytest.raises((ValueError, ConfigError), match=match):
        cls(**kwargs)


@pytest.mark.parametrize(
    "cls", [Video2WorldConfig, Video2WorldRectifiedFlowConfig], ids=["edm", "rf"]
)
def test_configs_are_typed_configclasses(cls) -> None:
    """Python assignments are checked like overrides: typos, wrong types and EDM-vs-RF fields."""
    cfg = cls()
    assert is_configclass(cfg) and is_configclass(cfg.ema)
    with pytest.raises(ConfigError, match="state_t"):
        cfg.state_tt = 4
    with pytest.raises(ConfigTypeError, match="state_t"):
        cfg.state_t = "four"
    with pytest.raises(ConfigError, match="precision"):
        cfg.precision = "fp8"  # validators run on assignment too
    cfg.ema.rate = 1  # lossless int -> float, nested configs too
    assert cfg.ema.rate == 1.0 and type(cfg.ema.rate) is float


def test_shift_on_an_edm_config_is_an_error() -> None:
    """As in Cosmos: selecting the EDM model under an RF experiment fails on
    ``model.config.shift``."""
    with pytest.raises(ConfigError, match="shift"):
        Video2WorldConfig().shift = 5.0
