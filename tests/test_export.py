"""``vabatch export`` on real data roots: folders mirrored, videos as arguments, every caption
that is not written reported with its reason, and nothing written is never a success
(issue 16 section 2, issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from testkit.videos import make_video
from vabatch.cli import app
from vabatch.db import VideoDatabase
from vabatch.media import Sampling
from vabatch.stages.ingest import IngestOptions, ingest_file

runner = CliRunner()
SPARSE = IngestOptions(Sampling("every", 25))


def add_captions(video_dir: Path, rows) -> None:
    """Caption rows (start_ms, end_ms, text) written into a real captions.db."""
    with VideoDatabase(video_dir, write="captions") as db, db.conn:
        for number, (start_ms, end_ms, text) in enumerate(rows):
            db.execute("INSERT INTO captions.captions (start_frame_index, end_frame_index,"
                       " start_ms, end_ms, text) VALUES (?, ?, ?, ?, ?)",
                       (number * 10, number * 10 + 10, start_ms, end_ms, text))


@pytest.fixture(scope="module")
def nested(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """A data root with three videos ingested from season folders: s1/ep01, s2/ep01, s2/ep02."""
    base = tmp_path_factory.mktemp("nested")
    data = base / "data"
    dirs = {}
    for name, source in (("s1/ep01", "testsrc2"), ("s2/ep01", "smptebars"),
                         ("s2/ep02", "rgbtestsrc")):
        video = make_video(base / "collection" / f"{name}.mp4", seconds=1, size="160x120",
                           source=source)
        dirs[name] = Path(ingest_file(video, data, SPARSE).video_dir)
    return data, dirs


def export(*args):
    return runner.invoke(app, ["export", *[str(a) for a in args]])


def test_before_any_run_export_says_which_stage_is_missing(nested, tmp_path):
    data, _ = nested
    result = export("srt", "--data", data, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert ("error: no video has captions yet (3 videos lack captions.db; missing stage: "
            "ocr (3 videos)): run `vabatch run` first") in " ".join(result.stderr.split())
    assert result.stdout == ""  # not "wrote 0 srt files": the error says why
    one = export("srt", "ep02.mp4", "--data", data, "--out", tmp_path / "out")
    assert one.exit_code == 1 and "(1 video lacks captions.db;" in one.stderr


def test_folders_are_mirrored_and_every_dropped_caption_is_reported(nested, tmp_path):
    data, dirs = nested
    add_captions(dirs["s1/ep01"], [(0, 400, "first"), (None, 800, "no start"),
                                   (600, 500, "reversed"), (-40, 100, "negative"),
                                   (10**12, 10**12 + 5, "far"), (400, 600, "  ")])
    add_captions(dirs["s2/ep01"], [(100, 900, "other season")])
    add_captions(dirs["s2/ep02"], [])  # the captions stage found nothing
    try:
        result = export("srt", "--data", data, "--out", tmp_path / "out")
        assert result.exit_code == 0, result.output
        out = tmp_path / "out"
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.srt")) == [
            "s1/ep01.srt", "s2/ep01.srt", "s2/ep02.srt"]
        assert (out / "s1/ep01.srt").read_text() == "1\n00:00:00,000 --> 00:00:00,400\nfirst\n"
        assert (out / "s2/ep02.srt").read_text() == ""
        warnings = " ".join(result.stderr.split())
        for caption_id, reason in ((2, "no time (start_ms or end_ms is NULL)"),
                                   (3, "ends before it starts (600 ms -> 500 ms)"),
                                   (4, "negative start time (-40 ms)"),
                                   (5, "time beyond 99:59:59,999"), (6, "no text")):
            assert f"caption {caption_id} not written: {reason}" in warnings
        summary = " ".join(result.stdout.split())
        assert "wrote 3 srt files" in summary and "5 captions not written" in summary
        assert "1 video without captions (ep02.mp4): the captions stage found none" in summary
        # --flat: the old layout, names made unique by the id.
        flat = export("srt", "--data", data, "--out", tmp_path / "flat", "--flat", "-q")
        assert flat.exit_code == 0 and flat.stdout == ""
        assert len([p.name for p in (tmp_path / "flat").glob("ep01-*.srt")]) == 2
    finally:
        for video_dir in dirs.values():
            (video_dir / "captions.db").unlink()


def test_videos_as_arguments_and_the_deprecated_option(nested, tmp_path):
    data, dirs = nested
    add_captions(dirs["s2/ep01"], [(None, None, "no time at all")])
    add_captions(dirs["s2/ep02"], [(0, 500, "kept")])
    try:
        # A video whose every caption is dropped is an error, not an empty success.
        failed = export("srt", dirs["s2/ep01"].name, "--data", data, "--out", tmp_path / "a")
        assert failed.exit_code == 1
        assert "none could be written" in failed.stderr
        chosen = export("json", "ep02.mp4", "--data", data, "--out", tmp_path / "b", "--json")
        assert chosen.exit_code == 0, chosen.output
        [entry] = json.loads(chosen.stdout)
        assert entry["status"] == "written" and entry["captions"] == 1
        assert Path(entry["path"]).name == "ep02.json"  # one folder known: no subfolder
        old = export("srt", "--video", "ep02", "--data", data, "--out", tmp_path / "c")
        assert old.exit_code == 0 and "--video is deprecated" in old.stderr
        assert (tmp_path / "c" / "ep02.srt").exists()
    finally:
        for name in ("s2/ep01", "s2/ep02"):
            (dirs[name] / "captions.db").unlink()
