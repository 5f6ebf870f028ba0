"""vabatch.tools.dvc: the video list file (render_list / read_list), no dvc involved."""

from __future__ import annotations

import pytest

from vabatch.errors import InputError
from vabatch.tools.dvc import VideoEntry, read_list, render_list

ENTRIES = [
    VideoEntry("ff01", "data/videos/ff/ff01", "source.mkv", 'a "quoted": name #1.mkv',
               "every", 5, "png", None, None),
    VideoEntry("0a9b", "data/videos/0a/0a9b", "source.mp4", "vidéo 你好.mp4", "fps", 1.5,
               "jpeg", 90, 1_700_000_000),
]


def test_render_then_read_gives_the_same_entries(tmp_path):
    path = tmp_path / "dvc-videos.yaml"
    path.write_text(render_list("my data", ENTRIES), encoding="utf-8")
    data, entries = read_list(path)
    assert data == "my data"
    assert entries == {entry.video_id: entry for entry in ENTRIES}


def test_the_list_is_sorted_by_video_id_whatever_the_input_order():
    text = render_list("data", ENTRIES)
    assert text == render_list("data", list(reversed(ENTRIES)))
    assert text.index('"0a9b":') < text.index('"ff01":')
    assert text.splitlines()[2] == 'data: "data"'


def test_an_empty_list_round_trips(tmp_path):
    path = tmp_path / "dvc-videos.yaml"
    text = render_list("data", [])
    assert text.endswith("videos: {}\n")
    path.write_text(text, encoding="utf-8")
    assert read_list(path) == ("data", {})


def test_a_missing_file_is_an_empty_list(tmp_path):
    assert read_list(tmp_path / "absent.yaml") == ("data", {})


def test_a_hand_edited_line_is_refused_with_its_line_number(tmp_path):
    path = tmp_path / "dvc-videos.yaml"
    lines = render_list("data", ENTRIES).splitlines()
    lines[6] = lines[6].replace('"', "")  # a value that is not JSON any more
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"dvc-videos.yaml:7: not a list written by vabatch"):
        read_list(path)


def test_an_entry_missing_a_field_is_refused(tmp_path):
    path = tmp_path / "dvc-videos.yaml"
    text = render_list("data", ENTRIES[:1])
    path.write_text("\n".join(line for line in text.splitlines()
                              if not line.strip().startswith("source:")) + "\n")
    with pytest.raises(InputError, match="video ff01 lacks 'source'"):
        read_list(path)
