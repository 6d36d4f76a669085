"""cosmos_train.utils.atomic: the old file or the whole new one, never a partial file."""

from __future__ import annotations

import pytest

from cosmos_train.utils.atomic import atomic_write


def test_writes_through_a_temporary_file(tmp_path):
    seen = []

    def write(tmp):
        seen.append(tmp)
        tmp.write_text("new")

    assert atomic_write(tmp_path / "a.txt", write) == tmp_path / "a.txt"
    assert (tmp_path / "a.txt").read_text() == "new"
    assert seen[0].parent == tmp_path and seen[0].name != "a.txt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")

    def write(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, write)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
