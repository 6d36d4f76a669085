"""Noise processes: RF sigma table and targets, EDM preconditioning identities, seeded draws."""

from __future__ import annotations

import math

import pytest
import torch

from cosmos_train.model.noise import (
    EDMNoise,
    EDMScaling,
    RectifiedFlowNoise,
    RectifiedFlowScaling,
    karras_sigmas,
    mix_seed,
    rf_sigma_table,
    sample_generators,
)


@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0], ids=["shift1", "shift3", "shift5"])
def test_rf_sigma_table_is_shifted_base(shift: float) -> None:
    sigmas, timesteps = rf_sigma_table(shift, 1000)
    base = (1000 - torch.arange(1000, dtype=torch.float64)) / 1000
    torch.testing.assert_close(sigmas, shift * base / (1 + (shift - 1) * base))
    torch.testing.assert_close(timesteps, 1000 * sigmas)
    assert sigmas[0] == 1.0 and bool((sigmas[1:] < sigmas[:-1]).all())


def test_rf_sigma_table_shift5_values() -> None:
    sigmas, timesteps = rf_sigma_table(5.0)
    for i in (0, 1, 500, 999):
        s = (1000 - i) / 1000
        assert float(sigmas[i]) == pytest.approx(5 * s / (1 + 4 * s), rel=1e-12)
    assert float(timesteps[500]) == pytest.approx(1000 * 2.5 / 3.0)


def test_rf_interpolation_and_velocity_target() -> None:
    x0, eps = torch.randn(3, 2, 4, 2, 2), torch.randn(3, 2, 4, 2, 2)
    sigma = torch.tensor([0.0, 0.25, 1.0])
    xt = RectifiedFlowNoise.interpolate(x0, eps, sigma)
    torch.testing.assert_close(xt[0], x0[0])
    torch.testing.assert_close(xt[1], 0.25 * eps[1] + 0.75 * x0[1])
    torch.testing.assert_close(xt[2], eps[2])
    v = RectifiedFlowNoise.velocity_target(x0, eps)
    # The target is the derivative of x_t along sigma.
    torch.testing.assert_close(RectifiedFlowNoise.interpolate(x0, eps, sigma + 0.5) - xt, 0.5 * v)


def test_rf_time_sampling_uses_table_and_is_seeded() -> None:
    noise = RectifiedFlowNoise(shift=5.0)
    gens = sample_generators(0, 7, range(2000), stream=2)
    sigma, timestep = noise.sample(gens)
    table = set(noise.sigmas.float().tolist())
    assert set(sigma.tolist()) <= table
    torch.testing.assert_close(timestep, 1000 * sigma)
    again, _ = noise.sample(sample_generators(0, 7, range(2000), stream=2))
    assert torch.equal(sigma, again)
    # logit-normal u has median 0.5, i.e. the median base sigma is 0.5 and the shifted one 5/6.
    assert float(sigma.median()) == pytest.approx(5 * 0.5 / (1 + 4 * 0.5), abs=0.03)


def test_rf_high_sigma_strategy_frequency() -> None:
    noise = RectifiedFlowNoise(use_high_sigma_strategy=True, high_sigma_ratio=0.5)
    _, timestep = noise.sample(sample_generators(1, 0, range(4000), stream=2))
    frac_high = float((timestep >= 980).float().mean())
    base = RectifiedFlowNoise()
    _, base_t = base.sample(sample_generators(1, 0, range(4000), stream=2))
    base_high = float((base_t >= 980).float().mean())
    assert frac_high == pytest.approx(0.5 + 0.5 * base_high, abs=0.03)


def test_rf_bad_options() -> None:
    with pytest.raises(ValueError, match="train_time_distribution"):
        RectifiedFlowNoise(train_time_distribution="gaussian")
    with pytest.raises(ValueError, match="train_time_weight"):
        RectifiedFlowNoise(train_time_weight="snr")


@pytest.mark.parametrize("sigma", [1e-3, 0.1, 0.5, 2.0, 80.0], ids=lambda s: f"sigma={s}")
def test_edm_preconditioning_identities(sigma: float) -> None:
    sd = 0.5
    s = torch.tensor(sigma, dtype=torch.float64)
    c_skip, c_out, c_in, c_noise = EDMScaling(sd)(s)
    assert float(c_in**2 * (s**2 + sd**2)) == pytest.approx(1.0)  # unit-variance net input
    assert float(c_skip) == pytest.approx(sd**2 / (sigma**2 + sd**2))
    assert float(c_out**2) == pytest.approx(sigma**2 * sd**2 / (sigma**2 + sd**2))
    assert float(c_noise) == pytest.approx(0.25 * math.log(sigma))
    # Unit-variance effective target: Var[(x0 - c_skip x_t)/c_out] = 1 for Var[x0] = sd^2.
    assert float((1 - c_skip) ** 2 * sd**2 + c_skip**2 * s**2) / float(c_out**2) == pytest.approx(
        1.0
    )
    # The loss weight is 1 / c_out^2, so weighted x0-error equals the F-space error.
    assert float(EDMScaling(sd).loss_weight(s)) == pytest.approx(1.0 / float(c_out**2))


def test_edm_ideal_net_recovers_x0() -> None:
    scaling = EDMScaling(0.5)
    x0, eps = torch.randn(4, 8, dtype=torch.float64), torch.randn(4, 8, dtype=torch.float64)
    sigma = torch.tensor([0.01, 0.3, 3.0, 60.0], dtype=torch.float64).view(4, 1)
    xt = x0 + sigma * eps
    c_skip, c_out, _, _ = scaling(sigma)
    f_ideal = (x0 - c_skip * xt) / c_out
    torch.testing.assert_close(c_skip * xt + c_out * f_ideal, x0)


def test_rectified_flow_scaling_in_edm_form() -> None:
    s = torch.tensor([0.5, 1.0, 4.0], dtype=torch.float64)
    c_skip, c_out, c_in, c_noise = RectifiedFlowScaling()(s)
    t = s / (s + 1)
    torch.testing.assert_close(c_noise, t)
    torch.testing.assert_close(c_skip, 1 - t)
    torch.testing.assert_close(c_in, 1 - t)
    torch.testing.assert_close(c_out, -t)
    torch.testing.assert_close(RectifiedFlowScaling().loss_weight(s), (1 + s) ** 2 / s**2)


def test_edm_sigma_distribution_and_video_adjustment() -> None:
    noise = EDMNoise(p_mean=0.0, p_std=1.0, high_sigma_strategy="none")
    gens = lambda: sample_generators(3, 0, range(4000), stream=2)  # noqa: E731
    img = noise.sample(gens(), state_t=1, is_video=False)
    vid = noise.sample(gens(), state_t=16, is_video=True)
    torch.testing.assert_close(vid, img * 4.0)  # sqrt(state_t) with the same draws
    assert float(img.log().mean()) == pytest.approx(0.0, abs=0.05)
    assert float(img.log().std()) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    "strategy, lo, hi, expected",
    [
        ("uniform80_2000", 80.0, 2000.0, 0.3),
        ("loguniform200_100000", 200.0, 1e5, 0.3),
        # shift24's base sigma = 24u/(1-u) already lies in [80, 2000] for u in [80/104, 2000/2024].
        ("shift24", 80.0, 2000.0, 0.3 + 0.7 * (2000 / 2024 - 80 / 104)),
    ],
    ids=["uniform80_2000", "loguniform200_100000", "shift24"],
)
def test_edm_high_sigma_strategies(strategy: str, lo: float, hi: float, expected: float) -> None:
    noise = EDMNoise(high_sigma_strategy=strategy, high_sigma_ratio=0.3, adjust_video_noise=False)
    sig = noise.sample(sample_generators(5, 0, range(3000), stream=2), state_t=8, is_video=True)
    in_band = ((sig >= lo) & (sig <= hi)).float().mean()
    assert float(in_band) == pytest.approx(expected, abs=0.04)
    # Images never get the high-sigma treatment.
    img = noise.sample(sample_generators(5, 0, range(3000), stream=2), state_t=1, is_video=False)
    assert float(((img >= lo) & (img <= hi)).float().mean()) < 0.01


def test_edm_hardcoded_20steps_picks_from_table() -> None:
    noise = EDMNoise(high_sigma_strategy="hardcoded_20steps")
    sig = noise.sample(sample_generators(0, 0, range(500), stream=2), state_t=8, is_video=True)
    table = [1e5] + karras_sigmas(2e-4, 80.0, 20).tolist()
    assert all(min(abs(s - t) / t for t in table) < 1e-5 for s in sig.tolist())


def test_karras_sigmas_endpoints() -> None:
    s = karras_sigmas(0.002, 80.0, 10)
    assert float(s[0]) == pytest.approx(80.0) and float(s[-1]) == pytest.approx(0.002)
    assert bool((s[1:] < s[:-1]).all())


def test_seed_mixing_separates_inputs() -> None:
    seeds = {
        mix_seed(0, it, idx, stream) for it in range(4) for idx in range(8) for stream in range(3)
    }
    assert len(seeds) == 4 * 8 * 3
    assert mix_seed(1, 2, 3) == mix_seed(1, 2, 3) and 0 <= mix_seed(-1, -1) < 2**63
