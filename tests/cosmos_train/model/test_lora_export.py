"""LoRA export and inference: merged weights, PEFT adapter files, several adapters at once."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from cosmos_train.checkpoint.consolidated import load_consolidated, save_consolidated
from cosmos_train.model import lora, lora_export
from cosmos_train.model.config import EMAConfig
from cosmos_train.model.video2world import Video2WorldModelRectifiedFlow
from cosmos_train.nets import presets
from cosmos_train.nets.presets import tiny

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _lora_helpers import (  # noqa: E402
    COSMOS_TARGETS,
    ROOT,
    lora_config,
    make_base_file,
    plain_config,
    train,
)
from test_video2world import make_batch  # noqa: E402

base_file = pytest.fixture(scope="module", name="base_file")(make_base_file)


@pytest.fixture(scope="module")
def trained(base_file):
    torch.manual_seed(0)
    model = Video2WorldModelRectifiedFlow(lora_config(), base_checkpoint=str(base_file))
    train(model, steps=4, lr=5e-2)
    model.eval()
    return model


def _plain_model(path: Path) -> Video2WorldModelRectifiedFlow:
    model = Video2WorldModelRectifiedFlow(plain_config(ema=EMAConfig(enabled=False)))
    load_consolidated(path, net=model.net)
    return model.eval()


def test_merged_export_has_the_released_layout_and_equals_the_adapters(trained, tmp_path):
    path = save_consolidated(
        tmp_path / "merged.pt",
        net=lora_export._StateOnly(lora_export.merged_state_dict(trained.net)),
        dtype=None,
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
        # Cosmos's recipe: rank 32 on q/k/v/o + MLP
        wrapped = lora.inject_lora(net, lora.LoraSpec())
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
        tmp_path / "merged.pt",
        net=lora_export._StateOnly(lora_export.merged_state_dict(trained.net)),
        dtype=None,
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
    # 0.5 + 1.5 = twice the adapter
    lora_export.apply_loras(two.net, [(adapter, 0.5), (adapter, 1.5)])
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
    model = Video2WorldModelRectifiedFlow(plain_config())
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


@pytest.mark.parametrize("name", lora_export.__all__)
def test_export_names_stay_importable_from_lora(name):
    """tools/generate.py, tools/export_checkpoint.py and the README use ``lora.<name>``."""
    assert getattr(lora, name) is getattr(lora_export, name)


def test_unknown_lora_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        lora.no_such_name  # noqa: B018
