"""Samplers: Cosmos Predict2.5's rectified-flow sampling loop, and the EDM Euler sampler.

Rectified flow (``reference/unipc/README.md`` holds the facts, with Cosmos file:line references):

- :func:`flow_schedule`: Cosmos's shift schedule (``linspace(float32(0.999), 0, N+1)[:-1]``,
  then shifted) or its Karras schedule (sigma 200 -> 0.01, rho 7, ``N+1`` model steps), with
  ``timesteps = int64(sigma * 1000)`` (truncated) and float32 sigmas ending in 0;
- :func:`make_flow_solver`: flow UniPC (order 2, bh2, data prediction), which is diffusers'
  ``UniPCMultistepScheduler`` configured as the README shows (bitwise equal to Cosmos's
  ``FlowUniPCMultistepScheduler``), or first-order Euler on the same schedule;
- :func:`cosmos_noise`: the initial noise from ``numpy.random.RandomState(seed)`` (any device);
- :func:`sample_flow`: the loop. Before every net call the conditioning latent frames are put into
  the net input (``gt*m + x*(1-m)``), the conditioning frames may get their own timestep (0.1 for
  the post-trained 2B), the velocity on those frames is replaced by ``noise - gt``, and guidance
  is ``v_cond + g (v_cond - v_uncond)`` with the negative prompt as the unconditional branch.
  The solver state itself is never overwritten, as in Cosmos.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

log = logging.getLogger(__name__)

__all__ = [
    "COSMOS_SIGMA_MAX",
    "SOLVERS",
    "EulerFlowSolver",
    "FlowSolver",
    "SamplerSettings",
    "UniPCFlowSolver",
    "cfg_combine",
    "cosmos_noise",
    "default_solver",
    "edm_euler_sample",
    "flow_schedule",
    "make_flow_solver",
    "sample_flow",
]

#: Cosmos builds its scheduler with ``sigma_max = 1 - 0.001`` in float32 (SOLVER:100-102).
COSMOS_SIGMA_MAX = float(np.float32(0.999))
#: Karras schedule of the post-trained 2B (SOLVER:170-179): sigma_max, sigma_min, rho.
KARRAS_SIGMA_MAX, KARRAS_SIGMA_MIN, KARRAS_RHO = 200.0, 0.01, 7.0
NUM_TRAIN_TIMESTEPS = 1000
SOLVERS = ("unipc", "euler")


@dataclasses.dataclass(frozen=True)
class SamplerSettings:
    """How one video is sampled (the defaults are Cosmos's inference defaults).

    Attributes:
        solver: ``"unipc"`` (Cosmos) or ``"euler"``.
        num_steps: the schedule's ``N`` (Karras runs ``N + 1`` model steps, as in Cosmos).
        shift: the shift of the shift schedule (ignored by Karras).
        karras: use the Karras schedule (Cosmos ``use_kerras_sigma_at_inference``).
        guidance: ``g`` in ``v_cond + g (v_cond - v_uncond)``; 0 runs the conditional branch only.
        conditional_frame_timestep: timestep (0..1000 units) of the conditioning frames; < 0 gives
            them the step's timestep.
        seed: seed of the numpy noise.
    """

    solver: str = "unipc"
    num_steps: int = 35
    shift: float = 5.0
    karras: bool = False
    guidance: float = 7.0
    conditional_frame_timestep: float = -1.0
    seed: int = 1

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ValueError(f"solver={self.solver!r}; choose one of {list(SOLVERS)}")
        if int(self.num_steps) < 1:
            raise ValueError(f"num_steps must be >= 1, got {self.num_steps}")
        if not self.karras and self.shift <= 0:
            raise ValueError(f"shift must be > 0, got {self.shift}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------ schedule
def _flow_sigmas(num_steps: int, shift: float, karras: bool) -> np.ndarray:
    """The float64 model-step sigmas of Cosmos's ``set_timesteps`` (final 0 not included)."""
    n = int(num_steps)
    if karras:
        ramp = np.arange(n + 1) / n
        lo, hi = KARRAS_SIGMA_MIN ** (1 / KARRAS_RHO), KARRAS_SIGMA_MAX ** (1 / KARRAS_RHO)
        s = (hi + ramp * (lo - hi)) ** KARRAS_RHO
        return s / (1 + s)
    s = np.linspace(COSMOS_SIGMA_MAX, 0.0, n + 1).copy()[:-1]
    return shift * s / (1 + (shift - 1) * s)


def flow_schedule(
    num_steps: int, *, shift: float = 5.0, karras: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosmos's inference schedule: ``(sigmas float32 [n+1] ending in 0, timesteps int64 [n])``.

    ``n`` is ``num_steps`` for the shift schedule and ``num_steps + 1`` for Karras.
    """
    s = _flow_sigmas(num_steps, shift, karras)
    timesteps = torch.from_numpy(s * NUM_TRAIN_TIMESTEPS).to(torch.int64)  # truncates, as Cosmos
    sigmas = torch.from_numpy(np.concatenate([s, [0.0]]).astype(np.float32))
    return sigmas, timesteps


# ------------------------------------------------------------------------------------ solvers
class FlowSolver(Protocol):
    """One trajectory's solver: ``step(v, i, x)`` goes from ``sigmas[i]`` to ``sigmas[i+1]``."""

    sigmas: torch.Tensor
    timesteps: torch.Tensor

    def step(self, velocity: torch.Tensor, index: int, x: torch.Tensor) -> torch.Tensor: ...


class EulerFlowSolver:
    """First-order Euler on the flow ODE: ``x_{i+1} = x_i + (sigma_{i+1} - sigma_i) v_i``."""

    def __init__(self, sigmas: torch.Tensor, timesteps: torch.Tensor) -> None:
        self.sigmas, self.timesteps = sigmas, timesteps

    def step(self, velocity: torch.Tensor, index: int, x: torch.Tensor) -> torch.Tensor:
        dt = (self.sigmas[index + 1] - self.sigmas[index]).to(x.device)
        return x + dt * velocity


class UniPCFlowSolver:
    """Flow UniPC (order 2, bh2, predict x0) as diffusers' ``UniPCMultistepScheduler``.

    The schedule is passed as explicit sigmas with ``flow_shift=1`` (the shift is already
    applied), which the fixture shows is bitwise equal to Cosmos's own solver class. The
    scheduler's resulting sigmas and timesteps are checked against :func:`flow_schedule`, so a
    diffusers release that changes them fails loudly instead of sampling differently.
    """

    def __init__(
        self, sigmas: torch.Tensor, timesteps: torch.Tensor, model_sigmas: np.ndarray
    ) -> None:
        try:
            from diffusers import UniPCMultistepScheduler
        except ImportError as e:  # pragma: no cover - the dev extra installs it
            raise ImportError(
                "the UniPC solver needs diffusers: pip install -e '.[infer]' "
                "(or use --solver euler)"
            ) from e
        sched = UniPCMultistepScheduler(
            num_train_timesteps=NUM_TRAIN_TIMESTEPS,
            solver_order=2,
            prediction_type="flow_prediction",
            predict_x0=True,
            solver_type="bh2",
            lower_order_final=True,
            use_flow_sigmas=True,
            flow_shift=1.0,
            final_sigmas_type="zero",
        )
        sched.set_timesteps(sigmas=np.asarray(model_sigmas, dtype=np.float64))
        if not (
            torch.equal(sched.sigmas, sigmas) and torch.equal(sched.timesteps.cpu(), timesteps)
        ):
            import diffusers

            raise RuntimeError(
                f"diffusers {diffusers.__version__} UniPCMultistepScheduler no longer reproduces "
                "Cosmos's "
                "schedule; pin diffusers==0.42.1 (the version the parity fixture was checked with)"
            )
        self._sched, self.sigmas, self.timesteps = sched, sigmas, timesteps

    def step(self, velocity: torch.Tensor, index: int, x: torch.Tensor) -> torch.Tensor:
        return self._sched.step(velocity, self.timesteps[index], x, return_dict=False)[0]


def default_solver() -> str:
    """``"unipc"`` (Cosmos's solver) when diffusers is installed, else ``"euler"`` (warns)."""
    import importlib.util

    if importlib.util.find_spec("diffusers") is not None:
        return "unipc"
    if not _WARNED_NO_DIFFUSERS:
        _WARNED_NO_DIFFUSERS.append(True)
        log.warning(
            "diffusers is not installed: sampling with Euler instead of Cosmos's UniPC "
            "(pip install -e '.[infer]' for UniPC)"
        )
    return "euler"


_WARNED_NO_DIFFUSERS: list[bool] = []


def make_flow_solver(settings: SamplerSettings) -> FlowSolver:
    """A fresh solver (it carries per-trajectory state) for ``settings``' schedule."""
    sigmas, timesteps = flow_schedule(
        settings.num_steps, shift=settings.shift, karras=settings.karras
    )
    if settings.solver == "euler":
        return EulerFlowSolver(sigmas, timesteps)
    return UniPCFlowSolver(
        sigmas, timesteps, _flow_sigmas(settings.num_steps, settings.shift, settings.karras)
    )


# ------------------------------------------------------------------------------------ loop
def cosmos_noise(
    shape: tuple[int, ...], seed: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Cosmos's ``arch_invariant_rand``: float32 normal noise from ``numpy.random.RandomState``."""
    values = np.random.RandomState(int(seed)).standard_normal(tuple(shape)).astype(np.float32)
    return torch.from_numpy(values).to(device)


def cfg_combine(cond: torch.Tensor, uncond: torch.Tensor | None, guidance: float) -> torch.Tensor:
    """Classifier-free guidance as in Cosmos Video2World: ``cond + g * (cond - uncond)``.

    ``guidance == 0`` is the plain conditional prediction (``uncond`` may then be ``None``).
    """
    if guidance == 0.0 or uncond is None:
        return cond
    return cond + guidance * (cond - uncond)


#: ``net_fn(x_in, timesteps_B_T, branch) -> velocity``: the raw net on one CFG branch.
NetFn = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


def _timesteps(
    t: torch.Tensor, b: int, frame_mask_B_T: torch.Tensor | None, cond_timestep: float
) -> torch.Tensor:
    """int64 ``[B, 1]``; or float32 ``[B, T]`` with the conditioning frames at ``cond_timestep``."""
    if frame_mask_B_T is None or cond_timestep < 0:
        return t.reshape(1, 1).expand(b, 1)
    per_frame = torch.full(
        frame_mask_B_T.shape, float(t), dtype=torch.float32, device=frame_mask_B_T.device
    )
    return torch.where(frame_mask_B_T, torch.full_like(per_frame, float(cond_timestep)), per_frame)


@torch.no_grad()
def sample_flow(
    net_fn: NetFn,
    noise: torch.Tensor,
    settings: SamplerSettings,
    *,
    cond: Any,
    uncond: Any = None,
    gt: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Cosmos's rectified-flow sampling loop; returns the final solver state ``x_N`` (float32).

    Args:
        net_fn: the net on one branch, ``net_fn(x_in, timesteps_B_T, branch)``; ``branch`` is
            ``cond`` or ``uncond`` as given here.
        noise: ``[B, C, T, H, W]`` initial state (:func:`cosmos_noise`).
        settings: solver, schedule, guidance, conditioning-frame timestep.
        cond, uncond: the branches handed to ``net_fn``; ``uncond`` is needed when guidance != 0.
        gt: clean conditioning latents ``[B, C, T, H, W]``, or None (text2world).
        mask: 1 on conditioning frames, broadcastable to ``gt`` with a frame axis at dim 2
            (``[B, 1, T, H, W]`` or ``[B, 1, T, 1, 1]``).
        on_step: called as ``on_step(i, v_i, x_{i+1})`` after each step (tests, progress).
    """
    guidance = float(settings.guidance)
    if guidance != 0.0 and uncond is None:
        raise ValueError(
            "guidance != 0 needs the unconditional branch (the negative-prompt embedding)"
        )
    if (gt is None) != (mask is None):
        raise ValueError("pass gt and mask together (or neither, for text2world)")
    solver = make_flow_solver(settings)
    x = noise.float()
    b, t_frames = x.shape[0], x.shape[2]
    frame_mask_B_T = None
    if mask is not None:
        m = mask.to(x.dtype)
        frame_mask_B_T = (
            m.reshape(m.shape[0], m.shape[1], t_frames, -1)[:, 0, :, 0].expand(b, t_frames) > 0
        )
        replaced_v = (noise - gt) * m

    def branch(x_in: torch.Tensor, t: torch.Tensor, which: Any) -> torch.Tensor:
        v = net_fn(x_in, t, which).float()
        return v if mask is None else replaced_v + v * (1 - m)

    for i, t in enumerate(solver.timesteps):
        x_in = x if mask is None else gt * m + x * (1 - m)
        ts = _timesteps(t, b, frame_mask_B_T, settings.conditional_frame_timestep).to(x.device)
        v_cond = branch(x_in, ts, cond)
        v_uncond = branch(x_in, ts, uncond) if guidance != 0.0 else None
        v = cfg_combine(v_cond, v_uncond, guidance)
        x = solver.step(v, i, x)
        if on_step is not None:
            on_step(i, v, x)
    return x


# ------------------------------------------------------------------------------------ EDM
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
