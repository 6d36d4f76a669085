"""Video2World models on the real tiny DiT and the PoolingTokenizer (latent 16x4x8x8)."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from cosmos_train.model.base import default_net_builder
from cosmos_train.model.conditioner import Video2WorldConditioner
from cosmos_train.model.config import EMAConfig, Video2WorldConfig, Video2WorldRectifiedFlowConfig
from cosmos_train.model.video2world import Video2WorldModel, Video2WorldModelRectifiedFlow
from cosmos_train.nets.presets import tiny
from cosmos_train.optim.optimizers import build_adamw
from cosmos_train.tokenizers.standin import PoolingTokenizer

RF = (Video2WorldModelRectifiedFlow, Video2WorldRectifiedFlowConfig)
EDM = (Video2WorldModel, Video2WorldConfig)
BOTH = pytest.mark.parametrize("kind", [RF, EDM], ids=["rf", "edm"])


def make_model(kind=RF, **overrides):
    cls, cfg_cls = kind
    cfg = dict(net=tiny, tokenizer=PoolingTokenizer, precision="float32", state_t=4)
    cfg.update(overrides)
    torch.manual_seed(0)
    return cls(cfg_cls(**cfg))


def make_batch(b: int = 2, start: int = 0) -> dict:
    """Smooth 13-frame 64x64 videos (-> latents [16, 4, 8, 8]) with T5-like text [b, 8, 32]."""
    t = torch.linspace(0, 1, 13).view(1, 1, 13, 1, 1)
    y = torch.linspace(-1, 1, 64).view(1, 1, 1, 64, 1)
    x = torch.linspace(-1, 1, 64).view(1, 1, 1, 1, 64)
    phase = torch.arange(start, start + b, dtype=torch.float32).view(b, 1, 1, 1, 1)
    video = torch.sin(
        3 * x + 2 * t + phase + torch.tensor([0.0, 1.0, 2.0]).view(1, 3, 1, 1, 1)
    ) * torch.cos(2 * y)
    g = torch.Generator().manual_seed(123)
    text = torch.randn(start + b, 8, 32, generator=g)[start:]
    return {
        "video": ((video + 1) * 127.5).round().to(torch.uint8),
        "t5_text_embeddings": text,
        "fps": torch.full((b,), 24.0),
        "padding_mask": torch.zeros(b, 1, 64, 64),
        "sample_idx": torch.arange(start, start + b),
    }


class NetSpy:
    """Records the real net's inputs and output (forward hook)."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.calls: list[tuple[tuple, dict, torch.Tensor]] = []
        self.handle = net.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs, output):
        if output.requires_grad:
            output.retain_grad()
        self.calls.append((args, kwargs, output))


def _split(batch: dict, sl: slice) -> dict:
    return {k: v[sl] for k, v in batch.items()}


# ---------------------------------------------------------------------------------- construction
@BOTH
def test_state_dict_is_net_and_ema_only_and_ema_is_fp32_frozen_copy(kind) -> None:
    model = make_model(kind)
    keys = list(model.state_dict())
    assert keys and all(k.startswith(("net.", "net_ema.")) for k in keys)
    assert {k[len("net.") :] for k in keys if k.startswith("net.")} == set(model.net.state_dict())
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in model.net_ema.parameters())
    for p, q in zip(model.net.parameters(), model.net_ema.parameters()):
        assert torch.equal(p, q)
    assert sum(p.numel() for p in model.net.parameters()) == 175_808


def test_net_builder_roles_and_ema_disabled() -> None:
    roles = []
    base = default_net_builder("cpu")

    def builder(make_net, *, role):
        roles.append(role)
        return base(make_net, role=role)

    cls, cfg_cls = RF
    cls(
        cfg_cls(net=tiny, tokenizer=PoolingTokenizer, precision="float32", state_t=4),
        net_builder=builder,
    )
    assert roles == ["net", "net_ema"]
    no_ema = make_model(RF, ema=EMAConfig(enabled=False))
    assert no_ema.net_ema is None and all(k.startswith("net.") for k in no_ema.state_dict())
    with no_ema.ema_scope():
        pass


def test_lazycfg_nodes_are_instantiated() -> None:
    from lazycfg import L

    model = make_model(
        RF,
        net=L(tiny)(),
        tokenizer=L(PoolingTokenizer)(latent_ch=16),
        conditioner=L(Video2WorldConditioner)(text_dropout_rate=0.0),
    )
    assert model.conditioner.text_dropout_rate == 0.0
    assert sum(p.numel() for p in model.net.parameters()) == 175_808


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (
            lambda: Video2WorldModel(
                Video2WorldRectifiedFlowConfig(net=tiny, tokenizer=PoolingTokenizer)
            ),
            TypeError,
            "needs a Video2WorldConfig",
        ),
        (lambda: make_model(RF, net=None), ValueError, "model.config.net is not set"),
        (
            lambda: make_model(RF, tokenizer=functools.partial(PoolingTokenizer, latent_ch=8)),
            ValueError,
            "state_ch",
        ),
        (lambda: make_model(RF, net=tiny()), TypeError, "not a built module"),
        (
            lambda: make_model(RF, net=functools.partial(tiny, in_channels=8, out_channels=8)),
            ValueError,
            r"model.config.net.in_channels=8 but model.config.state_ch=16 .*set "
            r"model.config.net.in_channels=16",
        ),
        (
            lambda: make_model(RF, net=functools.partial(tiny, out_channels=8)),
            ValueError,
            r"model.config.net.out_channels=8 but model.config.state_ch=16",
        ),
    ],
    ids=[
        "wrong-config-class",
        "missing-net",
        "latent-ch-mismatch",
        "built-net",
        "net-in-channels",
        "net-out-channels",
    ],
)
def test_construction_errors(make, exc, match) -> None:
    with pytest.raises(exc, match=match):
        make()


def test_batch_errors() -> None:
    model = make_model(RF, state_t=5)
    with pytest.raises(ValueError, match="model.config.state_t=4"):
        model.training_step(make_batch(), 0)
    model = make_model(RF)
    bad = make_batch()
    bad["images"] = bad["video"][:, :, 0]
    with pytest.raises(KeyError, match="exactly one of"):
        model.training_step(bad, 0)


# ---------------------------------------------------------------------------------- rectified flow
def test_rf_training_step_follows_the_formulas() -> None:
    model = make_model(RF, conditional_frames_probs={1: 1.0})
    batch = make_batch()
    spy = NetSpy(model.net)
    out, loss = model.training_step(batch, iteration=3)
    args, kwargs, raw = spy.calls[0]
    x_in, timesteps = args[0], args[1]
    sigma = out["sigma"]
    assert timesteps.shape == (2, 1)
    torch.testing.assert_close(timesteps.flatten(), 1000 * sigma)
    x0 = model.tokenizer.encode(batch["video"].float() / 127.5 - 1)
    eps = model._noise(x0, model.seed, 3, [0, 1], 3)
    xt = sigma.view(2, 1, 1, 1, 1) * eps + (1 - sigma.view(2, 1, 1, 1, 1)) * x0
    # First latent frame replaced by the clean latent, the rest is x_t.
    torch.testing.assert_close(x_in[:, :, :1], x0[:, :, :1])
    torch.testing.assert_close(x_in[:, :, 1:], xt[:, :, 1:])
    assert torch.equal(
        kwargs["condition_video_input_mask_B_C_T_H_W"][:, 0, :, 0, 0],
        torch.tensor([[1.0, 0, 0, 0]] * 2),
    )
    target = eps - x0
    per_frame = (raw.float() - target).square().mean(dim=(1, 3, 4))
    torch.testing.assert_close(loss, per_frame[:, 1:].sum(1).div(4).mean())
    assert torch.equal(out["num_conditional_frames"], torch.tensor([1, 1]))


@pytest.mark.parametrize("kind", [RF, EDM], ids=["rf", "edm"])
def test_conditioning_frames_have_zero_gradient(kind) -> None:
    model = make_model(kind, conditional_frames_probs={2: 1.0})
    spy = NetSpy(model.net)
    _, loss = model.training_step(make_batch(), iteration=0)
    loss.backward()
    grad = spy.calls[0][2].grad
    assert bool((grad[:, :, :2] == 0).all())
    assert bool((grad[:, :, 2:] != 0).any())


def test_rf_replaced_velocity_on_conditioning_frames_is_eps_minus_gt() -> None:
    model = make_model(RF, conditional_frames_probs={2: 1.0})
    # The replaced prediction is exactly eps - gt on those frames.
    cond = model.conditioner(make_batch(), None, dropout=False)
    x0 = model.tokenizer.encode(make_batch()["video"].float() / 127.5 - 1)
    cond = model.conditioner.set_video_condition(cond, gt_frames=x0, num_conditional_frames=2)
    eps = torch.randn_like(x0)
    v = model.velocity(eps, torch.randn_like(x0), torch.full((2,), 500.0), cond)
    torch.testing.assert_close(v[:, :, :2], (eps - x0)[:, :, :2])


def test_rf_conditional_frame_timestep() -> None:
    model = make_model(RF, conditional_frames_probs={1: 1.0}, conditional_frame_timestep=0.0)
    spy = NetSpy(model.net)
    out, _ = model.training_step(make_batch(), iteration=0)
    timesteps = spy.calls[0][0][1]
    assert timesteps.shape == (2, 4)
    assert bool((timesteps[:, 0] == 0).all())
    torch.testing.assert_close(timesteps[:, 1:], (1000 * out["sigma"]).view(2, 1).expand(2, 3))


# ---------------------------------------------------------------------------------- EDM
def test_edm_training_step_preconditioning_and_loss_weight() -> None:
    model = make_model(EDM, conditional_frames_probs={1: 1.0}, high_sigma_strategy="none")
    batch = make_batch()
    spy = NetSpy(model.net)
    out, loss = model.training_step(batch, iteration=2)
    args, _, raw = spy.calls[0]
    x_in, timesteps = args[0], args[1]
    sd = 0.5
    sigma = out["sigma"].view(2, 1, 1, 1, 1)
    x0 = model.tokenizer.encode(batch["video"].float() / 127.5 - 1) * sd
    eps = model._noise(x0, model.seed, 2, [0, 1], 3)
    xt = x0 + sigma * eps
    c_in = 1 / (sigma**2 + sd**2).sqrt()
    torch.testing.assert_close(x_in[:, :, 1:], (c_in * xt)[:, :, 1:])
    torch.testing.assert_close(x_in[:, :, :1], x0[:, :, :1] / sd)
    assert timesteps.shape == (2, 4)
    torch.testing.assert_close(timesteps[:, 0], torch.full((2,), 0.25 * math.log(1e-4)))
    torch.testing.assert_close(timesteps[:, 1:], (0.25 * sigma.log()).view(2, 1).expand(2, 3))
    c_skip = sd**2 / (sigma**2 + sd**2)
    c_out = sigma * sd / (sigma**2 + sd**2).sqrt()
    x0_pred = c_skip * xt + c_out * raw.float()
    x0_pred[:, :, :1] = x0[:, :, :1]
    weight = (sigma.flatten() ** 2 + sd**2) / (sigma.flatten() * sd) ** 2
    expected = (10.0 * weight * (x0 - x0_pred).square().mean(dim=(1, 2, 3, 4))).mean()
    torch.testing.assert_close(loss, expected)


# ---------------------------------------------------------------------------------- randomness
@BOTH
def test_draws_do_not_depend_on_batch_split(kind) -> None:
    model = make_model(kind)
    batch = make_batch(4)
    full, _ = model.training_step(batch, iteration=5)
    parts = [
        model.training_step(_split(batch, s), iteration=5)[0] for s in (slice(0, 1), slice(1, 4))
    ]
    for key in ("sigma", "num_conditional_frames", "text_dropped"):
        assert torch.equal(full[key], torch.cat([p[key] for p in parts])), key
    torch.testing.assert_close(
        full["loss_per_sample"],
        torch.cat([p["loss_per_sample"] for p in parts]),
        rtol=1e-4,
        atol=1e-6,
    )
    other, _ = model.training_step(batch, iteration=6)
    assert not torch.equal(full["sigma"], other["sigma"])


@BOTH
def test_validation_is_fixed_per_sample_and_has_no_text_dropout(kind) -> None:
    model = make_model(
        kind, conditioner=functools.partial(Video2WorldConditioner, text_dropout_rate=1.0)
    )
    batch = make_batch(3)
    a, loss_a = model.validation_step(batch, 0)
    b, loss_b = model.validation_step(batch, 1000)
    assert torch.equal(a["sigma"], b["sigma"]) and torch.equal(loss_a, loss_b)
    assert not bool(a["text_dropped"].any())
    part, _ = model.validation_step(_split(batch, slice(1, 3)), 7)
    assert torch.equal(part["sigma"], a["sigma"][1:])


# ---------------------------------------------------------------------------------- EMA
def test_ema_update_and_scope() -> None:
    model = make_model(RF)
    opt = build_adamw(params=model.optimizer_parameters(), lr=1e-2)
    for it in range(2):
        _, loss = model.training_step(make_batch(), it)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.on_before_zero_grad(opt, None, it)
        if it == 0:  # beta(0) = 0: an exact copy
            for p, q in zip(model.net.parameters(), model.net_ema.parameters()):
                assert torch.equal(p, q)
    regular = [p.detach().clone() for p in model.net.parameters()]
    ema = [p.detach().clone() for p in model.net_ema.parameters()]
    assert any(not torch.equal(r, e) for r, e in zip(regular, ema))
    with model.ema_scope():
        for p, e in zip(model.net.parameters(), ema):
            assert torch.equal(p, e)
    for p, r in zip(model.net.parameters(), regular):
        assert torch.equal(p, r)


# ---------------------------------------------------------------------------------- sampling
@BOTH
def test_generate_samples(kind) -> None:
    model = make_model(kind)
    batch = make_batch()
    a = model.generate_samples(batch, num_steps=3, guidance=0.0, seed=1)
    assert a.shape == (2, 3, 13, 64, 64) and a.dtype == torch.uint8
    assert torch.equal(a, model.generate_samples(batch, num_steps=3, guidance=0.0, seed=1))
    assert not torch.equal(a, model.generate_samples(batch, num_steps=3, guidance=0.0, seed=2))
    assert not torch.equal(a, model.generate_samples(batch, num_steps=3, guidance=3.0, seed=1))
    # The conditioning latent frame (pixel frame 0) is the input's reconstruction: exactly for EDM
    # (written back), and up to Cosmos's (1 - sigma_0) (noise - gt) residue for rectified flow.
    video = batch["video"].float() / 127.5 - 1
    recon = model.tokenizer.decode(model.tokenizer.encode(video))
    recon = ((recon.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    tol = 0 if kind is EDM else 2
    assert (a[:, :, 0].int() - recon[:, :, 0].int()).abs().max() <= tol


def test_image_batches_have_no_conditioning_frames() -> None:
    model = make_model(RF, conditional_frames_probs={2: 1.0})
    batch = make_batch()
    batch["images"] = batch.pop("video")[:, :, 0]
    out, loss = model.training_step(batch, 0)
    assert out["num_conditional_frames"].tolist() == [0, 0] and torch.isfinite(loss)


def test_throughput_numbers() -> None:
    model = make_model(RF)
    batch = make_batch()
    assert model.tokens_per_sample(batch) == 4 * 4 * 4  # T' x H'/2 x W'/2
    assert model.flops_per_sample(batch) > 6 * 175_808 * 64 * 0.5


# ---------------------------------------------------------------------------------- learning
@BOTH
def test_overfits_one_fixed_batch(kind) -> None:
    model = make_model(kind)
    batch = make_batch()
    opt = build_adamw(params=model.optimizer_parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for it in range(50):
        _, loss = model.training_step(batch, iteration=0)  # same draws every step: a fixed batch
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.on_before_zero_grad(opt, None, it)
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0], losses


def test_load_state_dict_round_trip_and_te_extra_state() -> None:
    src = make_model(RF)
    with torch.no_grad():
        for p in src.net.parameters():
            p.add_(0.01)
    state = dict(src.state_dict())
    state["net.blocks.0.self_attn.q_proj._extra_state"] = torch.zeros(
        0
    )  # as in TE-based Cosmos checkpoints
    dst = make_model(RF)
    dst.load_state_dict(state)
    for p, q in zip(src.net.parameters(), dst.net.parameters()):
        assert torch.equal(p, q)
    del state["net_ema.x_embedder.proj.1.weight"]
    with pytest.raises(RuntimeError, match="net_ema.x_embedder.proj.1.weight"):
        dst.load_state_dict(state)
