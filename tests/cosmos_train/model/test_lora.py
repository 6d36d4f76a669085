"""LoRA on PEFT: config, target check, build order, frozen base, adapter EMA, export, inference."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
import torch

from cosmos_train.checkpoint.consolidated import (
    CheckpointMismatchError,
    load_consolidated,
    save_consolidated,
)
from cosmos_train.checkpoint.dcp import CheckpointError
from cosmos_train.model import lora, lora_export
from cosmos_train.model.config import EMAConfig, Video2WorldConfig, Video2WorldRectifiedFlowConfig
from cosmos_train.model.video2world import Video2WorldModelRectifiedFlow
from cosmos_train.nets import presets
from cosmos_train.nets.presets import tiny
from cosmos_train.tokenizers.standin import PoolingTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_video2world import make_batch  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
COSMOS_TARGETS = "q_proj,k_proj,v_proj,output_proj,mlp.layer1,mlp.layer2"


def _config(**kw) -> Video2WorldRectifiedFlowConfig:
    base = dict(net=tiny, tokenizer=PoolingTokenizer, precision="float32", state_t=4)
    return Video2WorldRectifiedFlowConfig(**{**base, **kw})


def _lora_config(**kw) -> Video2WorldRectifiedFlowConfig:
    return _config(use_lora=True, lora_rank=4, lora_alpha=8, **kw)


@pytest.fixture(scope="module")
def base_file(tmp_path_factory) -> Path:
    """A 'pretrained' base: the tiny net with weights unlike the builder's init (seed 7)."""
    torch.manual_seed(7)
    net = tiny()
    net.init_weights()
    with torch.no_grad():
        for p in net.parameters():  # non-zero AdaLN projections too: the base must matter
            p.add_(0.02 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("base") / "model_ema_fp32.pt"
    save_consolidated(path, net=net, dtype=None)
    return path


def _train(model, steps: int = 3, lr: float = 2e-2) -> None:
    opt = torch.optim.AdamW([p for _, p in model.optimizer_parameters()], lr=lr)
    batch = make_batch(2)
    for it in range(steps):
        _, loss = model.training_step(batch, it)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.on_before_zero_grad(opt, None, it)


# ---- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls", [Video2WorldRectifiedFlowConfig, Video2WorldConfig], ids=["rf", "edm"]
)
def test_config_fields_have_cosmos_names_and_defaults(cls):
    cfg = cls()
    assert (cfg.use_lora, cfg.lora_rank, cfg.lora_alpha, cfg.init_lora_weights) == (
        False,
        32,
        32,
        True,
    )
    assert cfg.lora_target_modules == COSMOS_TARGETS
    assert cfg.lora_allow_random_base is False


@pytest.mark.parametrize("field", ["lora_rank", "lora_alpha"])
def test_rank_and_alpha_must_be_positive(field):
    import lazycfg

    with pytest.raises(lazycfg.ConfigError, match=f"model.config.{field} must be > 0"):
        _config(**{field: 0})


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("q_proj,k_proj", ("q_proj", "k_proj")),
        (" q_proj , mlp.layer1 ,", ("q_proj", "mlp.layer1")),
        (["v_proj"], ("v_proj",)),
    ],
    ids=["plain", "spaces", "list"],
)
def test_parse_target_modules(spec, expected):
    assert lora.parse_target_modules(spec) == expected


# ---- target check -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "targets, hits",
    [
        ("q_proj", 4),  # self- and cross-attention of both blocks
        ("mlp.layer1", 2),
        ("self_attn.output_proj", 2),
        ("blocks.0.cross_attn.k_proj", 1),
    ],
    ids=["suffix", "dotted_suffix", "two_levels", "full_name"],
)
def test_target_patterns_select_modules_like_peft(targets, hits):
    net = tiny()
    selected = lora.check_target_modules(net, lora.parse_target_modules(targets))
    assert sum(len(v) for v in selected.values()) == hits
    lora.inject_lora(
        net, lora.LoraSpec(rank=2, alpha=2, target_modules=lora.parse_target_modules(targets))
    )
    assert len(lora_export._lora_layers(net)) == hits  # exactly what the check said


@pytest.mark.parametrize(
    "targets, message",
    [
        ("q_proj,k_prj", "'k_prj' matches no module"),
        (
            "attn.q",
            "'attn.q' matches no module",
        ),  # a substring is not a match (PEFT would inject nothing)
        ("q_norm", "non-Linear"),
    ],
    ids=["typo", "substring", "not_linear"],
)
def test_bad_target_patterns_list_the_module_names(targets, message):
    with pytest.raises(ValueError, match=message) as err:
        lora.check_target_modules(tiny(), lora.parse_target_modules(targets))
    assert "blocks.*.self_attn.q_proj" in str(err.value)  # the listing, collapsed over blocks
    assert "model.config.lora_target_modules" in str(err.value)


def test_adaln_targets_are_refused_under_the_fp32_strategy():
    with pytest.raises(ValueError, match="never run"):
        lora.check_target_modules(tiny(use_wan_fp32_strategy=True), ["adaln_modulation_mlp.1"])


# ---- build order, base weights ------------------------------------------------------------------


def test_lora_without_base_weights_is_an_error():
    with pytest.raises(ValueError, match="lora_allow_random_base"):
        Video2WorldModelRectifiedFlow(_lora_config())


def test_random_base_needs_the_opt_in_and_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="cosmos_train.model.lora"):
        model = Video2WorldModelRectifiedFlow(_lora_config(lora_allow_random_base=True))
    assert "RANDOMLY INITIALISED base" in caplog.text
    assert model.lora.base.kind == "random" and model.lora.base.path == ""


def test_missing_base_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        Video2WorldModelRectifiedFlow(_lora_config(), base_checkpoint=str(tmp_path / "nope.pt"))


def test_base_is_loaded_before_injection_and_frozen(base_file):
    model = Video2WorldModelRectifiedFlow(_lora_config(), base_checkpoint=str(base_file))
    ref = torch.load(base_file, weights_only=True)
    merged = lora_export.merged_state_dict(model.net)  # B = 0 at init: merged == base
    assert merged.keys() == {k[len("net.") :] for k in ref}
    for key, value in merged.items():
        assert torch.equal(value, ref["net." + key]), key
    trainable = {n for n, p in model.net.named_parameters() if p.requires_grad}
    assert trainable and all(lora.is_adapter_key(n) for n in trainable)
    assert {n for n, _ in model.optimizer_parameters()} == trainable
    assert all(p.dtype == torch.float32 for n, p in model.net.named_parameters() if n in trainable)
    assert model.lora.base.fingerprint == lora.base_fingerprint(model.net)
    count = lora.count_parameters(model.net)
    assert count.frozen == sum(
        v.numel()
        for k, v in ref.items()
        if v.is_floating_point()
        and "accum" not in k
        and "pos_embedder.seq" not in k
        and "dim_" not in k
    )
    assert "trainable" in str(count) and "frozen" in str(count)


def test_base_from_a_dcp_run(tmp_path, base_file):
    """A DCP checkpoint of a full fine-tuning run serves as base (its net.* weights)."""
    from cosmos_train.checkpoint.dcp import DCPCheckpointer

    full = Video2WorldModelRectifiedFlow(_config())
    load_consolidated(base_file, net=full.net, net_ema=full.net_ema)
    opt = torch.optim.AdamW(full.net.parameters())
    DCPCheckpointer(job_dir=tmp_path).save(full, opt, None, 5)
    model = Video2WorldModelRectifiedFlow(
        _lora_config(), base_checkpoint=str(tmp_path / "checkpoints")
    )
    assert model.lora.base.kind == "dcp" and model.lora.base.path.endswith("iter_000000005")
    from_pt = Video2WorldModelRectifiedFlow(_lora_config(), base_checkpoint=str(base_file))
    assert (
        model.lora.base.fingerprint == from_pt.lora.base.fingerprint
    )  # same weights, same fingerprint


def test_load_consolidated_places_base_keys_on_base_layer(base_file):
    net = tiny()
    net.init_weights()
    lora.inject_lora(net, lora.LoraSpec(rank=2, alpha=2))
    adapters_before = {k: v.clone() for k, v in net.state_dict().items() if lora.is_adapter_key(k)}
    report = load_consolidated(base_file, net=net)
    ref = torch.load(base_file, weights_only=True)
    assert report.net_loaded == len(ref)
    sd = net.state_dict()
    assert torch.equal(
        sd["blocks.0.self_attn.q_proj.base_layer.weight"],
        ref["net.blocks.0.self_attn.q_proj.weight"],
    )
    for k, v in adapters_before.items():  # adapters are never read from a base file
        assert torch.equal(sd[k], v)


def test_load_consolidated_fails_loudly_on_keys_it_cannot_place(tmp_path, base_file):
    net = tiny()
    lora.inject_lora(net, lora.LoraSpec(rank=2, alpha=2))
    sd = torch.load(base_file, weights_only=True)
    sd["net.blocks.0.self_attn.q_proj.lora_A.default.weight"] = torch.zeros(
        2, 64
    )  # adapters in a "base"
    sd["net.blocks.0.self_attn.qq_proj.weight"] = torch.zeros(64, 64)
    bad = tmp_path / "bad.pt"
    torch.save(sd, bad)
    with pytest.raises(CheckpointMismatchError) as err:
        load_consolidated(bad, net=net)
    assert "net.blocks.0.self_attn.qq_proj.weight" in str(err.value)
    assert "net.blocks.0.self_attn.q_proj.lora_A.default.weight" in str(err.value)


def test_save_consolidated_refuses_a_lora_net(tmp_path):
    net = tiny()
    lora.inject_lora(net, lora.LoraSpec(rank=2, alpha=2))
    with pytest.raises(ValueError, match="merged_state_dict"):
        save_consolidated(tmp_path / "x.pt", net=net)


# ---- training: adapters only ---------------------------------------------------------------------


def test_training_moves_adapters_only_and_the_ema_tracks_them(base_file):
    model = Video2WorldModelRectifiedFlow(_lora_config(), base_checkpoint=str(base_file))
    frozen = {n: p.detach().clone() for n, p in model.net.named_parameters() if not p.requires_grad}
    ema_names = [n for n, _ in model.net_ema.named_parameters()]
    assert ema_names == [n for n, p in model.net.named_parameters() if p.requires_grad]
    _train(model, steps=3)
    for n, p in model.net.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    b_weights = [p for n, p in model.net.named_parameters() if ".lora_B." in n]
    assert all(p.abs().sum() > 0 for p in b_weights)  # the adapters learned
    ema = dict(model.net_ema.named_parameters())
    assert any(not torch.equal(ema[n], p) for n, p in model.net.named_parameters() if n in ema)
    regular = {n: p.detach().clone() for n, p in model.net.named_parameters()}
    with model.ema_scope():
        for n, p in model.net.named_parameters():
            assert torch.equal(p, ema[n] if n in ema else regular[n]), n
    for n, p in model.net.named_parameters():
        assert torch.equal(p, regular[n])


# ---- export and inference -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(base_file):
    torch.manual_seed(0)
    model = Video2WorldModelRectifiedFlow(_lora_config(), base_checkpoint=str(base_file))
    _train(model, steps=4, lr=5e-2)
    model.eval()
    return model


def _plain_model(path: Path) -> Video2WorldModelRectifiedFlow:
    model = Video2WorldModelRectifiedFlow(_config(ema=EMAConfig(enabled=False)))
    load_consolidated(path, net=model.net)
    return model.eval()


def test_merged_export_has_the_released_layout_and_equals_the_adapters(trained, tmp_path):
    path = save_consolidated(
        tmp_path / "merged.pt", net=lora_export._StateOnly(lora_export.merged_state_dict(trained.net)), dtype=None
    )
    plain = _plain_model(path)
    assert list(plain.net.state_dict()) == list(tiny().state_dict())
    batch = make_batch(2)
    with torch.no_grad():
        _, loss_lora = trained.validation_step(batch, 0)
        _, loss_merged = plain.validation_step(batch, 0)
    torch.testing.assert_close(loss_merged, loss_lora, rtol=1e-5, atol=1e-6)


def test_merged_key_set_equals_the_released_2B_golden_list():
    sys.path.insert(0, str(ROOT))
    from tests.cosmos_train.nets._fixtures import read_tsv

    _, _, rows = read_tsv("predict2.5_2B_video2world")
    with torch.device("meta"):
        net = presets.build_preset("predict2_5_2B")
        wrapped = lora.inject_lora(
            net, lora.LoraSpec()
        )  # Cosmos's recipe: rank 32 on q/k/v/o + MLP
    assert len(wrapped) == 28 * 10
    merged = lora_export.merged_state_dict(net)
    assert [(k, tuple(v.shape)) for k, v in merged.items()] == [(r[0], r[1]) for r in rows]


def test_adapter_file_is_peft_format_and_round_trips(trained, tmp_path):
    out = lora_export.save_adapter(trained.net, tmp_path / "adapter", trained.lora.spec)
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["peft_type"], config["r"], config["lora_alpha"]) == ("LORA", 4, 8)
    assert sorted(config["target_modules"]) == sorted(COSMOS_TARGETS.split(","))
    from safetensors.torch import load_file

    tensors = load_file(str(out / "adapter_model.safetensors"))
    assert "base_model.model.blocks.0.self_attn.q_proj.lora_A.weight" in tensors
    assert len(tensors) == len([n for n, p in trained.net.named_parameters() if p.requires_grad])
    # PEFT itself reads the file into a PeftModel of the plain net.
    import peft

    peft_config = peft.LoraConfig.from_pretrained(str(out))
    peft_model = peft.PeftModel(tiny(), peft_config)
    result = peft.set_peft_model_state_dict(peft_model, {k: v for k, v in tensors.items()})
    assert not result.unexpected_keys


def test_generate_with_merged_export_equals_unmerged_adapters(trained, tmp_path):
    merged_pt = save_consolidated(
        tmp_path / "merged.pt", net=lora_export._StateOnly(lora_export.merged_state_dict(trained.net)), dtype=None
    )
    adapter = lora_export.save_adapter(trained.net, tmp_path / "adapter", trained.lora.spec)
    base = trained.lora.base.path
    unmerged = _plain_model(Path(base))
    lora_export.apply_loras(unmerged.net, [(adapter, 1.0)])
    merged = _plain_model(merged_pt)
    batch = make_batch(1)
    a = unmerged.generate_samples(batch, num_steps=4, seed=3)
    b = merged.generate_samples(batch, num_steps=4, seed=3)
    assert (a.int() - b.int()).abs().max() <= 1  # uint8 pixels: float rounding may flip one level
    folded = _plain_model(Path(base))
    lora_export.apply_loras(folded.net, [(adapter, 1.0)], merge=True)
    assert not lora.is_lora_net(folded.net)
    c = folded.generate_samples(batch, num_steps=4, seed=3)
    assert (c.int() - b.int()).abs().max() <= 1


def test_several_adapters_add_up_with_their_scales(trained, tmp_path):
    adapter = lora_export.save_adapter(trained.net, tmp_path / "adapter", trained.lora.spec)
    base = Path(trained.lora.base.path)
    delta = {
        k: v - b
        for (k, v), b in zip(
            lora_export.merged_state_dict(trained.net).items(),
            lora_export.merged_state_dict(_plain_model(base).net).values(),
        )
    }
    two = _plain_model(base)
    lora_export.apply_loras(two.net, [(adapter, 0.5), (adapter, 1.5)])  # 0.5 + 1.5 = twice the adapter
    layer = two.net.blocks[0].self_attn.q_proj
    assert sorted(layer.active_adapters) == ["lora0", "lora1"]
    combined = lora_export.merged_state_dict(two.net)
    base_sd = _plain_model(base).net.state_dict()
    for key, value in combined.items():
        torch.testing.assert_close(value, base_sd[key] + 2 * delta[key], rtol=1e-5, atol=1e-6)
    zero = _plain_model(base)
    lora_export.apply_loras(zero.net, [(adapter, 0.0)], merge=True)
    for key, value in zero.net.state_dict().items():
        assert torch.equal(value, base_sd[key])


def test_adapter_for_another_net_is_refused(trained, tmp_path):
    adapter = lora_export.save_adapter(trained.net, tmp_path / "adapter", trained.lora.spec)
    with pytest.raises(ValueError, match="is .* but the net's is"):
        lora_export.apply_loras(tiny(model_channels=96, num_heads=4).eval(), [(adapter, 1.0)])
    with pytest.raises(FileNotFoundError, match="adapter_model.safetensors"):
        lora_export.apply_loras(tiny(), [(tmp_path / "nothing", 1.0)])


@pytest.mark.parametrize("ema", [True, False], ids=["ema", "regular"])
def test_apply_loras_to_a_model_fixes_the_sampling_weights_first(trained, tmp_path, base_file, ema):
    adapter = lora_export.save_adapter(trained.net, tmp_path / "adapter", trained.lora.spec)
    model = Video2WorldModelRectifiedFlow(_config())
    load_consolidated(base_file, net=model.net, net_ema=model.net_ema)
    with torch.no_grad():
        for p in model.net_ema.parameters():
            p.mul_(1.01)  # EMA weights that differ from the regular ones
    chosen = {k: v.clone() for k, v in (model.net_ema if ema else model.net).state_dict().items()}
    lora_export.apply_loras_to_model(model, [(adapter, 0.5)], ema=ema)
    assert model.net_ema is None and not lora.is_lora_net(model.net)
    expected = _plain_model(base_file)
    expected.net.load_state_dict(chosen)
    lora_export.apply_loras(expected.net, [(adapter, 0.5)], merge=True)
    for key, value in model.net.state_dict().items():
        torch.testing.assert_close(value, expected.net.state_dict()[key])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("runs/a", ("runs/a", 1.0)),
        ("runs/a:0.5", ("runs/a", 0.5)),
        ("C:/x/y:2", ("C:/x/y", 2.0)),
        ("weird:name", ("weird:name", 1.0)),
    ],
    ids=["path", "scale", "colon_in_path", "no_scale_after_colon"],
)
def test_parse_lora_arg(text, expected):
    assert lora_export.parse_lora_arg(text) == expected
