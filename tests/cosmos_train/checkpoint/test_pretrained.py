"""Never silently random: released net weights need real VAE and text-encoder weights."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import lazycfg
from cosmos_train.checkpoint.pretrained import check_pretrained_parts, random_parts

NEMO = str(Path(__file__).resolve().parents[3] / "experiments" / "2b_nemo.py")


def _load(*overrides: str):
    return lazycfg.load(NEMO, list(overrides))


def test_the_released_recipe_names_every_part():
    cfg = _load()
    assert cfg.checkpoint.load_path == "nvidia/Cosmos-Predict2.5-2B/base/post-trained"
    assert cfg.model.config.tokenizer.ckpt_path == "Wan2.1/vae"
    assert cfg.model.config.text_encoder.weights == "nvidia/Cosmos-Reason1.1-7B"
    assert random_parts(cfg) == []
    check_pretrained_parts(cfg)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["model.config.tokenizer.ckpt_path=''"], "model.config.tokenizer.ckpt_path"),
        (["model.config.text_encoder.weights=''"], "model.config.text_encoder.weights"),
        (["text_encoder=hash"], "model.config.text_encoder"),
        (
            [
                "checkpoint.load_path=/ckpts/model_ema_bf16.pt",
                "model.config.tokenizer.ckpt_path=''",
            ],
            "model.config.tokenizer.ckpt_path",
        ),
    ],
    ids=["vae", "reason1", "hash", "local_pt"],
)
def test_random_part_next_to_released_weights_stops(overrides, key):
    with pytest.raises(lazycfg.ConfigError) as err:
        check_pretrained_parts(_load(*overrides))
    assert err.value.path == key
    assert key in str(err.value) and "allow_random=True" in str(err.value)


@pytest.mark.parametrize(
    "overrides, part",
    [
        (
            ["model.config.tokenizer.ckpt_path=''", "model.config.tokenizer.allow_random=true"],
            "model.config.tokenizer",
        ),
        (
            ["text_encoder=hash", "model.config.text_encoder.allow_random=true"],
            "model.config.text_encoder",
        ),
    ],
    ids=["vae", "hash"],
)
def test_allow_random_is_the_way_past_and_is_logged(overrides, part, caplog):
    with caplog.at_level(logging.WARNING, logger="cosmos_train.checkpoint.pretrained"):
        check_pretrained_parts(_load(*overrides))
    assert f"{part} is RANDOM" in caplog.text and f"{part}.allow_random=True" in caplog.text


@pytest.mark.parametrize(
    "load_path", ["''", "/job/checkpoints/iter_000000200"], ids=["scratch", "own_dcp"]
)
def test_runs_without_released_weights_are_not_checked(load_path):
    check_pretrained_parts(
        _load(
            f"checkpoint.load_path={load_path}",
            "model.config.tokenizer.ckpt_path=''",
            "text_encoder=hash",
        )
    )


def test_inference_passes_the_net_weights_explicitly():
    cfg = _load("checkpoint.load_path=''", "model.config.tokenizer.ckpt_path=''")
    with pytest.raises(lazycfg.ConfigError, match="inference loads released net weights"):
        check_pretrained_parts(
            cfg, net_weights="nvidia/Cosmos-Predict2.5-2B/base/pre-trained", context="inference"
        )


def test_train_cli_stops_before_building(tmp_path, monkeypatch, capsys):
    """tools/train.py: one error line naming the key, exit 2, before data or weights are touched."""
    import importlib.util

    monkeypatch.chdir(tmp_path)  # no dataset here: the weights check comes first
    spec = importlib.util.spec_from_file_location(
        "train_tool", Path(NEMO).parents[1] / "tools" / "train.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path / "out"))
    assert (
        tool.main([NEMO, "model.config.fsdp_shard_size=1", "model.config.tokenizer.ckpt_path=''"])
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "model.config.tokenizer.ckpt_path: set model.config.tokenizer.ckpt_path=Wan2.1/vae" in err
    )
    assert "Traceback" not in err
