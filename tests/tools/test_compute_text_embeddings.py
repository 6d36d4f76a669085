"""tools/compute_text_embeddings.py: hash mode end to end, pickle format, T5 error paths, --help."""

from __future__ import annotations

import importlib.util
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
    for stem, caption in [("a", "a teal robot walks"), ("b", "a teal robot walks"), ("c", "two words")]:
        write_mp4(root / "videos" / f"{stem}.mp4", torch.zeros(3, 3, 16, 16, dtype=torch.uint8))
        (root / "metas").mkdir(parents=True, exist_ok=True)
        (root / "metas" / f"{stem}.txt").write_text(caption + "\n")
    return root


def test_hash_mode_end_to_end(dataset_dir, capsys):
    argv = ["--dataset-dir", str(dataset_dir), "--encoder", "hash", "--dim", "16", "--text-len", "6",
            "--subdir", "emb"]
    assert tool.main(argv) == 0
    captured = capsys.readouterr()
    assert "NO meaning" in captured.err and "3 written" in captured.out
    saved = torch.load(dataset_dir / "emb" / "a.pt", weights_only=True)
    assert saved["embeddings"].shape == (4, 16) and saved["embeddings"].dtype == torch.float16
    assert saved["semantic"] is False and saved["caption"] == "a teal robot walks"
    assert torch.equal(saved["embeddings"], torch.load(dataset_dir / "emb" / "b.pt", weights_only=True)["embeddings"])
    ds = LocalVideoDataset(dataset_dir=dataset_dir, num_frames=3, video_size=(16, 16),
                           text_embeddings_subdir="emb", text_len=6, text_dim=16)
    masks = {ds[i]["__key__"]: ds[i]["t5_text_mask"].tolist() for i in range(3)}
    assert masks == {"a": [1, 1, 1, 1, 0, 0], "b": [1, 1, 1, 1, 0, 0], "c": [1, 1, 0, 0, 0, 0]}
    # existing files are kept unless --overwrite
    assert tool.main(argv) == 0 and "0 written, 3 already present" in capsys.readouterr().out


def test_pickle_format_is_cosmos_t5_layout(dataset_dir):
    assert tool.main(["--dataset-dir", str(dataset_dir), "--encoder", "hash", "--dim", "8",
                      "--format", "pickle"]) == 0
    emb = load_text_embedding(dataset_dir / "t5_xxl" / "c.pickle")
    assert emb.shape == (2, 8)
    assert tool.main(["--dataset-dir", str(dataset_dir), "--encoder", "hash", "--format", "pickle",
                      "--dtype", "bfloat16", "--overwrite"]) == 2


def test_t5_without_checkpoint_or_missing_path(dataset_dir, capsys):
    assert tool.main(["--dataset-dir", str(dataset_dir), "--encoder", "t5"]) == 2
    assert "needs --checkpoint" in capsys.readouterr().err
    missing = dataset_dir / "no_such_t5"
    assert tool.main(["--dataset-dir", str(dataset_dir), "--encoder", "t5", "--checkpoint", str(missing)]) == 2
    assert f"--checkpoint {missing} does not exist" in capsys.readouterr().err


def test_t5_without_transformers_says_how_to_install(dataset_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    ckpt = tmp_path / "t5"
    ckpt.mkdir()
    assert tool.main(["--dataset-dir", str(dataset_dir), "--encoder", "t5", "--checkpoint", str(ckpt)]) == 2
    assert "pip install transformers sentencepiece" in capsys.readouterr().err


def test_missing_captions_folder(tmp_path, capsys):
    assert tool.main(["--dataset-dir", str(tmp_path), "--encoder", "hash"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "tools/prepare_nemo_assets.py" in err


def test_help_runs_as_a_script():
    result = subprocess.run([sys.executable, str(TOOL), "--help"], capture_output=True, text=True, check=True)
    assert "--encoder" in result.stdout and "100352" in result.stdout
