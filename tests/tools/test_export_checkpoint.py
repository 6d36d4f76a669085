"""tools/export_checkpoint.py on a 2-step tiny_cpu run (config saved with the checkpoint)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import lazycfg

from ._jobs import train_tiny_job

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory) -> Path:
    return train_tiny_job(tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def export_main():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import export_checkpoint as tool
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return tool.main


def test_export_a_run(job_dir, export_main, tmp_path, capsys) -> None:
    from cosmos_train.checkpoint.consolidated import load_consolidated
    from cosmos_train.inference import load_run

    out = tmp_path / "release"
    assert export_main([str(job_dir), "-o", str(out)]) == 0
    assert "iteration 2" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    config, model = load_run(job_dir, device="cpu")
    assert manifest["config_fingerprint"] == lazycfg.fingerprint(
        lazycfg.load(str(out / "config.yaml"))
    )
    assert (out / "config.yaml").read_text() == (
        job_dir / "checkpoints" / "iter_000000002" / "config.yaml"
    ).read_text()
    assert manifest["param_count"] == sum(p.numel() for p in model.net.parameters())
    assert manifest["source_run"] == str(job_dir.resolve()) and manifest["iteration"] == 2
    # The release file reloads bit-exactly into the run's model.
    _, fresh = load_run(job_dir, device="cpu", checkpoint=out / "model.pt")
    for (key, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), key
    net = lazycfg.instantiate(config.model.config.net)
    load_consolidated(out / "model_ema_bf16.pt", net=net)
    for key, value in net.state_dict().items():
        expected = model.net_ema.state_dict()[key]
        assert torch.equal(
            value, expected.bfloat16().float() if expected.is_floating_point() else expected
        ), key


def test_refuses_overwrite_then_force(job_dir, export_main, tmp_path, capsys) -> None:
    out = tmp_path / "release"
    assert export_main([str(job_dir / "checkpoints"), "-o", str(out), "--no-ema"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "manifest.json", "model.pt"]
    assert export_main([str(job_dir), "-o", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert export_main([str(job_dir), "-o", str(out), "--force"]) == 0
    assert (out / "model_ema_bf16.pt").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["/nonexistent/run", "-o", "x"], "does not exist"),
        ([str(ROOT / "experiments"), "-o", "x"], "is not a checkpoint"),
    ],
    ids=["missing", "not_a_checkpoint"],
)
def test_clear_errors(export_main, capsys, argv, message) -> None:
    assert export_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
