"""Weights by name, fully offline: a Hugging Face hub cache laid out on disk by the test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from cosmos_train.checkpoint.hub import (
    CATALOGUE,
    WeightsNotFoundError,
    is_released_spec,
    parse_weights_spec,
    resolve_weights,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
POST_2B = "nvidia/Cosmos-Predict2.5-2B/base/post-trained"
REASON1 = CATALOGUE["nvidia/Cosmos-Reason1.1-7B"]


def lay_out(cache: Path, repo_id: str, revision: str, files: dict[str, bytes | Path]) -> Path:
    """``models--ORG--REPO/{blobs,refs,snapshots}`` as huggingface_hub writes it; the snapshot."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = revision if len(revision) == 40 else COMMIT
    if commit != revision:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / revision).write_text(commit)
    snapshot = repo / "snapshots" / commit
    for name, content in files.items():
        blob = repo / "blobs" / f"blob{abs(hash(name))}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, blob)
        else:
            blob.write_bytes(content)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    return snapshot


@pytest.fixture()
def offline_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf" / "hub"


def test_catalogue_name_resolves_from_the_cache(offline_home):
    entry = CATALOGUE[POST_2B]
    assert (entry.repo_id, entry.revision) == ("nvidia/Cosmos-Predict2.5-2B", "main")
    snapshot = lay_out(offline_home, entry.repo_id, "main", {entry.filename: b"net"})
    path = resolve_weights(POST_2B)
    assert path == snapshot / entry.filename and path.read_bytes() == b"net"
    # The UUID of Cosmos's database and the hf:// spec name the same file.
    assert resolve_weights("81edfebe-bd6a-4039-8c1d-737df1a790bf") == path
    assert resolve_weights(f"hf://nvidia/Cosmos-Predict2.5-2B/{entry.filename}") == path


def test_pinned_revision_and_whole_snapshot(offline_home):
    snapshot = lay_out(
        offline_home,
        REASON1.repo_id,
        REASON1.revision,
        {"config.json": b"{}", "a.safetensors": b"x"},
    )
    assert resolve_weights("nvidia/Cosmos-Reason1.1-7B") == snapshot
    assert (
        resolve_weights(f"hf://nvidia/Cosmos-Reason1-7B/config.json@{REASON1.revision}")
        == snapshot / "config.json"
    )


def test_hf_hub_cache_wins_over_hf_home(offline_home, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("HF_HUB_CACHE", str(other))
    snapshot = lay_out(other, "org/repo", "v1", {"w.pt": b"1"})
    assert resolve_weights("hf://org/repo/w.pt@v1") == snapshot / "w.pt"


def test_offline_and_uncached_says_what_to_download_and_where(offline_home):
    entry = CATALOGUE[POST_2B]
    with pytest.raises(WeightsNotFoundError) as err:
        resolve_weights(POST_2B, what="checkpoint.load_path")
    msg = str(err.value)
    assert msg.startswith(f"checkpoint.load_path={POST_2B!r}")
    assert "HF_HUB_OFFLINE is set and it is not in the hub cache" in msg
    assert f"hf download nvidia/Cosmos-Predict2.5-2B {entry.filename} --revision main" in msg
    assert str(offline_home / "models--nvidia--Cosmos-Predict2.5-2B" / "snapshots") in msg


def test_offline_snapshot_lists_excludes(offline_home):
    with pytest.raises(
        WeightsNotFoundError,
        match=r"hf download google-t5/t5-11b --revision 90f3.* --exclude 'tf_model.h5'",
    ):
        resolve_weights("google-t5/t5-11b")


def test_local_paths_pass_through_and_unknown_names_list_the_catalogue(tmp_path):
    f = tmp_path / "model.pt"
    f.write_bytes(b"")
    assert resolve_weights(str(f)) == f
    with pytest.raises(WeightsNotFoundError, match=r"neither an existing file.*Wan2\.1/vae"):
        resolve_weights(str(tmp_path / "nope.pt"))


@pytest.mark.parametrize(
    "spec", ["hf://onlyorg", "hf://org/repo@"], ids=["no_repo", "empty_revision"]
)
def test_malformed_specs(spec):
    with pytest.raises(WeightsNotFoundError, match="hf://ORG/REPO"):
        resolve_weights(spec)


@pytest.mark.parametrize(
    "spec, released",
    [
        (POST_2B, True),
        ("hf://a/b/c.pt", True),
        ("/x/model_ema_bf16.pt", True),
        ("/job/checkpoints/iter_000000200", False),
        ("", False),
    ],
    ids=["catalogue", "hf", "consolidated_pt", "dcp_dir", "empty"],
)
def test_is_released_spec(spec, released):
    assert is_released_spec(spec) is released


def test_catalogue_matches_cosmos_checkpoint_db():
    """Names, repositories, revisions, files: cosmos-predict2.5's checkpoint_db.py @ 50369b8."""
    expect = {
        "nvidia/Cosmos-Predict2.5-2B/base/pre-trained": (
            "nvidia/Cosmos-Predict2.5-2B",
            "main",
            "base/pre-trained/d20b7120-df3e-4911-919d-db6e08bad31c_ema_bf16.pt",
        ),
        "nvidia/Cosmos-Predict2.5-14B/base/pre-trained": (
            "nvidia/Cosmos-Predict2.5-14B",
            "main",
            "base/pre-trained/54937b8c-29de-4f04-862c-e67b04ec41e8_ema_bf16.pt",
        ),
        "Wan2.1/vae": (
            "nvidia/Cosmos-Predict2.5-2B",
            "6787e176dce74a101d922174a95dba29fa5f0c55",
            "tokenizer.pth",
        ),
        "nvidia/Cosmos-Reason1.1-7B": (
            "nvidia/Cosmos-Reason1-7B",
            "3210bec0495fdc7a8d3dbb8d58da5711eab4b423",
            None,
        ),
    }
    for name, (repo, rev, filename) in expect.items():
        hub = parse_weights_spec(name)
        assert (hub.repo_id, hub.revision, hub.filename) == (repo, rev, filename)


def test_reason1_encoder_loads_by_hf_spec_offline(offline_home, tiny_reason1_dir):
    from cosmos_train.text_encoders import Reason1TextEncoder

    files = {p.name: p for p in tiny_reason1_dir.iterdir()}
    lay_out(offline_home, "nvidia/Cosmos-Reason1-7B", REASON1.revision, files)
    enc = Reason1TextEncoder(weights="nvidia/Cosmos-Reason1.1-7B", max_length=32, dtype="float32")
    assert enc.embed_dim == 256 and enc.encode(["A red car drives."]).shape == (1, 32, 256)


def test_wan_vae_by_name_offline(offline_home, tmp_path):
    from cosmos_train.tokenizers.wan21 import Wan21VAE

    tiny = dict(dim=8, dim_mult=(1, 1, 1, 1), num_res_blocks=1, dtype="float32")
    weights = tmp_path / "vae.pth"
    saved = Wan21VAE(**tiny).model.state_dict()
    torch.save(saved, weights)
    lay_out(
        offline_home,
        "nvidia/Cosmos-Predict2.5-2B",
        CATALOGUE["Wan2.1/vae"].revision,
        {"tokenizer.pth": weights},
    )
    loaded = Wan21VAE(ckpt_path="Wan2.1/vae", **tiny).model.state_dict()
    assert loaded.keys() == saved.keys() and all(torch.equal(loaded[k], saved[k]) for k in saved)
