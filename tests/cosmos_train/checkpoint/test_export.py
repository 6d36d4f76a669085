"""export_checkpoint: Cosmos's release files from DCP checkpoints, streamed, atomic, bit-exact."""

from __future__ import annotations

import json

import pytest
import torch
import torch.distributed.checkpoint as dcp

from cosmos_train.checkpoint import export as export_mod
from cosmos_train.checkpoint.consolidated import load_consolidated
from cosmos_train.checkpoint.dcp import CheckpointError, DCPCheckpointer
from cosmos_train.checkpoint.export import export_checkpoint
from cosmos_train.model.toy import toy_components
from cosmos_train.nets import presets
from cosmos_train.trainer.trainer import Trainer
from tests.cosmos_train.nets._fixtures import read_tsv


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A toy run (net + EMA) trained 2 steps with a DCP checkpoint at iteration 2."""
    job = tmp_path_factory.mktemp("job")
    model, opt, sched, loader = toy_components(batch_size=2, dataset_length=8)
    trainer = Trainer(max_iter=2, job_dir=job, logging_iter=1, tensorboard=False)
    trainer.fit(model, opt, sched, loader, checkpointer=DCPCheckpointer(job_dir=job, save_iter=2))
    return job, model


def _fresh():
    model, _, _, _ = toy_components(batch_size=2, dataset_length=8)
    return model


def test_release_files_reload_bit_exactly(trained, tmp_path) -> None:
    job, model = trained
    result = export_checkpoint(job, tmp_path / "out")
    assert sorted(result.files) == [
        "manifest.json",
        "model.pt",
        "model_ema_bf16.pt",
        "model_ema_fp32.pt",
    ]
    state = model.state_dict()
    full = torch.load(result.files["model.pt"], weights_only=True)
    assert list(full) == list(state)  # Cosmos's model.pt: net.* then net_ema.*, in state_dict order

    fresh = _fresh()
    load_consolidated(result.files["model.pt"], net=fresh.net, net_ema=fresh.net_ema, ema="load")
    for key, value in fresh.state_dict().items():
        assert value.dtype == state[key].dtype and torch.equal(value, state[key]), key

    ema_fp32 = torch.load(result.files["model_ema_fp32.pt"], weights_only=True)
    ema_bf16 = torch.load(result.files["model_ema_bf16.pt"], weights_only=True)
    ema_state = model.net_ema.state_dict()
    assert list(ema_fp32) == list(ema_bf16) == [f"net.{k}" for k in ema_state]
    for key, value in ema_state.items():
        assert torch.equal(ema_fp32[f"net.{key}"], value), key
        want = value.bfloat16() if value.dtype == torch.float32 else value
        assert ema_bf16[f"net.{key}"].dtype == want.dtype and torch.equal(
            ema_bf16[f"net.{key}"], want
        ), key
    # The EMA-only file loads as the net (what inference does with the released files).
    ema_only = _fresh()
    load_consolidated(result.files["model_ema_fp32.pt"], net=ema_only.net)
    for key, value in ema_only.net.state_dict().items():
        assert torch.equal(value, ema_state[key]), key


def test_exported_files_start_a_run(trained, tmp_path) -> None:
    """checkpoint.load_path=model.pt restores net and net_ema (model only, no optimizer state)."""
    job, model = trained
    files = export_checkpoint(job, tmp_path / "out").files
    fresh, opt, sched, _ = toy_components(batch_size=2, dataset_length=8)
    assert (
        DCPCheckpointer(job_dir=tmp_path / "new", load_path=str(files["model.pt"])).load(
            fresh, opt, sched
        )
        == 0
    )
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key
    assert not opt.state


def test_manifest(trained, tmp_path) -> None:
    job, model = trained
    result = export_checkpoint(job / "checkpoints" / "iter_000000002", tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest == result.manifest
    assert manifest["iteration"] == 2 and manifest["has_ema"] is True
    assert manifest["source_run"] == str(job.resolve())
    assert manifest["key_count"] == len(model.net.state_dict())
    assert manifest["net_numel"] == sum(v.numel() for v in model.net.state_dict().values())
    assert manifest["config_fingerprint"] is None  # this toy run saved no config
    import hashlib

    for name, info in manifest["files"].items():
        assert (
            hashlib.sha256((tmp_path / "out" / name).read_bytes()).hexdigest() == info["sha256"]
        ), name
    assert manifest["files"]["model_ema_bf16.pt"]["dtypes"] == ["bfloat16"]


def test_streaming_in_small_chunks_writes_the_same_bytes(trained, tmp_path, monkeypatch) -> None:
    """One tensor at a time (budget of 1 byte) gives byte-identical files to a single chunk."""
    job, _ = trained
    loads: list[int] = []
    real_load = dcp.load

    def counting_load(state, **kwargs):
        loads.append(len(state))
        return real_load(state, **kwargs)

    monkeypatch.setattr(export_mod.dcp, "load", counting_load)
    small = export_checkpoint(job, tmp_path / "small", chunk_bytes=1)
    assert set(loads) == {1} and len(loads) == len(
        torch.load(small.files["model.pt"], weights_only=True)
    )
    loads.clear()
    big = export_checkpoint(job, tmp_path / "big", chunk_bytes=1 << 30)
    assert len(loads) == 1
    for name in ("model.pt", "model_ema_fp32.pt", "model_ema_bf16.pt"):
        assert small.files[name].read_bytes() == big.files[name].read_bytes(), name


def test_refuses_to_overwrite_without_force_and_is_atomic(trained, tmp_path, monkeypatch) -> None:
    job, _ = trained
    out = tmp_path / "out"
    first = export_checkpoint(job, out, ema=False)
    assert sorted(first.files) == ["manifest.json", "model.pt"]
    with pytest.raises(CheckpointError, match="already exists; pass --force"):
        export_checkpoint(job, out)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(export_mod, "_fill", crash)
    with pytest.raises(OSError, match="disk full"):
        export_checkpoint(job, out, force=True)
    # The failed export left the previous one intact and no temporary directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / "model.pt").read_bytes() == first.files["model.pt"].read_bytes()
    monkeypatch.undo()
    again = export_checkpoint(job, out, force=True)
    assert "model_ema_fp32.pt" in again.files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: root, "is not a checkpoint"),
    ],
    ids=["missing", "not_a_checkpoint"],
)
def test_bad_sources_are_clear_errors(tmp_path, make, message) -> None:
    with pytest.raises(CheckpointError, match=message):
        export_checkpoint(make(tmp_path), tmp_path / "out")


def test_released_2b_layout(tmp_path) -> None:
    """The released Predict2.5-2B key list (names, order, dtypes) on a narrow 28-block copy."""
    torch.manual_seed(0)
    net = presets.predict2_5_2B(
        model_channels=32,
        num_heads=2,
        crossattn_proj_in_channels=16,
        crossattn_emb_channels=16,
        adaln_lora_dim=8,
    )
    state = {
        f"{prefix}.{k}": v.clone()
        for prefix in ("net", "net_ema")
        for k, v in net.state_dict().items()
    }
    dcp.save(state, checkpoint_id=str(tmp_path / "iter_000000007" / "model"), no_dist=True)
    result = export_checkpoint(tmp_path / "iter_000000007", tmp_path / "out")
    _, _, rows = read_tsv("predict2.5_2B_video2world")
    golden = [(f"net.{key}", dtype) for key, _, dtype, _ in rows]
    full = torch.load(result.files["model.pt"], weights_only=True, mmap=True)
    want_full = golden + [(k.replace("net.", "net_ema.", 1), d) for k, d in golden]
    assert [(k, str(v.dtype).removeprefix("torch.")) for k, v in full.items()] == want_full
    bf16 = torch.load(result.files["model_ema_bf16.pt"], weights_only=True, mmap=True)
    want_bf16 = [(k, "bfloat16" if d == "float32" else d) for k, d in golden]
    assert [(k, str(v.dtype).removeprefix("torch.")) for k, v in bf16.items()] == want_bf16
    assert result.manifest["iteration"] == 7 and result.manifest["key_count"] == len(rows)
