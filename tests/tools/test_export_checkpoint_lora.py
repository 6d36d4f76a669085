"""tools/export_checkpoint.py on a LoRA run: --lora merged / adapter, and the refusals."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import lazycfg
from cosmos_train.checkpoint.consolidated import load_consolidated, save_consolidated

ROOT = Path(__file__).resolve().parents[2]


def tiny() -> torch.nn.Module:
    """The net of experiments/tiny_cpu.py (the tiny preset, widened there), the LoRA base here."""
    return lazycfg.instantiate(
        lazycfg.load(str(ROOT / "experiments" / "tiny_cpu.py")).model.config.net
    )


def _tool():
    spec = importlib.util.spec_from_file_location(
        "export_checkpoint_tool", ROOT / "tools" / "export_checkpoint.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lora_job(tmp_path_factory) -> Path:
    from cosmos_train.launch import launch

    out = tmp_path_factory.mktemp("out")
    net = tiny()
    net.init_weights()
    base = save_consolidated(out / "base.pt", net=net, dtype=None)
    mp = pytest.MonkeyPatch()
    mp.setenv("IMAGINAIRE_OUTPUT_ROOT", str(out))
    try:
        cfg = lazycfg.load(
            str(ROOT / "experiments" / "tiny_cpu.py"),
            [
                "job.name=lora",
                "model.config.use_lora=true",
                "model.config.lora_rank=4",
                f"checkpoint.load_path={base}",
                "trainer.max_iter=2",
                "trainer.run_validation=false",
                "checkpoint.save_iter=2",
                "~trainer.callbacks.every_n_sample_reg",
                "~trainer.callbacks.every_n_sample_ema",
            ],
        )
        launch(cfg)
        return Path(cfg.job.path_local)
    finally:
        mp.undo()


def test_lora_merged_writes_the_release_files(lora_job, tmp_path, capsys):
    assert _tool().main([str(lora_job), "-o", str(tmp_path / "merged"), "--lora", "merged"]) == 0
    names = {p.name for p in (tmp_path / "merged").iterdir()}
    assert {
        "model.pt",
        "model_ema_fp32.pt",
        "model_ema_bf16.pt",
        "config.yaml",
        "model_info.json",
    } <= names
    report = load_consolidated(
        tmp_path / "merged" / "model.pt", net=tiny(), net_ema=tiny(), ema="load"
    )
    assert report.net_loaded == report.ema_loaded == len(tiny().state_dict())
    assert "exported LoRA checkpoint" in capsys.readouterr().out


def test_lora_adapter_writes_peft_files(lora_job, tmp_path):
    assert _tool().main([str(lora_job), "-o", str(tmp_path / "adapter"), "--lora", "adapter"]) == 0
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()


def test_lora_run_without_lora_flag_is_refused(lora_job, tmp_path, capsys):
    assert _tool().main([str(lora_job), "-o", str(tmp_path / "x")]) == 2
    assert "--lora merged" in capsys.readouterr().err
    from cosmos_train.checkpoint.dcp import CheckpointError
    from cosmos_train.checkpoint.export import export_checkpoint

    with pytest.raises(CheckpointError, match="LoRA run"):
        export_checkpoint(lora_job, tmp_path / "y")


def test_lora_flag_on_a_full_run_is_refused(tmp_path, capsys, monkeypatch):
    from cosmos_train.launch import launch

    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    cfg = lazycfg.load(
        str(ROOT / "experiments" / "tiny_cpu.py"),
        [
            "job.name=full",
            "trainer.max_iter=1",
            "trainer.run_validation=false",
            "checkpoint.save_iter=1",
            "~trainer.callbacks.every_n_sample_reg",
            "~trainer.callbacks.every_n_sample_ema",
        ],
    )
    launch(cfg)
    assert _tool().main([cfg.job.path_local, "-o", str(tmp_path / "x"), "--lora", "merged"]) == 2
    assert "not a LoRA run" in capsys.readouterr().err
