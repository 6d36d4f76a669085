"""tools/make_shards.py: a folder dataset to tar shards; errors are one line, exit 2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from cosmos_train.data.sharded import ShardedVideoDataset
from tests.cosmos_train.data.media import make_folder

TOOL = Path(__file__).resolve().parents[2] / "tools" / "make_shards.py"
spec = importlib.util.spec_from_file_location("make_shards", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_folder_to_shards(tmp_path, capsys):
    folder = make_folder(tmp_path / "ds", [(32, 32)] * 5, frames=5)
    out = tmp_path / "shards"
    argv = [
        "--dataset-dir",
        str(folder),
        "--output",
        str(out),
        "--samples-per-shard",
        "2",
        "--text-embeddings-subdir",
        "emb",
    ]
    assert tool.main(argv) == 0
    assert "5 clips in 3 shards" in capsys.readouterr().out
    ds = ShardedVideoDataset(
        shards_dir=out, num_frames=5, video_size=(16, 16), text_len=4, text_dim=6
    )
    assert ds.shard_sizes == [2, 2, 1] and ds[4]["ai_caption"] == "clip number 4"


def test_missing_folder_is_one_line(tmp_path, capsys):
    assert (
        tool.main(["--dataset-dir", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: dataset folder") and "Traceback" not in err
