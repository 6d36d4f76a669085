"""Samplers: exact on ideal predictors; CFG combination."""

from __future__ import annotations

import torch

from cosmos_train.model.noise import RectifiedFlowNoise, karras_sigmas
from cosmos_train.model.sampler import cfg_combine, edm_euler_sample, rf_euler_sample


def test_rf_euler_is_exact_for_the_true_straight_velocity() -> None:
    x0, noise = torch.randn(2, 3, 4, 2, 2), torch.randn(2, 3, 4, 2, 2)
    calls = []

    def velocity(x, sigma):
        calls.append(sigma.clone())
        return noise - x0

    out = rf_euler_sample(velocity, noise, RectifiedFlowNoise(shift=5.0).inference_sigmas(7))
    torch.testing.assert_close(out, x0)
    assert len(calls) == 7 and float(calls[0][0]) == 1.0


def test_edm_euler_is_exact_for_a_perfect_denoiser() -> None:
    x0, noise = torch.randn(2, 3, 4, 2, 2), torch.randn(2, 3, 4, 2, 2)
    sigmas = torch.cat([karras_sigmas(0.002, 80.0, 5), torch.zeros(1, dtype=torch.float64)])
    out = edm_euler_sample(lambda x, s: x0, noise, sigmas)
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=1e-4)


def test_cfg_combine() -> None:
    c, u = torch.tensor([2.0]), torch.tensor([1.0])
    assert torch.equal(cfg_combine(c, u, 0.0), c)
    assert torch.equal(cfg_combine(c, None, 3.0), c)
    assert torch.equal(cfg_combine(c, u, 3.0), torch.tensor([5.0]))  # c + g (c - u)
