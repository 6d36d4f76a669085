"""LoRA runs through the launcher: small checkpoints with a base reference, exact resume, the
fingerprint check, gradient accumulation, start-up errors and the merged/adapter export."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from torch.distributed.checkpoint import FileSystemReader

import lazycfg
from cosmos_train.checkpoint.consolidated import load_consolidated, save_consolidated
from cosmos_train.checkpoint.dcp import CheckpointError
from cosmos_train.launch import launch
from cosmos_train.model import lora, lora_export

ROOT = Path(__file__).resolve().parents[3]
TINY_CPU = str(ROOT / "experiments" / "tiny_cpu.py")


def tiny() -> torch.nn.Module:
    """The net of experiments/tiny_cpu.py (the tiny preset, widened there), the LoRA base here."""
    return lazycfg.instantiate(lazycfg.load(str(ROOT / "experiments" / "tiny_cpu.py")).model.config.net)


def _make_base(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    net = tiny()
    net.init_weights()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return save_consolidated(path, net=net, dtype=None)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return _make_base(tmp_path_factory.mktemp("base") / "base.pt", seed=1)


def _overrides(base: Path, name: str, **extra) -> list[str]:
    values = {
        "job.name": name,
        "model.config.use_lora": "true",
        "model.config.lora_rank": "4",
        "model.config.lora_alpha": "4",
        "checkpoint.load_path": str(base),
        "trainer.max_iter": "4",
        "trainer.logging_iter": "1",
        "trainer.run_validation": "false",
        "checkpoint.save_iter": "2",
        "dataloader_train.batch_size": "2",
        "optimizer.lr": "0.02",
        **extra,
    }
    return [f"{k}={v}" for k, v in values.items()]


def _run(overrides: list[str]) -> dict:
    config = lazycfg.load(TINY_CPU, overrides)
    summary = launch(config)
    job = Path(config.job.path_local)
    rows = [json.loads(line) for line in (job / "metrics.jsonl").read_text().splitlines()]
    return {"summary": summary, "job": job, "rows": [r for r in rows if r.get("split") == "train"]}


def _dcp_tensors(iter_dir: Path, key: str = "model") -> dict[str, torch.Tensor]:
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    out = iter_dir.parent / f"{iter_dir.name}.{key}.pt"
    dcp_to_torch_save(str(iter_dir / key), str(out))
    return torch.load(out, weights_only=False)


@pytest.fixture(scope="module")
def straight(base, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path_factory.mktemp("out")))
    try:
        yield _run(_overrides(base, "straight"))
    finally:
        mp.undo()


def test_checkpoint_holds_adapters_ema_and_a_base_reference(straight, base):
    ckpt = straight["job"] / "checkpoints" / "iter_000000004"
    keys = set(FileSystemReader(str(ckpt / "model")).read_metadata().state_dict_metadata)
    net_keys = {k for k in keys if k.startswith("net.")}
    assert net_keys and all(lora.is_adapter_key(k) for k in net_keys)  # no base weights
    assert {k.replace("net_ema.", "net.", 1) for k in keys if k.startswith("net_ema.")} == net_keys
    optim_keys = FileSystemReader(str(ckpt / "optim")).read_metadata().state_dict_metadata
    assert all(lora.is_adapter_key(k) for k in optim_keys if k.startswith("state."))
    info = json.loads((ckpt / "model_info.json").read_text())
    assert info["base"]["path"] == str(base.resolve()) and info["base"]["kind"] == "consolidated"
    assert info["base"]["fingerprint"] == lora.base_fingerprint(load_plain(base))
    size = sum(f.stat().st_size for f in (ckpt / "model").iterdir())
    assert size < base.stat().st_size / 2  # the base is not copied


def load_plain(path: Path) -> torch.nn.Module:
    net = tiny()
    load_consolidated(path, net=net)
    return net


def test_start_up_log_splits_trainable_and_frozen(base, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    with caplog.at_level(logging.INFO):
        _run(_overrides(base, "count", **{"trainer.max_iter": "1", "checkpoint.save_iter": "1"}))
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("model.net:"))
    assert "trainable" in line and "frozen" in line


def test_exact_resume(straight, base, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    _run(_overrides(base, "resumed", **{"trainer.max_iter": "2"}))
    second = _run(_overrides(base, "resumed"))  # same job: resumes from iter 2
    assert second["summary"]["iteration"] == 4
    a = _dcp_tensors(straight["job"] / "checkpoints" / "iter_000000004")
    b = _dcp_tensors(second["job"] / "checkpoints" / "iter_000000004")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    loss = {r["iteration"]: r["loss"] for r in straight["rows"]}
    for row in second["rows"]:
        assert row["loss"] == loss[row["iteration"]]


def test_resume_refuses_another_base(straight, tmp_path, monkeypatch):
    other = _make_base(tmp_path / "other.pt", seed=2)
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(straight["job"].parents[2]))
    config = lazycfg.load(TINY_CPU, _overrides(other, "straight", **{"trainer.max_iter": "6"}))
    with pytest.raises(CheckpointError, match="trained on base .*base.pt"):
        launch(config)


def test_gradient_accumulation_equals_one_big_batch(base, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    steps = {"trainer.max_iter": "2", "checkpoint.save_iter": "2"}
    big = _run(_overrides(base, "big", **steps))
    accum = _run(
        _overrides(
            base,
            "accum",
            **steps,
            **{"dataloader_train.batch_size": "1", "trainer.grad_accum_iter": "2"},
        )
    )
    a = _dcp_tensors(big["job"] / "checkpoints" / "iter_000000002")
    b = _dcp_tensors(accum["job"] / "checkpoints" / "iter_000000002")
    assert a.keys() == b.keys()
    for key in a:  # Adam turns float-summation noise on tiny gradients into small differences
        torch.testing.assert_close(b[key], a[key], rtol=1e-3, atol=1e-4)
    assert [r["loss"] for r in accum["rows"]] == pytest.approx(
        [r["loss"] for r in big["rows"]], rel=1e-5
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["checkpoint.load_path="], "checkpoint.load_path is empty"),
        (["model.config.lora_target_modules=q_proj,mlp.layr1"], "'mlp.layr1' matches no module"),
    ],
    ids=["no_base", "typo"],
)
def test_start_up_errors_are_config_errors(base, tmp_path, monkeypatch, overrides, message):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    config = lazycfg.load(TINY_CPU, _overrides(base, "bad") + overrides)
    with pytest.raises(lazycfg.ConfigError, match=message):
        launch(config)


def test_random_base_opt_in_trains(tmp_path, monkeypatch, base):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    run = _run(
        _overrides(
            base,
            "random",
            **{
                "checkpoint.load_path": "",
                "model.config.lora_allow_random_base": "true",
                "trainer.max_iter": "2",
            },
        )
    )
    info = json.loads(
        (run["job"] / "checkpoints" / "iter_000000002" / "model_info.json").read_text()
    )
    assert info["base"]["kind"] == "random"


@pytest.mark.parametrize("merged", [True, False], ids=["merged", "adapter"])
def test_export_a_lora_run(straight, tmp_path, merged):
    ckpt = straight["job"] / "checkpoints"
    files = lora_export.export_lora_checkpoint(straight["job"], tmp_path / "out", merged=merged)
    stored = _dcp_tensors(ckpt / "iter_000000004")
    ema = {k[len("net_ema.") :]: v for k, v in stored.items() if k.startswith("net_ema.")}
    regular = {k[len("net.") :]: v for k, v in stored.items() if k.startswith("net.")}
    base = Path(
        json.loads((ckpt / "iter_000000004" / "model_info.json").read_text())["base"]["path"]
    )

    def merged_with(adapters):  # the expected merge, by hand
        net = load_plain(base)
        lora.inject_lora(net, lora.LoraSpec(rank=4, alpha=4))
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name in adapters:
                    p.copy_(adapters[name])
        return lora_export.merged_state_dict(net)

    assert {"config.yaml", "model_info.json"} <= set(files)
    if merged:
        assert set(files) >= {"model.pt", "model_ema_fp32.pt", "model_ema_bf16.pt"}
        model_pt = torch.load(files["model.pt"], weights_only=True)
        ema_fp32 = torch.load(files["model_ema_fp32.pt"], weights_only=True)
        for prefix, adapters, got in (
            ("net.", regular, model_pt),
            ("net_ema.", ema, model_pt),
            ("net.", ema, ema_fp32),
        ):
            expected = merged_with(adapters)
            assert {k for k in got if k.startswith(prefix)} == {prefix + k for k in expected}
            for key, value in expected.items():
                torch.testing.assert_close(got[prefix + key], value)
        load_consolidated(
            files["model_ema_bf16.pt"], net=tiny()
        )  # loads strictly into the plain net
    else:
        net = load_plain(base)
        lora_export.apply_loras(net, [(tmp_path / "out", 1.0)])
        layer = net.blocks[0].self_attn.q_proj
        torch.testing.assert_close(
            layer.lora_B["lora0"].weight, ema["blocks.0.self_attn.q_proj.lora_B.default.weight"]
        )
    with pytest.raises(CheckpointError, match="already exists"):
        lora_export.export_lora_checkpoint(straight["job"], tmp_path / "out", merged=merged)


@pytest.mark.parametrize("policy", ["raise", "skip"])
def test_nonfinite_policy_applies_to_lora_runs(base, tmp_path, monkeypatch, policy):
    """A huge lr blows the adapters up in the first step: later losses are not finite."""
    from cosmos_train.trainer.trainer import NonFiniteError

    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path))
    overrides = _overrides(
        base, f"nan_{policy}", **{"optimizer.lr": "1e30", "trainer.nonfinite": policy}
    )
    if policy == "raise":
        with pytest.raises(NonFiniteError, match="iteration 1"):
            _run(overrides)
        return
    run = _run(overrides)
    assert run["summary"]["skipped_steps"] == 3  # steps 2-4 skipped, never applied
    assert run["summary"]["iteration"] == 4
