"""Cosmos sampler parity: the 22 cases of reference/unipc, through the model's sampling path.

The toy velocity net of the fixture is wrapped with the DiT's call signature and put inside a
real ``Video2WorldModelRectifiedFlow``, so each case runs ``model.sample_latents`` (what
``tools/generate.py`` calls through ``generate_samples``): conditioner, negative prompt, frame
replacement, per-frame timesteps, CFG, the solver and the numpy noise.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cosmos_train.model.config import EMAConfig, Video2WorldRectifiedFlowConfig
from cosmos_train.model.noise import karras_sigmas
from cosmos_train.model.sampler import (
    SamplerSettings,
    cfg_combine,
    cosmos_noise,
    edm_euler_sample,
    flow_schedule,
    make_flow_solver,
    sample_flow,
)
from cosmos_train.model.video2world import Video2WorldModelRectifiedFlow
from cosmos_train.nets.presets import tiny
from cosmos_train.tokenizers.standin import PoolingTokenizer

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "unipc_cases.pt"
FX = torch.load(FIXTURE, weights_only=True)
CASES = {c["name"]: c for c in FX["cases"]}
# Tolerances of the fixture's README (section 4); sigmas and timesteps must be exact.
REPLAY_TOL = {"atol": 2e-5, "rtol": 1e-5}
E2E_TOL = {"atol": 1e-4, "rtol": 1e-5}


class ToyDiT(nn.Module):
    """The fixture's toy velocity net behind MiniTrainDiT's forward signature."""

    latent_ch = 4

    def __init__(self) -> None:
        super().__init__()
        for name, value in FX["toy_model"]["weights"].items():
            self.register_buffer(name, value.clone())

    def forward(
        self,
        x,
        timesteps_B_T,
        crossattn_emb,
        condition_video_input_mask_B_C_T_H_W=None,
        fps=None,
        padding_mask=None,
    ):
        _b, _c, t, h, w = x.shape
        mask = condition_video_input_mask_B_C_T_H_W
        s = (timesteps_B_T.float() * 0.001).reshape(1, 1, -1, 1, 1).expand(1, 1, t, h, w)
        emb = crossattn_emb.reshape(1, 8, 1, 1, 1).expand(1, 8, t, h, w)
        feat = torch.cat(
            [x, x.mean(2, keepdim=True).expand_as(x), mask, s, torch.sin(3 * s), emb], 1
        )
        hidden = torch.tanh(F.linear(feat.movedim(1, -1), self.W1, self.b1))
        return F.linear(hidden, self.W2, self.b2).movedim(-1, 1)


class LatentTokenizer(nn.Module):
    """Latents in, latents out: the fixture works in latent space."""

    latent_ch, spatial_compression_factor = 4, 1

    def encode(self, x):
        return x

    def decode(self, z):
        return z


def _toy_model(settings: dict) -> Video2WorldModelRectifiedFlow:
    cft = settings["conditional_frame_timestep"]
    config = Video2WorldRectifiedFlowConfig(
        net=ToyDiT,
        tokenizer=LatentTokenizer,
        precision="float32",
        state_ch=4,
        state_t=3,
        ema=EMAConfig(enabled=False),
        conditional_frame_timestep=-1.0 if cft is None else cft,
        use_kerras_sigma_at_inference=settings["schedule"] == "karras",
    )
    return Video2WorldModelRectifiedFlow(config).eval()


def _settings(model, settings: dict) -> SamplerSettings:
    return model.sampler_settings(
        solver="unipc",
        num_steps=settings["num_steps"],
        shift=settings["shift"],
        guidance=settings["guidance"] or 0.0,
        seed=settings["noise_seed"],
    )


@pytest.mark.parametrize("name", list(CASES))
def test_model_sampling_path_reproduces_fixture(name) -> None:
    case = CASES[name]
    st = case["settings"]
    model = _toy_model(st)
    settings = _settings(model, st)
    assert settings.karras == (st["schedule"] == "karras")
    weights = FX["toy_model"]["weights"]
    shape = tuple(st["latent_shape"])
    batch = {
        "t5_text_embeddings": weights["emb_cond"].view(1, 1, 8),
        "neg_t5_text_embeddings": weights["emb_uncond"].view(1, 1, 8),
        "num_conditional_frames": st["num_cond_frames"],
    }
    gt = case["gt"] if case["gt"] is not None else torch.zeros(shape)
    final = model.sample_latents(batch, gt, settings)
    torch.testing.assert_close(final, case["final"], **E2E_TOL)


@pytest.mark.parametrize("name", list(CASES))
def test_schedule_noise_and_every_state(name) -> None:
    """Exact sigmas, timesteps and noise; every state of the loop (sample_flow) and of a replay."""
    case = CASES[name]
    st = case["settings"]
    settings = SamplerSettings(
        num_steps=st["num_steps"],
        shift=st["shift"] or 5.0,
        karras=st["schedule"] == "karras",
        guidance=st["guidance"] or 0.0,
        seed=st["noise_seed"],
        conditional_frame_timestep=-1.0
        if st["conditional_frame_timestep"] is None
        else st["conditional_frame_timestep"],
    )
    sigmas, timesteps = flow_schedule(
        settings.num_steps, shift=settings.shift, karras=settings.karras
    )
    assert sigmas.dtype == torch.float32 and torch.equal(sigmas, case["sigmas"])
    assert timesteps.dtype == torch.int64 and torch.equal(timesteps, case["timesteps"])
    assert len(timesteps) == st["num_model_steps"]
    noise = cosmos_noise(tuple(st["latent_shape"]), settings.seed)
    assert torch.equal(noise, case["noise"])

    # Replay: the solver alone, fed the recorded guided velocities.
    solver, x = make_flow_solver(settings), case["xs"][0]
    for i, v in enumerate(case["vs"]):
        x = solver.step(v, i, x)
        torch.testing.assert_close(x, case["xs"][i + 1], **REPLAY_TOL)

    # The loop on the bare toy net: every velocity and state.
    toy, weights = ToyDiT(), FX["toy_model"]["weights"]
    mask = case["mask"] if case["mask"] is not None else torch.zeros(1, 1, *st["latent_shape"][2:])
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    sample_flow(
        lambda x_in, t, emb: toy(x_in, t, emb, mask),
        noise,
        settings,
        cond=weights["emb_cond"],
        uncond=weights["emb_uncond"],
        gt=case["gt"],
        mask=case["mask"],
        on_step=lambda i, v, x_next: seen.append((v.clone(), x_next.clone())),
    )
    assert len(seen) == len(case["vs"])
    for i, (v, x_next) in enumerate(seen):
        torch.testing.assert_close(v, case["vs"][i], **E2E_TOL)
        torch.testing.assert_close(x_next, case["xs"][i + 1], **E2E_TOL)


def test_documented_timesteps() -> None:
    """The README's examples (shift 5 and Karras, N=35)."""
    _, t = flow_schedule(35, shift=5.0)
    assert t[:5].tolist() == [999, 993, 987, 981, 974] and t[-3:].tolist() == [318, 232, 128]
    sigmas, t = flow_schedule(35, karras=True)
    assert len(t) == 36 and t[:3].tolist() == [995, 994, 993] and t[-3:].tolist() == [30, 17, 9]
    assert sigmas[-1] == 0.0


# ------------------------------------------------------------------------ the real MiniTrainDiT
@functools.cache
def _dit_model(karras: bool) -> Video2WorldModelRectifiedFlow:
    torch.manual_seed(0)
    config = Video2WorldRectifiedFlowConfig(
        net=tiny,
        tokenizer=PoolingTokenizer,
        precision="float32",
        state_t=3,
        ema=EMAConfig(enabled=False),
        conditional_frame_timestep=0.1 if karras else -1.0,
        use_kerras_sigma_at_inference=karras,
    )
    return Video2WorldModelRectifiedFlow(config).eval()


def _reference_loop(net, gt, mask, noise, emb_c, emb_u, settings, fps, padding) -> torch.Tensor:
    """Cosmos's loop written out from the README with diffusers' scheduler, on the raw net."""
    from diffusers import UniPCMultistepScheduler

    n = settings.num_steps
    if settings.karras:
        sched = UniPCMultistepScheduler(
            num_train_timesteps=1000,
            solver_order=2,
            prediction_type="flow_prediction",
            predict_x0=True,
            solver_type="bh2",
            lower_order_final=True,
            use_flow_sigmas=True,
            flow_shift=1.0,
            use_karras_sigmas=True,
            sigma_min=0.01,
            sigma_max=200.0,
            final_sigmas_type="zero",
        )
        sched.set_timesteps(n + 1)
    else:
        sched = UniPCMultistepScheduler(
            num_train_timesteps=1000,
            solver_order=2,
            prediction_type="flow_prediction",
            predict_x0=True,
            solver_type="bh2",
            lower_order_final=True,
            use_flow_sigmas=True,
            flow_shift=settings.shift,
            final_sigmas_type="zero",
        )
        sched.set_timesteps(sigmas=np.linspace(0.9990000128746033, 0.0, n + 1)[:-1])
    x, m = noise.clone(), mask
    mask_full = m.expand(-1, -1, -1, gt.shape[3], gt.shape[4])
    for t in sched.timesteps:
        if settings.conditional_frame_timestep >= 0:
            ts = torch.where(
                m[:, 0, :, 0, 0] > 0, torch.tensor(settings.conditional_frame_timestep), t.float()
            )
        else:
            ts = t.view(1, 1)
        x_in = gt * m + x * (1 - m)
        vs = []
        for emb in (emb_c, emb_u):
            v = net(
                x_in,
                ts.float(),
                emb,
                condition_video_input_mask_B_C_T_H_W=mask_full,
                fps=fps,
                padding_mask=padding,
            )
            vs.append((noise - gt) * m + v * (1 - m))
        x = sched.step(vs[0] + settings.guidance * (vs[0] - vs[1]), t, x).prev_sample
    return x


@pytest.mark.parametrize("karras", [False, True], ids=["shift5", "karras_cft0.1"])
def test_sampler_drives_the_real_dit_like_cosmos(karras) -> None:
    model = _dit_model(karras)
    g = torch.Generator().manual_seed(5)
    emb_c, emb_u = torch.randn(1, 8, 32, generator=g), torch.randn(1, 6, 32, generator=g)
    gt = torch.randn(1, 16, 3, 8, 8, generator=g)
    batch = {
        "t5_text_embeddings": emb_c,
        "neg_t5_text_embeddings": emb_u,
        "num_conditional_frames": 1,
        "fps": torch.tensor([16.0]),
        "padding_mask": torch.zeros(1, 1, 64, 64),
    }
    settings = model.sampler_settings(num_steps=4, guidance=7.0, seed=3)
    assert settings.karras == karras and settings.solver == "unipc"
    out = model.sample_latents(batch, gt, settings)
    mask = torch.zeros(1, 1, 3, 1, 1)
    mask[:, :, :1] = 1
    expected = _reference_loop(
        model.net,
        gt,
        mask,
        cosmos_noise((1, 16, 3, 8, 8), 3),
        emb_c,
        emb_u,
        settings,
        batch["fps"],
        batch["padding_mask"],
    )
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    # The negative prompt is the unconditional branch: zeros give another sample.
    without_neg = {k: v for k, v in batch.items() if k != "neg_t5_text_embeddings"}
    assert not torch.allclose(model.sample_latents(without_neg, gt, settings), out)


def test_generate_samples_seeded_and_decodes_the_final_state() -> None:
    model = _dit_model(False)
    video = torch.randint(0, 256, (1, 3, 9, 64, 64), dtype=torch.uint8)
    batch = {
        "video": video,
        "t5_text_embeddings": torch.randn(1, 8, 32),
        "num_conditional_frames": 1,
    }
    settings = model.sampler_settings(num_steps=2, guidance=0.0, seed=1)
    a = model.generate_samples(batch, sampler=settings)
    assert a.shape == (1, 3, 9, 64, 64) and a.dtype == torch.uint8
    assert torch.equal(a, model.generate_samples(batch, sampler=settings))
    b = model.generate_samples(
        batch, sampler=model.sampler_settings(num_steps=2, guidance=0.0, seed=2)
    )
    assert not torch.equal(a, b)


# ------------------------------------------------------------------------ Euler, CFG, settings
def test_euler_is_exact_for_the_true_straight_velocity() -> None:
    """On a straight path (v = noise - x0 everywhere), Euler lands on x0 from any schedule."""
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(1, 3, 4, 2, 2, generator=g), torch.randn(1, 3, 4, 2, 2, generator=g)
    for karras in (False, True):
        settings = SamplerSettings(solver="euler", num_steps=7, karras=karras, guidance=0.0)
        sigma0 = float(flow_schedule(7, karras=karras)[0][0])
        start = sigma0 * noise + (1 - sigma0) * x0
        out = sample_flow(lambda x, t, c: noise - x0, start, settings, cond=None)
        torch.testing.assert_close(out, x0, atol=1e-5, rtol=1e-5)


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


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"solver": "dpm"}, "choose one of"),
        ({"num_steps": 0}, "num_steps must be >= 1"),
        ({"shift": 0.0}, "shift must be > 0"),
    ],
    ids=["solver", "steps", "shift"],
)
def test_settings_are_checked(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        SamplerSettings(**kwargs)


def test_guidance_needs_the_unconditional_branch() -> None:
    with pytest.raises(ValueError, match="unconditional branch"):
        sample_flow(
            lambda x, t, c: x, torch.zeros(1, 1, 1, 1, 1), SamplerSettings(guidance=7.0), cond=None
        )
