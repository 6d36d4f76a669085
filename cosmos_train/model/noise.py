"""Diffusion noise processes: the rectified-flow table of Predict2.5 and the older EDM objective.

Everything random takes explicit per-sample ``torch.Generator`` objects (see
:func:`sample_generators`), so a sample's diffusion time and noise depend only on
``(seed, iteration, sample_idx)`` and not on how the batch was split across ranks or micro-batches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from cosmos_train.model.config import HIGH_SIGMA_STRATEGIES

__all__ = [
    "EDMNoise",
    "EDMScaling",
    "RectifiedFlowNoise",
    "RectifiedFlowScaling",
    "karras_sigmas",
    "mix_seed",
    "rf_sigma_table",
    "sample_generators",
]

_MASK64 = (1 << 64) - 1


def mix_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from integers (SplitMix64 chained over ``values``)."""
    state = 0x9E3779B97F4A7C15
    for v in values:
        state = (state ^ (int(v) & _MASK64)) & _MASK64
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        state = z ^ (z >> 31)
    return state & ((1 << 63) - 1)


def sample_generators(
    seed: int,
    iteration: int,
    sample_idx: Sequence[int] | torch.Tensor,
    stream: int,
    device: torch.device | str = "cpu",
) -> list[torch.Generator]:
    """One generator per sample, seeded from ``(seed, iteration, sample_idx[i], stream)``.

    ``stream`` separates independent uses (conditioner draws, diffusion time, noise) so that
    changing one (e.g. a dropout rate) does not shift the others.
    """
    if isinstance(sample_idx, torch.Tensor):
        sample_idx = sample_idx.reshape(-1).tolist()
    gens = []
    for idx in sample_idx:
        g = torch.Generator(device=device)
        g.manual_seed(mix_seed(seed, iteration, idx, stream))
        gens.append(g)
    return gens


def per_sample_randn(
    shape: Sequence[int],
    generators: Sequence[torch.Generator],
    device: torch.device | str,
    dtype=torch.float32,
) -> torch.Tensor:
    """``[B, *shape]`` standard normal noise, sample ``i`` drawn from ``generators[i]``."""
    return torch.stack(
        [torch.randn(tuple(shape), generator=g, device=device, dtype=dtype) for g in generators]
    )


def _uniform(g: torch.Generator) -> float:
    return float(torch.rand((), generator=g, dtype=torch.float64))


def _normal(g: torch.Generator) -> float:
    return float(torch.randn((), generator=g, dtype=torch.float64))


# ----------------------------------------------------------------------------------- rectified flow
def rf_sigma_table(
    shift: float = 5.0, num_train_timesteps: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """The shifted flow-matching table (diffusers ``FlowMatchEulerDiscreteScheduler(shift)``).

    Base ``s_i = (N - i) / N`` for ``i = 0..N-1``; ``sigma_i = shift*s_i / (1 + (shift-1)*s_i)``;
    ``timestep_i = N * sigma_i``. Returns ``(sigmas, timesteps)`` in float64, from high to low
    noise.
    """
    n = int(num_train_timesteps)
    if n < 1 or shift <= 0:
        raise ValueError(f"need num_train_timesteps >= 1 and shift > 0, got {n} and {shift}")
    base = torch.arange(n, 0, -1, dtype=torch.float64) / n
    sigmas = shift * base / (1.0 + (shift - 1.0) * base)
    return sigmas, sigmas * n


class RectifiedFlowNoise:
    """Training-time sampling and targets of the rectified-flow objective (trainer_spec §2.2).

    ``u ~ sigmoid(N(0,1))`` ("logitnormal") or ``U(0,1)``; ``i = floor(N u)``; the sample uses
    ``sigma_i`` and ``timestep_i`` from :func:`rf_sigma_table`. With ``use_high_sigma_strategy``, a
    fraction ``high_sigma_ratio`` of samples instead picks uniformly among the table entries whose
    timestep lies in ``[high_sigma_timesteps_min, high_sigma_timesteps_max]``.

    ``x_t = sigma * eps + (1 - sigma) * x0`` and the velocity target is ``eps - x0``.
    """

    def __init__(
        self,
        *,
        shift: float = 5.0,
        num_train_timesteps: int = 1000,
        train_time_distribution: str = "logitnormal",
        train_time_weight: str = "uniform",
        use_high_sigma_strategy: bool = False,
        high_sigma_ratio: float = 0.05,
        high_sigma_timesteps_min: float = 980,
        high_sigma_timesteps_max: float = 1000,
    ) -> None:
        if train_time_distribution not in ("logitnormal", "uniform"):
            raise ValueError(
                f"train_time_distribution={train_time_distribution!r}; choose 'logitnormal' or "
                "'uniform'"
            )
        # Cosmos maps "reweighting" to uniform weights in the rectified-flow model.
        if train_time_weight not in ("uniform", "reweighting"):
            raise ValueError(
                f"train_time_weight={train_time_weight!r}; choose 'uniform' or 'reweighting'"
            )
        self.shift = float(shift)
        self.num_train_timesteps = int(num_train_timesteps)
        self.train_time_distribution = train_time_distribution
        self.use_high_sigma_strategy = bool(use_high_sigma_strategy)
        self.high_sigma_ratio = float(high_sigma_ratio)
        self.sigmas, self.timesteps = rf_sigma_table(self.shift, self.num_train_timesteps)
        in_band = (self.timesteps >= high_sigma_timesteps_min) & (
            self.timesteps <= high_sigma_timesteps_max
        )
        self.high_sigma_indices = torch.nonzero(in_band).flatten()
        if self.use_high_sigma_strategy and len(self.high_sigma_indices) == 0:
            raise ValueError(
                f"no table timestep lies in [{high_sigma_timesteps_min}, "
                f"{high_sigma_timesteps_max}]; widen the band"
            )

    def sample_index(self, g: torch.Generator) -> int:
        """Table index for one sample (draw order: u, then the high-sigma coin and pick if
        enabled)."""
        n = self.num_train_timesteps
        u = (
            1.0 / (1.0 + math.exp(-_normal(g)))
            if self.train_time_distribution == "logitnormal"
            else _uniform(g)
        )
        index = min(int(math.floor(n * u)), n - 1)
        if self.use_high_sigma_strategy:
            coin, pick = _uniform(g), _uniform(g)
            if coin < self.high_sigma_ratio:
                k = min(int(pick * len(self.high_sigma_indices)), len(self.high_sigma_indices) - 1)
                index = int(self.high_sigma_indices[k])
        return index

    def sample(self, generators: Sequence[torch.Generator]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sigma [B], timestep [B])`` in float32 on the CPU, one draw per generator."""
        idx = torch.tensor([self.sample_index(g) for g in generators], dtype=torch.long)
        return self.sigmas[idx].float(), self.timesteps[idx].float()

    @staticmethod
    def interpolate(x0: torch.Tensor, eps: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """``x_t = sigma * eps + (1 - sigma) * x0`` with ``sigma`` of shape ``[B]``."""
        s = sigma.reshape(-1, *([1] * (x0.ndim - 1))).to(x0)
        return s * eps + (1.0 - s) * x0

    @staticmethod
    def velocity_target(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The velocity ``d x_t / d sigma = eps - x0``."""
        return eps - x0

    @staticmethod
    def weight(sigma: torch.Tensor) -> torch.Tensor:
        """Per-sample loss weight (uniform)."""
        return torch.ones_like(sigma)


# -----------------------------------------------------------------------------------------------
# EDM
class EDMScaling:
    """EDM preconditioning (Karras et al. 2022) with data std ``sigma_data``.

    ``c_skip = sd^2/(s^2+sd^2)``, ``c_out = s*sd/sqrt(s^2+sd^2)``, ``c_in = 1/sqrt(s^2+sd^2)``,
    ``c_noise = 0.25 ln s``; the loss weight ``(s^2+sd^2)/(s*sd)^2`` makes the effective target
    unit-variance.
    """

    def __init__(self, sigma_data: float = 0.5) -> None:
        self.sigma_data = float(sigma_data)

    def __call__(
        self, sigma: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        sd = self.sigma_data
        denom = sigma**2 + sd**2
        c_skip = sd**2 / denom
        c_out = sigma * sd / denom.sqrt()
        c_in = 1.0 / denom.sqrt()
        c_noise = 0.25 * sigma.log()
        return c_skip, c_out, c_in, c_noise

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        sd = self.sigma_data
        return (sigma**2 + sd**2) / (sigma * sd) ** 2


class RectifiedFlowScaling:
    """Rectified flow written in EDM form (Cosmos ``RectifiedFlowScaling``): ``t = s/(s+1)``.

    ``c_skip = 1-t``, ``c_out = -t``, ``c_in = 1-t``, ``c_noise = t``; loss weight ``(1+s)^2/s^2``.
    """

    def __init__(self, sigma_data: float = 1.0) -> None:
        self.sigma_data = float(sigma_data)

    def __call__(
        self, sigma: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        t = sigma / (sigma + 1.0)
        return 1.0 - t, -t, 1.0 - t, t

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        return (1.0 + sigma) ** 2 / sigma**2


def karras_sigmas(
    sigma_min: float, sigma_max: float, num_steps: int, rho: float = 7.0
) -> torch.Tensor:
    """``num_steps`` Karras sigmas from ``sigma_max`` down to ``sigma_min`` (float64)."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if num_steps == 1:
        return torch.tensor([sigma_max], dtype=torch.float64)
    ramp = torch.linspace(0.0, 1.0, num_steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    return (hi + ramp * (lo - hi)) ** rho


class EDMNoise:
    """Training sigma of the EDM objective with Cosmos's video adjustments (trainer_spec §2.3).

    ``sigma = exp(N(p_mean, p_std))``, times ``sqrt(state_t)`` for videos when
    ``adjust_video_noise``; then, for videos only, the ``high_sigma_strategy``:

    - ``uniform80_2000``: with prob ``high_sigma_ratio`` sigma ~ U(80, 2000);
    - ``loguniform200_100000``: with prob ``high_sigma_ratio`` log sigma ~ U(ln 200, ln 1e5);
    - ``shift24``: ``t ~ U(0,1)`` shifted by 24, ``sigma = t/(1-t)``, then as ``uniform80_2000``;
    - ``balanced_two_heads_v1``: as ``loguniform200_100000``, then with prob ``low_sigma_ratio``
      sigma ~ U(1e-5, 2 + 1e-5);
    - ``hardcoded_20steps``: one of ``[1e5] + karras(sigma_min, sigma_max, 20)``;
    - ``none``.
    """

    def __init__(
        self,
        *,
        p_mean: float = 0.0,
        p_std: float = 1.0,
        sigma_min: float = 0.0002,
        sigma_max: float = 80.0,
        adjust_video_noise: bool = True,
        high_sigma_strategy: str = "uniform80_2000",
        high_sigma_ratio: float = 0.05,
        low_sigma_ratio: float = 0.05,
    ) -> None:
        self.p_mean, self.p_std = float(p_mean), float(p_std)
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self.adjust_video_noise = bool(adjust_video_noise)
        self.high_sigma_strategy = str(high_sigma_strategy).lower()
        self.high_sigma_ratio = float(high_sigma_ratio)
        self.low_sigma_ratio = float(low_sigma_ratio)
        if self.high_sigma_strategy not in HIGH_SIGMA_STRATEGIES:
            raise ValueError(
                f"high_sigma_strategy={high_sigma_strategy!r}; choose one of "
                f"{list(HIGH_SIGMA_STRATEGIES)}"
            )
        self._hardcoded = torch.cat(
            [
                torch.tensor([1e5], dtype=torch.float64),
                karras_sigmas(self.sigma_min, self.sigma_max, 20),
            ]
        )

    def sample_sigma(self, g: torch.Generator, *, state_t: int, is_video: bool) -> float:
        """One training sigma (fixed draw order: base normal, then the strategy's uniforms)."""
        sigma = math.exp(self.p_mean + self.p_std * _normal(g))
        if is_video and self.adjust_video_noise:
            sigma *= math.sqrt(state_t)
        if not is_video:
            return sigma
        strategy, ratio = self.high_sigma_strategy, self.high_sigma_ratio
        if strategy == "uniform80_2000":
            coin, u = _uniform(g), _uniform(g)
            sigma = 80.0 + 1920.0 * u if coin < ratio else sigma
        elif strategy == "loguniform200_100000" or strategy == "balanced_two_heads_v1":
            coin, u = _uniform(g), _uniform(g)
            if coin < ratio:
                sigma = math.exp(math.log(200.0) + u * (math.log(1e5) - math.log(200.0)))
            if strategy == "balanced_two_heads_v1":
                coin, u = _uniform(g), _uniform(g)
                sigma = 2.0 * u + 1e-5 if coin < self.low_sigma_ratio else sigma
        elif strategy == "shift24":
            t = _uniform(g)
            t = 24.0 * t / (24.0 * t + 1.0 - t)
            sigma = t / max(1.0 - t, 1e-12)
            coin, u = _uniform(g), _uniform(g)
            sigma = 80.0 + 1920.0 * u if coin < ratio else sigma
        elif strategy == "hardcoded_20steps":
            k = min(int(_uniform(g) * len(self._hardcoded)), len(self._hardcoded) - 1)
            sigma = float(self._hardcoded[k])
        return sigma

    def sample(
        self, generators: Sequence[torch.Generator], *, state_t: int, is_video: bool
    ) -> torch.Tensor:
        """``sigma [B]`` float32 on the CPU."""
        return torch.tensor(
            [self.sample_sigma(g, state_t=state_t, is_video=is_video) for g in generators]
        )
