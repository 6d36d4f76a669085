"""LoRA on PEFT: config, target check, build order, frozen base, adapter EMA."""

from __future__ import annotations

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
from cosmos_train.model.config import Video2WorldConfig, Video2WorldRectifiedFlowConfig
from cosmos_train.model.video2world import Video2WorldModelRectifiedFlow
from cosmos_train.nets.presets import tiny

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _lora_helpers import (  # noqa: E402
    COSMOS_TARGETS,
    lora_config,
    make_base_file,
    plain_config,
    train,
)

base_file = pytest.fixture(scope="module", name="base_file")(make_base_file)


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
        plain_config(**{field: 0})


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
        Video2WorldModelRectifiedFlow(lora_config())


def test_random_base_needs_the_opt_in_and_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="cosmos_train.model.lora"):
        model = Video2WorldModelRectifiedFlow(lora_config(lora_allow_random_base=True))
    assert "RANDOMLY INITIALISED base" in caplog.text
    assert model.lora.base.kind == "random" and model.lora.base.path == ""


def test_missing_base_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        Video2WorldModelRectifiedFlow(lora_config(), base_checkpoint=str(tmp_path / "nope.pt"))


def test_base_is_loaded_before_injection_and_frozen(base_file):
    model = Video2WorldModelRectifiedFlow(lora_config(), base_checkpoint=str(base_file))
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

    full = Video2WorldModelRectifiedFlow(plain_config())
    load_consolidated(base_file, net=full.net, net_ema=full.net_ema)
    opt = torch.optim.AdamW(full.net.parameters())
    DCPCheckpointer(job_dir=tmp_path).save(full, opt, None, 5)
    model = Video2WorldModelRectifiedFlow(
        lora_config(), base_checkpoint=str(tmp_path / "checkpoints")
    )
    assert model.lora.base.kind == "dcp" and model.lora.base.path.endswith("iter_000000005")
    from_pt = Video2WorldModelRectifiedFlow(lora_config(), base_checkpoint=str(base_file))
    # same weights, same fingerprint
    assert model.lora.base.fingerprint == from_pt.lora.base.fingerprint


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
    # adapters in a "base"
    sd["net.blocks.0.self_attn.q_proj.lora_A.default.weight"] = torch.zeros(2, 64)
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
    model = Video2WorldModelRectifiedFlow(lora_config(), base_checkpoint=str(base_file))
    frozen = {n: p.detach().clone() for n, p in model.net.named_parameters() if not p.requires_grad}
    ema_names = [n for n, _ in model.net_ema.named_parameters()]
    assert ema_names == [n for n, p in model.net.named_parameters() if p.requires_grad]
    train(model, steps=3)
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
