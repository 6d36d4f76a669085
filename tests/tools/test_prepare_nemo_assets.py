"""tools/prepare_nemo_assets.py: layout, idempotence, overwrite rules, errors, --help."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cosmos_train.data.local_video import LocalVideoDataset
from cosmos_train.data.video_io import write_mp4

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "prepare_nemo_assets.py"
PROMPT = "A video of sks teal robot."


def load_tool():
    spec = importlib.util.spec_from_file_location("prepare_nemo_assets", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


@pytest.fixture()
def mp4_dir(tmp_path) -> Path:
    src = tmp_path / "raw"
    write_mp4(src / "clip_a.mp4", torch.full((3, 10, 16, 16), 100, dtype=torch.uint8))
    write_mp4(src / "clip_b.mp4", torch.full((3, 4, 16, 16), 50, dtype=torch.uint8))
    (src / "notes.txt").write_text("not a video")
    return src


def run(*argv: str) -> int:
    return tool.main(list(argv))


@pytest.mark.parametrize("mode", ["copy", "symlink", "hardlink"])
def test_builds_the_layout_that_the_dataset_reads(mp4_dir, tmp_path, capsys, mode):
    out = tmp_path / "nemo"
    assert (
        run(
            "--videos-dir",
            str(mp4_dir),
            "--prompt",
            PROMPT,
            "--output-dir",
            str(out),
            "--mode",
            mode,
            "--num-frames",
            "8",
        )
        == 0
    )
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["clip_a.mp4", "clip_b.mp4"]
    assert (out / "metas" / "clip_a.txt").read_text().strip() == PROMPT
    assert ((out / "videos" / "clip_a.mp4").is_symlink()) == (mode == "symlink")
    captured = capsys.readouterr()
    assert "2 added" in captured.out and "clip_b.mp4 has 4 frames < --num-frames 8" in captured.err
    ds = LocalVideoDataset(dataset_dir=out, num_frames=8, video_size=(16, 16), start="first")
    item = ds[0]
    assert item["ai_caption"] == PROMPT and item["__key__"] == "clip_a"


def test_rerun_is_a_no_op_and_changes_need_overwrite(mp4_dir, tmp_path, capsys):
    out = tmp_path / "nemo"
    args = ["--videos-dir", str(mp4_dir), "--output-dir", str(out)]
    assert run(*args, "--prompt", PROMPT) == 0
    assert run(*args, "--prompt", PROMPT) == 0
    assert "0 added, 2 unchanged" in capsys.readouterr().out
    assert run(*args, "--prompt", "another prompt") == 2
    assert "already holds a different caption; pass --overwrite" in capsys.readouterr().err
    assert run(*args, "--prompt", "another prompt", "--overwrite") == 0
    assert (out / "metas" / "clip_b.txt").read_text().strip() == "another prompt"


@pytest.mark.parametrize(
    "make_args, message",
    [
        (
            lambda src, tmp: ["--videos-dir", str(tmp / "missing"), "--prompt", PROMPT],
            "is not a folder",
        ),
        (lambda src, tmp: ["--videos-dir", str(tmp), "--prompt", PROMPT], "no .mp4 files"),
        (lambda src, tmp: ["--videos-dir", str(src), "--prompt", "  "], "--prompt is empty"),
    ],
    ids=["missing-dir", "no-mp4", "empty-prompt"],
)
def test_errors_are_clear(mp4_dir, tmp_path, capsys, make_args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = make_args(mp4_dir, empty) + ["--output-dir", str(tmp_path / "out")]
    assert run(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_help_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, str(TOOL), "--help"], capture_output=True, text=True, check=True
    )
    assert "--videos-dir" in result.stdout and "--prompt" in result.stdout
