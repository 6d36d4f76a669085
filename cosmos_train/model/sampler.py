"""Deterministic samplers for rendering sample videos during training.

Both samplers take a denoising function and a noise-level schedule and keep the conditioning
frames fixed to the ground truth (the model's denoise functions already feed them in; the final
latents get them written back exactly).
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["cfg_combine", "edm_euler_sample", "rf_euler_sample"]


def cfg_combine(cond: torch.Tensor, uncond: torch.Tensor | None, guidance: float) -> torch.Tensor:
    """Classifier-free guidance as in Cosmos Video2World: ``cond + g * (cond - uncond)``.

    ``guidance == 0`` is the plain conditional prediction (``uncond`` may then be ``None``).
    """
    if guidance == 0.0 or uncond is None:
        return cond
    return cond + guidance * (cond - uncond)


@torch.no_grad()
def rf_euler_sample(
    velocity_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    noise: torch.Tensor,
    sigmas: torch.Tensor,
) -> torch.Tensor:
    """Euler integration of ``dx/dsigma = v`` from ``sigmas[0]`` (pure noise at 1) down to ``sigmas[-1]``.

    Args:
        velocity_fn: ``(x_t, sigma [B]) -> v``, already guided.
        noise: the starting latents (``x`` at ``sigma = 1``).
        sigmas: decreasing noise levels, ``num_steps + 1`` values ending at 0.
    """
    x = noise.float()
    b = x.shape[0]
    for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        v = velocity_fn(x, torch.full((b,), s, device=x.device, dtype=torch.float32))
        x = x + (s_next - s) * v
    return x


@torch.no_grad()
def edm_euler_sample(
    x0_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    noise: torch.Tensor,
    sigmas: torch.Tensor,
) -> torch.Tensor:
    """Deterministic Euler steps of the EDM probability-flow ODE ``dx/dsigma = (x - x0(x))/sigma``.

    Args:
        x0_fn: ``(x_sigma, sigma [B]) -> x0`` prediction, already guided.
        noise: unit-variance noise; the start is ``noise * sigmas[0]``.
        sigmas: decreasing noise levels; a final 0 makes the last step return the ``x0`` prediction.
    """
    x = noise.float() * float(sigmas[0])
    b = x.shape[0]
    for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        x0 = x0_fn(x, torch.full((b,), s, device=x.device, dtype=torch.float32))
        x = x + (s_next - s) * (x - x0) / s
    return x
