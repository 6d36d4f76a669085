"""The model stack end to end, as the trainer wires it: real datasets -> loader -> Video2World model
(tiny DiT from a lazycfg node, PoolingTokenizer, conditioner) -> AdamW + LambdaLinear + power EMA ->
validation, sampling and the official consolidated checkpoint layout.

Shapes are tiny (9 frames of 32x32 -> 3x4x4 latents, 12 tokens) so the file runs in seconds on CPU.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from cosmos_train.checkpoint.consolidated import load_consolidated, save_consolidated
from cosmos_train.data import (
    LocalVideoDataset,
    MockImageDataset,
    MockVideoDataset,
    SyntheticVideoDataset,
    build_dataloader,
    write_mp4,
)
from cosmos_train.model.conditioner import Video2WorldConditioner
from cosmos_train.model.config import EMAConfig, Video2WorldConfig, Video2WorldRectifiedFlowConfig
from cosmos_train.model.video2world import Video2WorldModel, Video2WorldModelRectifiedFlow
from cosmos_train.nets.presets import tiny
from cosmos_train.optim import PowerEMA, build_adamw, lambda_linear_lr
from cosmos_train.tokenizers import PoolingTokenizer, Wan21VAE
from lazycfg import PLACEHOLDER, L, check, freeze, instantiate

FRAMES, SIZE, STATE_T = 9, 32, 3  # 1 + 4*2 frames -> 3 latent frames of 4x4 cells
TEXT_LEN, TEXT_DIM = 8, 32  # TEXT_DIM = the tiny net's crossattn_emb_channels


def model_node(kind: str = "rf", **config):
    """``L(Model)(config=..., _recursive_=False)`` as the ``model`` config group writes it."""
    cls, cfg_cls = {
        "rf": (Video2WorldModelRectifiedFlow, Video2WorldRectifiedFlowConfig),
        "edm": (Video2WorldModel, Video2WorldConfig),
    }[kind]
    fields = dict(
        net=L(tiny)(),
        tokenizer=L(PoolingTokenizer)(latent_ch=16, spatial=8, temporal=4),
        conditioner=L(Video2WorldConditioner)(text_dropout_rate=0.2),
        precision="float32",
        state_t=STATE_T,
        ema=EMAConfig(enabled=True, rate=0.1),
    )
    fields.update(config)
    return L(cls)(config=cfg_cls(**fields), _recursive_=False)


def build_model(kind: str = "rf", **config):
    node = model_node(kind, **config)
    freeze(node)  # the trainer builds from a frozen config
    torch.manual_seed(0)
    return instantiate(node)


def synthetic_loader(batch_size: int = 2, **kw):
    ds = SyntheticVideoDataset(
        num_frames=FRAMES,
        height=SIZE,
        width=SIZE,
        length=8,
        text_len=TEXT_LEN,
        text_dim=TEXT_DIM,
        **kw,
    )
    return build_dataloader(dataset=ds, batch_size=batch_size, seed=0)


def optim_nodes():
    opt = L(build_adamw)(params=PLACEHOLDER, lr=3e-3, weight_decay=0.0)
    sched = L(lambda_linear_lr)(
        optimizer=PLACEHOLDER,
        warm_up_steps=[5],
        cycle_lengths=[1000],
        f_start=[0.1],
        f_max=[1.0],
        f_min=[0.5],
    )
    return opt, sched


def train(model, loader, steps: int) -> tuple[list[float], torch.optim.Optimizer, object]:
    """The trainer's step order: forward, backward, optimizer, scheduler, EMA
    (on_before_zero_grad)."""
    opt_node, sched_node = optim_nodes()
    model.on_train_start()
    opt = instantiate(opt_node, params=model.optimizer_parameters())
    sched = instantiate(sched_node, optimizer=opt)
    losses: list[float] = []
    it = 0
    while it < steps:
        for batch in loader:
            _, loss = model.training_step(batch, it)
            loss.backward()
            opt.step()
            sched.step()
            model.on_before_zero_grad(opt, sched, it)
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
            it += 1
            if it == steps:
                break
    return losses, opt, sched


def fixed_batch(loader) -> dict:
    return next(iter(loader))


# ------------------------------------------------------------------------------- the full pipeline
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """30 steps of the rectified-flow model on the synthetic set (shared by the checks below)."""
    loader = synthetic_loader()
    model = build_model("rf")
    val_batch = fixed_batch(synthetic_loader())
    before = model.validation_step(val_batch, 0)[1].item()
    losses, opt, sched = train(model, loader, steps=30)
    return dict(
        model=model,
        loader=loader,
        val_batch=val_batch,
        val_before=before,
        losses=losses,
        opt=opt,
        sched=sched,
        tmp=tmp_path_factory.mktemp("ckpt"),
    )


def test_model_node_checks_clean_and_typos_are_found_before_building() -> None:
    assert check(model_node("rf")) == [] and check(model_node("edm")) == []
    typo = model_node("rf", conditioner=L(Video2WorldConditioner)(text_dropout=0.1))
    problems = [str(p) for p in check(typo)]
    assert len(problems) == 1 and problems[0].startswith("config.conditioner.text_dropout:")
    assert "'text_dropout_rate'" in problems[0]


def test_collated_batch_has_the_types_the_model_reads() -> None:
    batch = fixed_batch(synthetic_loader())
    assert batch["video"].dtype == torch.uint8 and batch["video"].shape == (
        2,
        3,
        FRAMES,
        SIZE,
        SIZE,
    )
    assert batch["t5_text_embeddings"].shape == (2, TEXT_LEN, TEXT_DIM)
    # default_collate turns python floats into float64 and ints into int64: the model must cope.
    assert batch["fps"].dtype == torch.float64 and batch["sample_idx"].dtype == torch.int64
    model = build_model("rf")
    condition = model.conditioner(batch, None, dropout=False)
    assert condition.fps.dtype == torch.float32 and condition.fps.tolist() == [24.0, 24.0]


def test_training_loss_falls(trained) -> None:
    losses = trained["losses"]
    assert len(losses) == 30 and all(math.isfinite(x) for x in losses)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, losses
    # The deterministic validation loss on a fixed batch falls too (not just noise in the draws).
    after = trained["model"].validation_step(trained["val_batch"], 30)[1].item()
    assert after < 0.8 * trained["val_before"], (trained["val_before"], after)


def test_schedule_and_power_ema_were_applied(trained) -> None:
    model, opt = trained["model"], trained["opt"]
    # LambdaLinear after 30 steps of a 1000-step cycle with 5 warm-up steps: 1 - 0.5 * 25/995.
    assert opt.param_groups[0]["lr"] == pytest.approx(3e-3 * (1.0 - 0.5 * 25 / 995))
    assert model.ema is not None and model.ema.gamma == pytest.approx(PowerEMA(s=0.1).gamma)
    diffs = [
        (p - e).abs().max().item()
        for p, e in zip(model.net.parameters(), model.net_ema.parameters())
    ]
    assert max(diffs) > 0  # the EMA lags the net
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in model.net_ema.parameters())


def test_validation_step_is_deterministic(trained) -> None:
    model, batch = trained["model"], trained["val_batch"]
    a_out, a = model.validation_step(batch, 3)
    b_out, b = model.validation_step(batch, 99)  # the iteration does not enter validation draws
    assert a.item() == b.item()
    assert torch.equal(a_out["loss_per_sample"], b_out["loss_per_sample"])
    assert not a_out["text_dropped"].any()


def test_generate_samples_shape_and_dtype(trained) -> None:
    model, batch = trained["model"], trained["val_batch"]
    with model.ema_scope():
        video = model.generate_samples(batch, num_steps=2, guidance=1.5, seed=0)
    assert video.dtype == torch.uint8 and video.shape == (2, 3, FRAMES, SIZE, SIZE)
    assert video.device.type == "cpu" and video.float().std() > 0


def test_state_dict_is_the_consolidated_layout_and_round_trips(trained) -> None:
    model = trained["model"]
    keys = list(model.state_dict())
    assert keys and all(k.startswith(("net.", "net_ema.")) for k in keys)
    path = save_consolidated(trained["tmp"] / "model.pt", net=model.net, net_ema=model.net_ema)
    on_disk = torch.load(path, weights_only=True)
    assert list(on_disk) == keys
    assert {v.dtype for v in on_disk.values() if v.is_floating_point()} == {torch.bfloat16}

    # Back through the official-checkpoint loader into a fresh model ...
    fresh = build_model("rf")
    report = load_consolidated(path, net=fresh.net, net_ema=fresh.net_ema, ema="load")
    assert report.layout == "consolidated" and report.ema_source == "net_ema"
    for key, value in fresh.state_dict().items():
        assert value.dtype == model.state_dict()[key].dtype  # cast back to the model's fp32
        assert torch.equal(value, on_disk[key].to(value.dtype)), key
    # ... and through the model's own load_state_dict (what a Cosmos model.pt needs).
    other = build_model("rf")
    other.load_state_dict(on_disk)
    batch = trained["val_batch"]
    assert fresh.validation_step(batch, 0)[1].item() == other.validation_step(batch, 0)[1].item()


# ------------------------------------------------------------------------------- other datasets
@pytest.mark.parametrize("frames", [1, 5, 9], ids=["T1", "T5", "T9"])
def test_mock_video_dataset_frame_counts(frames: int) -> None:
    state_t = 1 + (frames - 1) // 4
    ds = MockVideoDataset(
        num_frames=frames, height=SIZE, width=SIZE, text_len=TEXT_LEN, text_dim=TEXT_DIM, length=4
    )
    loader = build_dataloader(dataset=ds, batch_size=2, seed=0)
    model = build_model("rf", state_t=state_t)
    losses, _, _ = train(model, loader, steps=2)
    assert all(math.isfinite(x) for x in losses)
    batch = ds_batch = fixed_batch(build_dataloader(dataset=ds, batch_size=2, shuffle=False))
    assert ds_batch["sample_idx"].tolist() == [0, 1]
    out, _ = model.validation_step(batch, 0)
    # A single latent frame has nothing to condition on; longer clips keep >= 1 frame to learn.
    assert out["num_conditional_frames"].max().item() <= max(state_t - 1, 0)
    video = model.generate_samples(batch, num_steps=1)
    assert video.shape == (2, 3, frames, SIZE, SIZE) and video.dtype == torch.uint8


def test_mock_image_dataset() -> None:
    ds = MockImageDataset(height=SIZE, width=SIZE, text_len=TEXT_LEN, text_dim=TEXT_DIM, length=4)
    model = build_model("rf", state_t=STATE_T)
    losses, _, _ = train(model, build_dataloader(dataset=ds, batch_size=2), steps=2)
    assert all(math.isfinite(x) for x in losses)


def test_edm_model_on_the_same_pipeline() -> None:
    loader = synthetic_loader()
    model = build_model("edm")
    batch = fixed_batch(loader)
    before = model.validation_step(batch, 0)[1].item()
    losses, _, _ = train(model, loader, steps=12)
    assert all(math.isfinite(x) for x in losses)
    after = model.validation_step(batch, 0)[1].item()
    assert after == model.validation_step(batch, 7)[1].item()
    assert after < before, (before, after)
    video = model.generate_samples(batch, num_steps=2)
    assert video.shape == (2, 3, FRAMES, SIZE, SIZE) and video.dtype == torch.uint8
    assert all(k.startswith(("net.", "net_ema.")) for k in model.state_dict())


def test_wan21_vae_tokenizer_in_the_model() -> None:
    """The Wan2.1 VAE architecture (narrow, random weights) drops in for the stand-in tokenizer."""
    model = build_model("rf", tokenizer=L(Wan21VAE)(dim=4, dtype="float32"))
    batch = fixed_batch(synthetic_loader())
    _, loss = model.training_step(batch, 0)
    loss.backward()
    assert math.isfinite(loss.item()) and model.net.x_embedder.proj[1].weight.grad is not None
    assert not any(p.requires_grad for p in model.tokenizer.parameters())
    # the VAE is not saved
    assert all(k.startswith(("net.", "net_ema.")) for k in model.state_dict())
    assert model.generate_samples(batch, num_steps=1).shape == (2, 3, FRAMES, SIZE, SIZE)


def _tool(name: str):
    path = Path(__file__).resolve().parents[2] / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_local_folder_from_the_tools_trains(tmp_path: Path) -> None:
    """mp4s -> prepare_nemo_assets -> compute_text_embeddings (hash) -> LocalVideoDataset ->
    model."""
    raw = tmp_path / "raw"
    synthetic = SyntheticVideoDataset(num_frames=12, height=SIZE, width=48, length=3)
    for i in range(3):
        write_mp4(raw / f"clip_{i}.mp4", synthetic[i]["video"], fps=16.0)
    root = tmp_path / "nemo"
    assert (
        _tool("prepare_nemo_assets").main(
            [
                "--videos-dir",
                str(raw),
                "--prompt",
                "a red square moving left",
                "--output-dir",
                str(root),
                "--num-frames",
                str(FRAMES),
            ]
        )
        == 0
    )
    assert (
        _tool("compute_text_embeddings").main(
            [
                "--dataset-dir",
                str(root),
                "--encoder",
                "hash",
                "--text-len",
                str(TEXT_LEN),
                "--dim",
                str(TEXT_DIM),
            ]
        )
        == 0
    )
    ds = LocalVideoDataset(
        dataset_dir=root,
        num_frames=FRAMES,
        video_size=(SIZE, SIZE),
        text_embeddings_subdir="t5_xxl",
        text_len=TEXT_LEN,
        text_dim=TEXT_DIM,
    )
    loader = build_dataloader(dataset=ds, batch_size=2, seed=0, drop_last=False)
    model = build_model("rf")
    losses, _, _ = train(model, loader, steps=3)
    assert all(math.isfinite(x) for x in losses)
    batch = fixed_batch(build_dataloader(dataset=ds, batch_size=2, shuffle=False))
    assert (
        batch["fps"].tolist() == [16.0, 16.0]
        and batch["t5_text_mask"][0].tolist() == [1] * 5 + [0] * 3
    )
    assert model.generate_samples(batch, num_steps=1).shape == (2, 3, FRAMES, SIZE, SIZE)

    no_text = LocalVideoDataset(dataset_dir=root, num_frames=FRAMES, video_size=(SIZE, SIZE))
    with pytest.raises(KeyError, match="set text_embeddings_subdir"):
        model.training_step(fixed_batch(build_dataloader(dataset=no_text, batch_size=2)), 0)


# ------------------------------------------------------------------------------- boundary errors
def _mock_batch(**kw) -> dict:
    args = dict(
        num_frames=FRAMES, height=SIZE, width=SIZE, text_len=TEXT_LEN, text_dim=TEXT_DIM, length=2
    )
    args.update(kw)
    return fixed_batch(
        build_dataloader(dataset=MockVideoDataset(**args), batch_size=2, shuffle=False)
    )


def _without(key: str) -> dict:
    batch = _mock_batch()
    del batch[key]
    return batch


@pytest.mark.parametrize(
    "batch, exc, match",
    [
        (
            lambda: _mock_batch(num_frames=10),
            ValueError,
            r"1 \+ 4\*k pixel frames, got 10; use 9 or 13 frames",
        ),
        (
            lambda: _mock_batch(num_frames=13),
            ValueError,
            r"set model.config.state_t=4 or the dataset's num_frames=9",
        ),
        (
            lambda: _mock_batch(text_dim=1024),
            ValueError,
            r"text width 1024 but the net takes 32 \(model.config.net.crossattn_emb_channels\)",
        ),
        (
            lambda: _mock_batch(height=40, width=40),
            ValueError,
            r"multiples of 16 \(the dataset's height/width",
        ),
        (lambda: _mock_batch(height=36), ValueError, r"divisible by 8, got 36x32"),
        (
            lambda: _mock_batch(height=1024, width=16),
            ValueError,
            r"raise the net's max_img_h/max_img_w/max_frames",
        ),
        (lambda: _without("video"), KeyError, r"model.config.input_data_key"),
        (
            lambda: _without("t5_text_embeddings"),
            KeyError,
            r"text_embeddings_subdir.*model.config.conditioner.text_key",
        ),
    ],
    ids=[
        "frames-not-1+4k",
        "frames-vs-state_t",
        "text-dim",
        "latent-vs-patch",
        "pixels-vs-tokenizer",
        "beyond-rope-table",
        "no-video-key",
        "no-text-key",
    ],
)
def test_bad_batches_name_what_to_change(batch, exc, match) -> None:
    model = build_model("rf")
    b = batch()
    with pytest.raises(exc, match=match):
        model.training_step(b, 0)
    # sampling takes any clip length the tokenizer codes (generate --num-frames)
    if "state_t" in match:
        assert model.generate_samples(b, num_steps=1).shape[2] == b["video"].shape[2]
        return
    with pytest.raises(exc, match=match):  # sampling (the trainer's sample callback) says the same
        model.generate_samples(b, num_steps=1)


def test_missing_sample_idx_falls_back_to_positions(caplog) -> None:
    model = build_model("rf")
    batch = _without("sample_idx")
    with caplog.at_level("WARNING"):
        _, loss = model.training_step(batch, 0)
    assert math.isfinite(loss.item()) and "sample_idx" in caplog.text
    with_idx = _mock_batch()
    with_idx["sample_idx"] = torch.arange(2)
    assert model.validation_step(batch, 0)[1].item() == model.validation_step(with_idx, 0)[1].item()


def test_predict2_5_text_projection_width_is_named() -> None:
    model = build_model(
        "rf", net=L(tiny)(use_crossattn_projection=True, crossattn_proj_in_channels=48)
    )
    with pytest.raises(
        ValueError, match=r"takes 48 \(model.config.net.crossattn_proj_in_channels\)"
    ):
        model.training_step(_mock_batch(), 0)
    _, loss = model.training_step(_mock_batch(text_dim=48), 0)
    assert math.isfinite(loss.item())
