"""`vabatch ingest`: content ids, metadata, sampling, no-op re-runs, bad input, kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from testkit.videos import make_video
from vabatch.cli import app
from vabatch.dataroot import list_video_dirs, staging_root
from vabatch.db import VideoDatabase
from vabatch.media import decode_image, sha256_of_file

runner = CliRunner()


def ingest(*args: str):
    return runner.invoke(app, ["ingest", *args])


def video_rows(video_dir: Path, sql: str):
    with VideoDatabase(video_dir, require=("video",)) as db:
        return db.execute(sql).fetchall()


def test_ingest_writes_metadata_and_sampled_frames(small_video, data_root):
    result = ingest(str(small_video), "--data", str(data_root), "--every", "10", "--json")
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    digest = sha256_of_file(small_video)
    assert report["video_id"] == digest[:16] and report["status"] == "ingested"
    video_dir = data_root / "videos" / digest[:2] / digest[:16]
    assert Path(report["video_dir"]) == video_dir
    assert sorted(p.name for p in video_dir.iterdir()) == ["source.mp4", "video.db"]
    # Stored by hard link where possible: same inode as the input.
    assert (video_dir / "source.mp4").stat().st_ino == small_video.stat().st_ino
    [meta] = video_rows(video_dir, "SELECT source_name, content_sha256, width, height, fps,"
                        " frame_count, duration_ms, codec, sampling_mode, sampling_value,"
                        " image_format, tool_version FROM video.video_metadata")
    assert meta[:8] == ("small.mp4", digest, 320, 240, 25.0, 50, 2000, "h264")
    assert meta[8:11] == ("every", 10.0, "jpeg") and meta[11].startswith("vabatch ")
    frames = video_rows(video_dir, "SELECT frame_index, timestamp_ms, image_data, width, height"
                        " FROM video.full_frames ORDER BY frame_index")
    assert [(f[0], f[1]) for f in frames] == [(i, i * 40) for i in range(0, 50, 10)]
    for _, _, image_data, width, height in frames:
        assert image_data[:2] == b"\xff\xd8"  # JPEG
        assert decode_image(image_data).shape == (height, width, 3) == (240, 320, 3)


@pytest.mark.parametrize(("option", "expected"), [
    (["--fps", "2"], [0, 13, 25, 38]),
    ([], [0, 25]),  # default: 1 frame per second of video time
])
def test_fps_sampling_keeps_the_first_frame_at_or_after_each_due_time(
        small_video, data_root, option, expected):
    assert ingest(str(small_video), "--data", str(data_root), *option).exit_code == 0
    [video_dir] = list_video_dirs(data_root)
    rows = video_rows(video_dir, "SELECT frame_index FROM video.full_frames ORDER BY 1")
    assert [r[0] for r in rows] == expected


def test_png_frames_are_lossless(small_video, data_root):
    assert ingest(str(small_video), "--data", str(data_root), "--format", "png").exit_code == 0
    [video_dir] = list_video_dirs(data_root)
    [(image_data, image_format)] = video_rows(
        video_dir, "SELECT image_data, image_format FROM video.full_frames LIMIT 1")
    assert image_format == "png" and image_data[:4] == b"\x89PNG"


def test_ingesting_the_same_content_again_is_a_reported_no_op(small_video, data_root, tmp_path):
    assert ingest(str(small_video), "--data", str(data_root)).exit_code == 0
    [video_dir] = list_video_dirs(data_root)
    before = (video_dir / "video.db").read_bytes(), (video_dir / "video.db").stat().st_mtime_ns
    renamed_copy = tmp_path / "elsewhere" / "renamed.mp4"
    renamed_copy.parent.mkdir()
    renamed_copy.write_bytes(small_video.read_bytes())
    result = ingest(str(small_video), str(renamed_copy), "--data", str(data_root), "--json")
    assert result.exit_code == 0
    assert [r["status"] for r in json.loads(result.stdout)] == ["unchanged", "unchanged"]
    after = (video_dir / "video.db").read_bytes(), (video_dir / "video.db").stat().st_mtime_ns
    assert after == before and len(list_video_dirs(data_root)) == 1


def test_force_rebuilds_video_db_with_new_sampling(small_video, data_root):
    assert ingest(str(small_video), "--data", str(data_root), "--every", "25").exit_code == 0
    [video_dir] = list_video_dirs(data_root)
    result = ingest(str(small_video), "--data", str(data_root), "--every", "5", "--force",
                    "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["status"] == "rebuilt"
    assert video_rows(video_dir, "SELECT count(*) FROM video.full_frames") == [(10,)]
    assert sorted(p.name for p in video_dir.iterdir()) == ["source.mp4", "video.db"]


def test_force_without_settings_keeps_the_videos_own_sampling_and_encoding(
        small_video, data_root):
    """A video's settings persist until changed: `--force` alone rebuilds video.db at the
    sampling, format and quality it was made with, not at the defaults (1 fps, jpeg 90)."""
    first = ingest(str(small_video), "--data", str(data_root), "--fps", "5", "--quality", "60")
    assert first.exit_code == 0, first.output
    [video_dir] = list_video_dirs(data_root)
    sql = ("SELECT sampling_mode, sampling_value, image_format, image_quality, frame_count,"
           " (SELECT group_concat(frame_index) FROM video.full_frames)"
           " FROM video.video_metadata")
    made = video_rows(video_dir, sql)
    assert made == [("fps", 5.0, "jpeg", 60, 50, "0,5,10,15,20,25,30,35,40,45")]
    inode = (video_dir / "video.db").stat().st_ino
    result = ingest(str(small_video), "--data", str(data_root), "--force", "--json")
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert (report["status"], report["frames_sampled"], report["frame_count"]) == ("rebuilt",
                                                                                   10, 50)
    assert video_rows(video_dir, sql) == made
    assert (video_dir / "video.db").stat().st_ino != inode  # a new file, renamed into place
    # Giving one setting changes that one only: the quality stays 60.
    result = ingest(str(small_video), "--data", str(data_root), "--every", "25", "--force")
    assert result.exit_code == 0, result.output
    assert video_rows(video_dir, sql) == [("every", 25.0, "jpeg", 60, 50, "0,25")]


def test_other_settings_without_force_leave_the_video_as_it_is_and_say_so(
        small_video, data_root):
    assert ingest(str(small_video), "--data", str(data_root), "--every", "25").exit_code == 0
    [video_dir] = list_video_dirs(data_root)
    before = (video_dir / "video.db").read_bytes()
    again = ingest(str(small_video), "--data", str(data_root), "--json")  # nothing asked
    assert [r.get("note") for r in json.loads(again.stdout)] == [None]
    result = ingest(str(small_video), "--data", str(data_root), "--fps", "2", "--json")
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert report["status"] == "unchanged"
    assert report["note"] == ("already ingested with every 25 frames; kept as it is"
                                       " (--force rebuilds it with 2 fps)")
    quiet = ingest(str(small_video), "--data", str(data_root), "--fps", "2", "--quiet")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == "ingest: 1 video: 1 unchanged\n"
    assert "small.mp4: already ingested with every 25 frames" in quiet.stderr
    assert (video_dir / "video.db").read_bytes() == before


def test_folders_are_recursed_and_workers_ingest_in_parallel(tmp_path, data_root):
    inputs = tmp_path / "inputs"
    make_video(inputs / "a.mp4", seconds=1)
    make_video(inputs / "nested" / "deeper" / "b.mkv", seconds=1, source="mandelbrot")
    (inputs / "notes.txt").write_text("not a video, and not named like one")
    result = ingest(str(inputs), "--data", str(data_root), "--workers", "2", "--json")
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout)
    assert sorted(Path(r["input"]).name for r in reports) == ["a.mp4", "b.mkv"]
    assert all(r["status"] == "ingested" for r in reports)
    assert len(list_video_dirs(data_root)) == 2


def test_bad_inputs_fail_one_line_each_while_good_ones_are_ingested(
        tmp_path, small_video, data_root):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "text.mp4").write_text("this is a text file with a video name\n" * 50)
    whole = make_video(tmp_path / "long.mp4", seconds=4, faststart=True)
    truncated = bad / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    missing = bad / "missing.mp4"
    result = ingest(str(missing), str(bad / "empty.mp4"), str(bad / "text.mp4"),
                    str(truncated), str(small_video), "--data", str(data_root), "--json")
    assert result.exit_code == 1
    reports = {Path(r["input"]).name: r for r in json.loads(result.stdout)}
    assert reports["small.mp4"]["status"] == "ingested"
    expected_errors = {"missing.mp4": "no such file", "empty.mp4": "empty file",
                       "text.mp4": "not a readable video", "truncated.mp4": "truncated"}
    for name, fragment in expected_errors.items():
        assert reports[name]["status"] == "failed"
        assert fragment in reports[name]["error"] and "\n" not in reports[name]["error"]
    assert "Traceback" not in result.output
    assert len(list_video_dirs(data_root)) == 1  # only the good one
    assert not any(staging_root(data_root).iterdir())


def test_a_wrong_option_is_one_clear_line(small_video, data_root):
    result = ingest(str(small_video), "--data", str(data_root), "--every", "2", "--fps", "1")
    assert result.exit_code != 0 and "not both" in result.output
    assert "Traceback" not in result.output


def test_sigkill_mid_ingest_leaves_no_half_made_video_directory(tmp_path, data_root):
    # Long enough that the kill lands while frames are still being written.
    video = make_video(tmp_path / "long.mp4", seconds=20, size="640x360")
    command = [sys.executable, "-m", "vabatch", "ingest", str(video), "--data",
               str(data_root), "--every", "1", "--format", "png", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    staged_db = None
    while time.monotonic() < deadline and process.poll() is None:
        staged = list(staging_root(data_root).glob("*/video.db")) \
            if staging_root(data_root).exists() else []
        if staged and staged[0].stat().st_size > 200_000:
            staged_db = staged[0]
            break
        time.sleep(0.02)
    assert staged_db is not None, "the ingest was killed before it wrote frames"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert list_video_dirs(data_root) == []  # nothing half-made is visible
    # The next run removes the dead process's staging folder and finishes the job.
    result = ingest(str(video), "--data", str(data_root), "--every", "50", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["status"] == "ingested"
    assert not any(staging_root(data_root).iterdir())
    [video_dir] = list_video_dirs(data_root)
    assert video_rows(video_dir, "SELECT frame_count FROM video.video_metadata") == [(500,)]


def test_sigkill_during_force_rebuild_keeps_the_old_video_db_whole(tmp_path, data_root):
    video = make_video(tmp_path / "long.mp4", seconds=20, size="640x360")
    assert ingest(str(video), "--data", str(data_root), "--every", "100").exit_code == 0
    [video_dir] = list_video_dirs(data_root)
    old_bytes = (video_dir / "video.db").read_bytes()
    command = [sys.executable, "-m", "vabatch", "ingest", str(video), "--data",
               str(data_root), "--every", "1", "--format", "png", "--force", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        staged = list(staging_root(data_root).glob("*/video.db"))
        if staged and staged[0].stat().st_size > 200_000:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the rebuild finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (video_dir / "video.db").read_bytes() == old_bytes
    assert verify_ok(data_root)


def verify_ok(data_root: Path) -> bool:
    result = runner.invoke(app, ["verify", "--data", str(data_root), "--json"])
    return result.exit_code == 0 and json.loads(result.stdout)["ok"]


def test_a_video_is_named_by_the_path_of_the_file_it_was_ingested_from(tmp_path, data_root):
    """Two videos called ep01.mp4 in two folders: the name alone is ambiguous, the path of
    either file names its own video (also once the file has moved: by content)."""
    first = make_video(tmp_path / "src" / "s1" / "ep01.mp4", seconds=1)
    second = make_video(tmp_path / "src" / "s2" / "ep01.mp4", seconds=1, source="smptebars")
    assert ingest(str(tmp_path / "src"), "--data", str(data_root), "-q").exit_code == 0
    ids = {path: sha256_of_file(path)[:16] for path in (first, second)}

    def status(name: str):
        return runner.invoke(app, ["status", name, "--data", str(data_root), "--json"])

    for path, video_id in ids.items():
        result = status(str(path))
        assert result.exit_code == 0, result.output
        assert [v["video_id"] for v in json.loads(result.stdout)] == [video_id]
    shown = runner.invoke(app, ["status", str(first), "--data", str(data_root)])
    assert shown.exit_code == 0 and shown.stdout.split()[:3] == ["1", "video", "in"]
    moved = tmp_path / "moved.mp4"
    second.rename(moved)
    assert [v["video_id"] for v in json.loads(status(str(moved)).stdout)] == [ids[second]]
    result = status("ep01.mp4")
    assert result.exit_code != 0
    assert result.output.strip() == ("error: ep01.mp4: 2 videos have this source name; use the"
                                     " id (or the path of the video file)")
