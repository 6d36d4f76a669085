"""tools/compute_text_embeddings.py: hash mode end to end, pickle format, T5 error paths, --help."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cosmos_train.data.local_video import LocalVideoDataset, load_text_embedding
from cosmos_train.data.video_io import write_mp4

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "compute_text_embeddings.py"

spec = importlib.util.spec_from_file_location("compute_text_embeddings", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


@pytest.fixture()
def dataset_dir(tmp_path) -> Path:
    root = tmp_path / "nemo"
    for stem, caption in [
        ("a", "a teal robot walks"),
        ("b", "a teal robot walks"),
        ("c", "two words"),
    ]:
        write_mp4(root / "videos" / f"{stem}.mp4", torch.zeros(3, 3, 16, 16, dtype=torch.uint8))
        (root / "metas").mkdir(parents=True, exist_ok=True)
        (root / "metas" / f"{stem}.txt").write_text(caption + "\n")
    return root


def test_hash_mode_end_to_end(dataset_dir, capsys):
    argv = [
        "--dataset-dir",
        str(dataset_dir),
        "--encoder",
        "hash",
        "--dim",
        "16",
        "--text-len",
        "6",
        "--subdir",
        "emb",
    ]
    assert tool.main(argv) == 0
    captured = capsys.readouterr()
    assert "NO meaning" in captured.err and "3 written" in captured.out
    saved = torch.load(dataset_dir / "emb" / "a.pt", weights_only=True)
    assert saved["embeddings"].shape == (4, 16) and saved["embeddings"].dtype == torch.float16
    assert saved["semantic"] is False and saved["caption"] == "a teal robot walks"
    assert torch.equal(
        saved["embeddings"],
        torch.load(dataset_dir / "emb" / "b.pt", weights_only=True)["embeddings"],
    )
    ds = LocalVideoDataset(
        dataset_dir=dataset_dir,
        num_frames=3,
        video_size=(16, 16),
        text_embeddings_subdir="emb",
        text_len=6,
        text_dim=16,
    )
    masks = {ds[i]["__key__"]: ds[i]["t5_text_mask"].tolist() for i in range(3)}
    assert masks == {"a": [1, 1, 1, 1, 0, 0], "b": [1, 1, 1, 1, 0, 0], "c": [1, 1, 0, 0, 0, 0]}
    # existing files are kept unless --overwrite
    assert tool.main(argv) == 0 and "0 written, 3 already present" in capsys.readouterr().out


def test_pickle_format_is_cosmos_t5_layout(dataset_dir):
    assert (
        tool.main(
            [
                "--dataset-dir",
                str(dataset_dir),
                "--encoder",
                "hash",
                "--dim",
                "8",
                "--format",
                "pickle",
            ]
        )
        == 0
    )
    emb = load_text_embedding(dataset_dir / "t5_xxl" / "c.pickle")
    assert emb.shape == (2, 8)
    assert (
        tool.main(
            [
                "--dataset-dir",
                str(dataset_dir),
                "--encoder",
                "hash",
                "--format",
                "pickle",
                "--dtype",
                "bfloat16",
                "--overwrite",
            ]
        )
        == 2
    )


def test_t5_without_checkpoint_or_missing_path(dataset_dir, capsys):
    assert tool.main(["--dataset-dir", str(dataset_dir), "--encoder", "t5"]) == 2
    assert "needs --checkpoint" in capsys.readouterr().err
    missing = dataset_dir / "no_such_t5"
    assert (
        tool.main(
            ["--dataset-dir", str(dataset_dir), "--encoder", "t5", "--checkpoint", str(missing)]
        )
        == 2
    )
    assert f"--checkpoint {missing} does not exist" in capsys.readouterr().err


def test_t5_without_transformers_says_how_to_install(dataset_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    ckpt = tmp_path / "t5"
    ckpt.mkdir()
    assert (
        tool.main(["--dataset-dir", str(dataset_dir), "--encoder", "t5", "--checkpoint", str(ckpt)])
        == 2
    )
    assert "pip install transformers sentencepiece" in capsys.readouterr().err


def test_missing_captions_folder(tmp_path, capsys):
    assert tool.main(["--dataset-dir", str(tmp_path), "--encoder", "hash"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "tools/prepare_nemo_assets.py" in err


def test_help_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, str(TOOL), "--help"], capture_output=True, text=True, check=True
    )
    assert "--encoder" in result.stdout and "100352" in result.stdout


# ---- --encoder reason1 (the tiny fixture decoder in Reason1's folder layout)
# ------------------------
from tests.conftest import REASON1_FIXTURE  # noqa: E402


def _reason1_argv(dataset_dir, weights, *extra):
    return [
        "--dataset-dir",
        str(dataset_dir),
        "--encoder",
        "reason1",
        "--weights",
        str(weights),
        "--text-len",
        "32",
        "--dtype",
        "float32",
        "--batch-size",
        "2",
        *extra,
    ]


@pytest.fixture()
def encode_calls(monkeypatch):
    """Counts the captions the Reason1 decoder actually runs on (a spy around the real method)."""
    from cosmos_train.text_encoders.reason1 import Reason1TextEncoder

    calls: list[int] = []
    real = Reason1TextEncoder.encode_ids

    def spy(self, ids):
        calls.append(int(ids.shape[0]))
        return real(self, ids)

    monkeypatch.setattr(Reason1TextEncoder, "encode_ids", spy)
    return calls


def test_reason1_end_to_end(dataset_dir, tiny_reason1_dir, encode_calls, capsys):
    assert tool.main(_reason1_argv(dataset_dir, tiny_reason1_dir)) == 0
    assert "4 written" in capsys.readouterr().out  # a, b, c and the negative prompt
    out = dataset_dir / "reason1_embeddings"
    assert sorted(p.name for p in out.iterdir()) == ["a.pt", "b.pt", "c.pt", "negative_prompt.pt"]
    # "a teal robot walks" (a and b), "two words", the negative prompt
    assert sum(encode_calls) == 3
    assert os.stat(out / "a.pt").st_ino == os.stat(out / "b.pt").st_ino  # one file on disk
    saved = torch.load(out / "c.pt", weights_only=True)
    assert (
        saved["embeddings"].shape == (32, 256)
        and saved["encoder"] == "reason1"
        and saved["semantic"] is True
    )
    # The negative prompt file is exactly the fixture's Cosmos negative-prompt case.
    cases = {
        c["name"]: c for c in torch.load(REASON1_FIXTURE / "cases.pt", weights_only=True)["cases"]
    }
    neg = torch.load(out / "negative_prompt.pt", weights_only=True)
    torch.testing.assert_close(
        neg["embeddings"], cases["negative_prompt"]["expected"], atol=1e-5, rtol=1e-5
    )
    # The dataset reads them untrimmed: all 32 rows are real (Cosmos feeds pads too).
    ds = LocalVideoDataset(
        dataset_dir=dataset_dir,
        num_frames=3,
        video_size=(16, 16),
        text_embeddings_subdir="reason1_embeddings",
        text_len=32,
        text_dim=256,
    )
    item = ds[0]
    assert item["t5_text_mask"].tolist() == [1] * 32
    assert torch.equal(
        item["t5_text_embeddings"],
        torch.load(out / f"{item['__key__']}.pt", weights_only=True)["embeddings"],
    )
    assert not list(out.glob(".*tmp*"))  # atomic writes leave nothing behind


def test_reason1_resume_skips_verified_files_and_redoes_the_rest(
    dataset_dir, tiny_reason1_dir, encode_calls, capsys
):
    argv = _reason1_argv(dataset_dir, tiny_reason1_dir)
    assert tool.main(argv) == 0
    encode_calls.clear()
    assert tool.main(argv) == 0
    assert "0 written, 4 already present" in capsys.readouterr().out and encode_calls == []
    out = dataset_dir / "reason1_embeddings"
    (out / "c.pt").write_bytes((out / "c.pt").read_bytes()[:100])  # an interrupted copy
    (dataset_dir / "metas" / "a.txt").write_text("a new caption")  # a changed caption
    assert tool.main(argv) == 0
    captured = capsys.readouterr()
    assert (
        "2 written, 2 already present" in captured.out
        and captured.err.count("does not verify") == 2
    )
    assert sum(encode_calls) == 2
    assert torch.load(out / "a.pt", weights_only=True)["caption"] == "a new caption"
    assert torch.load(out / "b.pt", weights_only=True)["caption"] == "a teal robot walks"


def test_reason1_reads_cosmos_json_captions(dataset_dir, tiny_reason1_dir):
    import json

    (dataset_dir / "captions").mkdir()
    for stem in "abc":
        (dataset_dir / "captions" / f"{stem}.json").write_text(
            json.dumps({"long": f"long {stem}", "short": stem})
        )
    assert (
        tool.main(
            _reason1_argv(
                dataset_dir, tiny_reason1_dir, "--caption-key", "short", "--no-negative-prompt"
            )
        )
        == 0
    )
    saved = torch.load(dataset_dir / "reason1_embeddings" / "b.pt", weights_only=True)
    assert saved["caption"] == "b"
    assert not (dataset_dir / "reason1_embeddings" / "negative_prompt.pt").exists()


def test_reason1_offline_without_weights_says_what_to_download(
    dataset_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert tool.main(["--dataset-dir", str(dataset_dir), "--encoder", "reason1"]) == 2
    err = capsys.readouterr().err
    assert (
        "hf download nvidia/Cosmos-Reason1-7B --revision 3210bec0495fdc7a8d3dbb8d58da5711eab4b423"
        in err
    )
    assert "Traceback" not in err
