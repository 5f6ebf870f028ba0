"""fsutil: names read from data are never paths; atomic writes leave no temporary file."""

from __future__ import annotations

import pytest

from vabatch.fsutil import UnsafeNameError, atomic_write, child_path


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/b", "..", ".", "", "a\\b",
                                  "a\x00b", None, 3, ["x"]])
def test_child_path_refuses_anything_but_a_plain_name(tmp_path, name):
    with pytest.raises(UnsafeNameError):
        child_path(tmp_path, name)


@pytest.mark.parametrize("name", ["video.db", ".migrate-rollback.tmp", "source.mp4", "..a"])
def test_child_path_accepts_a_plain_name(tmp_path, name):
    assert child_path(tmp_path, name) == tmp_path / name


def test_atomic_write_replaces_whole_and_skips_an_equal_file(tmp_path):
    path = tmp_path / "list.yaml"
    assert atomic_write(path, "one\n") is True
    assert path.read_text() == "one\n"
    stamp = path.stat().st_mtime_ns
    assert atomic_write(path, b"one\n", unless_equal=True) is False
    assert path.stat().st_mtime_ns == stamp
    assert atomic_write(path, "two\n", unless_equal=True) is True
    assert path.read_text() == "two\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.yaml"]  # no temporary left
