"""The caption edit API (vabatch.tools.annotate.edits) on real files: a tiny ingested video
whose captions.db holds automatic rows as the captions stage writes them; every edit, undo,
the errors, and a captions.db hard-linked like DVC's cache is never written in place."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from testkit.databases import add_ocr_rows
from testkit.videos import make_video
from vabatch.db import VideoDatabase
from vabatch.errors import InputError
from vabatch.media import Sampling
from vabatch.stages.ingest import IngestOptions, ingest_file
from vabatch.tools.annotate.edits import CaptionEditor, EditError, set_box_label
from vabatch.tools.export import load_captions_checked
from vabatch.tools.status import video_status

FPS = 25
FRAMES = 75  # 3 s
# (start, end, text, confidence, agreement) of the automatic captions
AUTO = [(5, 20, "first line", 0.95, 1.0), (20, 40, "second line", 0.7, 0.5),
        (50, 70, "third line", 0.9, 0.8)]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("edits")
    video = make_video(folder / "clip.mp4", seconds=FRAMES / FPS, fps=FPS)
    result = ingest_file(video, folder / "data", IngestOptions(Sampling("fps", 5.0)))
    return Path(result.video_dir)


@pytest.fixture
def video_dir(ingested, tmp_path) -> Path:
    """A copy of the ingested video with automatic captions, as the captions stage writes
    them (times from the frames' own timestamps)."""
    target = tmp_path / ingested.name
    target.mkdir()
    for name in ("video.db",):
        (target / name).write_bytes((ingested / name).read_bytes())
    with VideoDatabase(target, write="captions", require=("video",)) as db, db.conn:
        for start, end, text, confidence, agreement in AUTO:
            db.execute("INSERT INTO captions.captions (start_frame_index, end_frame_index,"
                       " start_ms, end_ms, text, confidence, agreement, readings, source)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, 2, 'auto')",
                       (start, end, start * 40, end * 40, text, confidence, agreement))
    return target


def rows(video_dir: Path) -> list[tuple]:
    with VideoDatabase(video_dir, require=("captions",)) as db:
        return db.execute("SELECT id, start_frame_index, end_frame_index, start_ms, end_ms,"
                          " text, source, boundary_state FROM captions.captions"
                          " ORDER BY start_frame_index, id").fetchall()


def shown(editor: CaptionEditor) -> list[tuple]:
    return [(c.start_frame_index, c.end_frame_index, c.text, c.source)
            for c in editor.captions()]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_captions_and_least_certain_first(video_dir):
    editor = CaptionEditor(video_dir)
    views = editor.captions()
    assert [(v.start_frame_index, v.end_frame_index, v.start_ms, v.end_ms) for v in views] \
        == [(5, 20, 200, 800), (20, 40, 800, 1600), (50, 70, 2000, 2800)]
    assert views[1].confidence == 0.7 and views[1].agreement == 0.5
    # 0.7*0.5 < 0.9*0.8 < 0.95; a person's caption goes last whatever its certainty
    assert [v.text for v in editor.least_certain()] == ["second line", "third line",
                                                        "first line"]
    editor.set_text(views[1].caption_id, "second line!")
    assert [v.text for v in editor.least_certain()] == ["third line", "first line",
                                                        "second line!"]


def test_set_text_makes_a_human_row_and_undo_restores_the_automatic_one(video_dir):
    before = rows(video_dir)
    with CaptionEditor(video_dir) as editor:
        caption_id = editor.captions()[0].caption_id
        view = editor.set_text(caption_id, "  First line, corrected \n\n and a second  ")
        assert (view.text, view.source, view.confidence, view.agreement) == (
            "First line, corrected\nand a second", "human", None, None)
        assert editor.set_text(caption_id, view.text) == view  # no change: nothing logged
        with VideoDatabase(video_dir, require=("captions",)) as db:
            [(operation, logged)] = db.execute("SELECT operation, rows FROM"
                                               " captions.caption_edits").fetchall()
        assert operation == "set_text"
        assert json.loads(logged)[0]["before"]["text"] == "first line"
        assert editor.undo() is True
        assert editor.undo() is False
    assert rows(video_dir) == before


def test_set_bounds_times_from_the_video_and_marks_left_frames_deleted(video_dir):
    editor = CaptionEditor(video_dir)
    first, second, _ = editor.captions()
    view = editor.set_bounds(first.caption_id, 8, 18)
    assert (view.start_frame_index, view.end_frame_index, view.start_ms, view.end_ms) == (
        8, 18, 320, 720)
    # frames 5-8 and 18-20 showed no caption, said the person: marked, never shown
    assert [(r[1], r[2], r[7]) for r in rows(video_dir) if r[7] == "deleted"] == [
        (5, 8, "deleted"), (18, 20, "deleted")]
    # moving the end into the next caption trims that one (it becomes a person's too)
    editor.set_bounds(first.caption_id, 8, 25)
    assert shown(editor)[:2] == [(8, 25, "first line", "human"),
                                 (25, 40, "second line", "human")]
    assert [(r[1], r[2]) for r in rows(video_dir) if r[7] == "deleted"] == [(5, 8)]
    assert editor.undo() and editor.undo()
    assert shown(editor)[:2] == [(5, 20, "first line", "auto"),
                                 (20, 40, "second line", "auto")]


def test_split_merge_delete_add_and_undo_each(video_dir):
    editor = CaptionEditor(video_dir)
    start = rows(video_dir)
    first, second, third = editor.captions()
    a, b = editor.split(second.caption_id, 30)
    assert [(v.start_frame_index, v.end_frame_index, v.text, v.source) for v in (a, b)] == [
        (20, 30, "second line", "human"), (30, 40, "second line", "human")]
    assert b.start_ms == 1200
    merged = editor.merge(b.caption_id, a.caption_id)  # either order
    assert (merged.start_frame_index, merged.end_frame_index, merged.text) == (
        20, 40, "second line")
    merged = editor.merge(first.caption_id, merged.caption_id)
    assert (merged.start_frame_index, merged.end_frame_index, merged.text) == (
        5, 40, "first line\nsecond line")
    editor.delete(third.caption_id)
    assert [c.caption_id for c in editor.captions()] == [first.caption_id]
    added = editor.add(45, 75, "a missed caption")
    assert (added.start_ms, added.end_ms, added.source) == (1800, 3000, "human")
    # the new caption covers the deleted one: its mark goes
    assert [r for r in rows(video_dir) if r[7] == "deleted"] == []
    for _ in range(5):
        assert editor.undo()
    assert editor.undo() is False
    assert rows(video_dir) == start


def test_add_over_a_deleted_caption_cuts_its_mark(video_dir):
    editor = CaptionEditor(video_dir)
    third = editor.captions()[2]
    editor.delete(third.caption_id)
    editor.add(55, 60, "inside the deleted one")
    marks = [(r[1], r[2]) for r in rows(video_dir) if r[7] == "deleted"]
    assert marks == [(50, 55), (60, 70)]
    assert shown(editor)[-1] == (55, 60, "inside the deleted one", "human")


def test_export_and_status_leave_deleted_captions_out(video_dir):
    editor = CaptionEditor(video_dir)
    editor.delete(editor.captions()[0].caption_id)
    _, written, dropped = load_captions_checked(video_dir)
    assert [c.text for c in written] == ["second line", "third line"] and dropped == []
    assert video_status(video_dir).databases["captions"].rows == 2


@pytest.mark.parametrize("operation, message", [
    (lambda e, ids: e.set_text(999, "x"), "no caption 999"),
    (lambda e, ids: e.set_text(ids[0], " \n "), "needs text"),
    (lambda e, ids: e.set_bounds(ids[0], 10, 5), "0 <= start < end"),
    (lambda e, ids: e.set_bounds(ids[0], 60, 76), "the video has 75 frames"),
    (lambda e, ids: e.set_bounds(ids[0], 0, 45), "lies within frames 0-45"),
    (lambda e, ids: e.split(ids[0], 5), "split at frames 6-19"),
    (lambda e, ids: e.merge(ids[0], ids[0]), "with itself"),
    (lambda e, ids: e.merge(ids[0], ids[2]), "lies within frames 5-70"),
    (lambda e, ids: e.add(25, 30, "x"), "inside caption"),
    (lambda e, ids: e.add(-1, 3, "x"), "0 <= start < end"),
    (lambda e, ids: e.add(1, "3", "x"), "not a whole number"),
])
def test_bad_edits_are_one_clear_error_and_change_nothing(video_dir, operation, message):
    editor = CaptionEditor(video_dir)
    ids = [c.caption_id for c in editor.captions()]
    before = rows(video_dir)
    with pytest.raises(EditError, match=message):
        operation(editor, ids)
    assert rows(video_dir) == before
    assert editor.undo() is False


def test_a_deleted_caption_cannot_be_edited_until_undone(video_dir):
    editor = CaptionEditor(video_dir)
    caption_id = editor.captions()[0].caption_id
    editor.delete(caption_id)
    with pytest.raises(EditError, match="was deleted"):
        editor.set_text(caption_id, "again")
    assert editor.undo()
    assert editor.set_text(caption_id, "again").text == "again"


def test_undo_refuses_when_rows_changed_since(video_dir):
    editor = CaptionEditor(video_dir)
    caption_id = editor.captions()[0].caption_id
    editor.set_text(caption_id, "mine")
    with VideoDatabase(video_dir, write="captions") as db, db.conn:
        db.execute("UPDATE captions.captions SET text = 'by hand' WHERE id = ?",
                   (caption_id,))
    with pytest.raises(EditError, match="cannot be undone"):
        editor.undo()
    assert shown(editor)[0][2] == "by hand"


def test_an_edit_never_writes_into_a_hard_linked_cache_file(video_dir, tmp_path):
    """As DVC's hardlink cache leaves it: a read-only file with a second link."""
    captions_db = video_dir / "captions.db"
    cache = tmp_path / "cache-file"
    os.link(captions_db, cache)
    os.chmod(captions_db, 0o444)
    cached = digest(cache)
    editor = CaptionEditor(video_dir)
    editor.delete(editor.captions()[0].caption_id)
    assert digest(cache) == cached and os.stat(cache).st_nlink == 1
    assert os.stat(captions_db).st_ino != os.stat(cache).st_ino
    assert len(editor.captions()) == 2
    assert not [p for p in video_dir.iterdir() if p.name.endswith(("-wal", "-shm"))]


def test_a_video_without_captions_db(ingested, tmp_path):
    target = tmp_path / "v"
    target.mkdir()
    (target / "video.db").write_bytes((ingested / "video.db").read_bytes())
    editor = CaptionEditor(target)
    assert editor.captions() == [] and editor.undo() is False
    with pytest.raises(EditError, match="no captions yet"):
        editor.delete(1)
    assert not (target / "captions.db").exists()
    assert editor.add(0, 10, "first").end_ms == 400
    with pytest.raises(EditError, match="not a video directory"):
        CaptionEditor(tmp_path)


def test_box_labels(video_dir, ingested):
    add_ocr_rows(video_dir, [(0, 0, "HELLO"), (0, 1, "LOGO")])
    assert set_box_label(video_dir, 0, 0, "caption") == ("caption", "human")
    assert set_box_label(video_dir, 0, 1, "noise") == ("noise", "human")
    assert set_box_label(video_dir, 0, 1, None) is None
    with VideoDatabase(video_dir, require=("layout",)) as db:
        assert db.execute("SELECT frame_index, box_index, label, label_source FROM"
                          " layout.full_frame_box_labels").fetchall() == [
            (0, 0, "caption", "human")]
    with pytest.raises(InputError, match="no OCR box 7 on frame 0"):
        set_box_label(video_dir, 0, 7, "caption")
    with pytest.raises(InputError, match="not caption, noise"):
        set_box_label(video_dir, 0, 0, "title")


def test_import_a_cue_split_in_two_and_a_time_moved_within_its_frame(video_dir, tmp_path):
    from vabatch.tools.annotate.subtitles import export_subtitles, import_subtitles

    exported = export_subtitles(video_dir, "srt")
    path = tmp_path / "c.srt"
    # 00:00:00,200 -> 00:00:00,210: the same frame (5 at 25 fps); then cue 2 split in two
    path.write_text(exported.replace("00:00:00,200", "00:00:00,210").replace(
        "00:00:00,800 --> 00:00:01,600\nsecond line",
        "00:00:00,800 --> 00:00:01,200\nsecond\n\n3\n00:00:01,200 --> 00:00:01,600\nline"))
    result = import_subtitles(video_dir, path)
    assert result.written and (len(result.plan.text), len(result.plan.bounds),
                               len(result.plan.added), result.plan.unchanged) == (1, 1, 1, 2)
    assert shown(CaptionEditor(video_dir)) == [
        (5, 20, "first line", "auto"), (20, 30, "second", "human"),
        (30, 40, "line", "human"), (50, 70, "third line", "auto")]
    assert import_subtitles(video_dir, path).written is False
