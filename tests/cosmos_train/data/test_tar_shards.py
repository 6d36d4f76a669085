"""tar_shards: atomic shard writing, the member index, random-access reads, index.json vs a scan."""

from __future__ import annotations

import json
import tarfile

import pytest

from cosmos_train.data.tar_shards import (
    INDEX_NAME,
    ShardIndex,
    read_member,
    read_tar_index,
    write_shard,
)

SAMPLES = [
    ("a", {"mp4": b"x" * 700, "txt": b"caption a"}),
    ("b", {"mp4": b"", "txt": "é".encode(), "emb.pt": bytes(range(256)) * 3}),
    ("c", {"json": json.dumps({"k": 1}).encode()}),
]


def test_index_matches_a_tar_scan_and_members_read_back(tmp_path):
    entries = write_shard(tmp_path / "s-000000.tar", SAMPLES)
    assert entries == read_tar_index(tmp_path / "s-000000.tar")
    with tarfile.open(tmp_path / "s-000000.tar") as tar:  # a standard tar, webdataset member names
        assert tar.getnames() == ["a.mp4", "a.txt", "b.mp4", "b.txt", "b.emb.pt", "c.json"]
    for (key, members), entry in zip(SAMPLES, entries):
        assert entry["key"] == key
        for ext, data in members.items():
            assert read_member(tmp_path / "s-000000.tar", entry["members"][ext]) == data


def test_a_failing_writer_leaves_no_file(tmp_path):
    def broken():
        yield SAMPLES[0]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_shard(tmp_path / "s-000000.tar", broken())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["", "a/b", ".hidden"], ids=["empty", "slash", "dot"])
def test_bad_keys_are_refused(tmp_path, key):
    with pytest.raises(ValueError, match="sample key"):
        write_shard(tmp_path / "s.tar", [(key, {"txt": b""})])


def test_shard_index_from_index_json_equals_the_scan(tmp_path):
    shards = [
        ("s-000000.tar", write_shard(tmp_path / "s-000000.tar", SAMPLES[:2])),
        ("s-000001.tar", write_shard(tmp_path / "s-000001.tar", SAMPLES[2:])),
    ]
    scanned = ShardIndex(tmp_path)
    ShardIndex.write(tmp_path, shards, meta={"kind": "clips"})
    indexed = ShardIndex(tmp_path)
    assert indexed.entries == scanned.entries and indexed.shard_sizes == scanned.shard_sizes == [
        2,
        1,
    ]
    assert indexed.meta == {"kind": "clips"} and scanned.meta == {}
    assert indexed.read(2, "json") == SAMPLES[2][1]["json"]
    with pytest.raises(KeyError, match="no .mp4 member"):
        indexed.read(2, "mp4")


def test_missing_folder_shard_or_bad_index_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="make_shards.py"):
        ShardIndex(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no samples"):
        ShardIndex(tmp_path)
    ShardIndex.write(tmp_path, [("gone.tar", [{"key": "a", "members": {}}])])
    with pytest.raises(FileNotFoundError, match="missing"):
        ShardIndex(tmp_path)
    (tmp_path / INDEX_NAME).write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a cosmos_train shard index"):
        ShardIndex(tmp_path)
