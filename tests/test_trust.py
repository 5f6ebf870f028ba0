"""Issue 16, sections 2 to 4: no silent pass, one line instead of a traceback, nothing
corrupt after a fault (each test is the attack, written before its fix)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vabatch.cli import app

runner = CliRunner()


def one_error_line(result) -> str:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


# -- verify that selects no video is not a pass ----------------------------------------------
def test_verify_of_a_data_root_without_videos_is_an_error(data_root):
    line = one_error_line(runner.invoke(app, ["verify", "--data", str(data_root)]))
    assert "no videos to verify" in line
    (data_root / "videos").mkdir()
    line = one_error_line(runner.invoke(app, ["verify", "--data", str(data_root), "--json"]))
    assert "no videos to verify" in line


def test_verify_given_a_video_directory_as_data_root_is_an_error(ingested):
    line = one_error_line(runner.invoke(app, ["verify", "--data", str(ingested)]))
    assert str(ingested) in line and "no videos to verify" in line


def test_verify_of_a_folder_that_is_not_a_video_is_an_error(ingested, tmp_path: Path):
    data_root = ingested.parents[2]
    shard = ingested.parent
    line = one_error_line(runner.invoke(app, ["verify", "--data", str(data_root),
                                              str(shard)]))
    assert shard.name in line


# -- a read-only data root, a full disk ------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path):
    """A 20 MB tmpfs (root only; elsewhere the test is skipped), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)],
            capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, keep_kb: int) -> Path:
    """Fill ``disk`` up to ``keep_kb`` KB of free space; return the filler file."""
    filler = disk / "filler"
    free_kb = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize // 1024
    with open(filler, "ab") as stream:
        stream.write(b"\0" * max(0, free_kb - keep_kb) * 1024)
    return filler


def last_line(result) -> str:
    assert "Traceback" not in result.output, result.output
    return result.output.strip().splitlines()[-1]


def test_run_and_ingest_on_a_read_only_data_root_say_so_in_one_line(small_disk, small_video):
    data_root = small_disk / "data"
    assert runner.invoke(app, ["ingest", "-q", "--data", str(data_root),
                               str(small_video)]).exit_code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    for command in (["run"], ["ocr"], ["ingest", "--force", str(small_video)]):
        result = runner.invoke(app, [*command, "-q", "--data", str(data_root)])
        line = one_error_line(result)
        assert "read-only file system" in line, (command, line)
    assert runner.invoke(app, ["verify", "--data", str(data_root)]).exit_code == 0


def _run_on_a_full_disk(disk: Path, small_video: Path, keep_kb: int) -> None:
    data_root = disk / "data"
    assert runner.invoke(app, ["ingest", "-q", "--data", str(data_root),
                               str(small_video)]).exit_code == 0
    filler = fill(disk, keep_kb)
    result = runner.invoke(app, ["run", "-q", "--data", str(data_root)])
    if result.exit_code != 0:
        line = last_line(result)
        assert line.startswith("error: ") and "the disk is full" in line, (keep_kb, line)
    filler.unlink()
    # Nothing corrupt: at most the WAL of a stage whose checkpoint found no room, which
    # SQLite reads with its database (verify says so; the next run folds it in).
    checked = runner.invoke(app, ["verify", "--data", str(data_root), "--json"])
    problems = [p for v in json.loads(checked.stdout)["videos"] for p in v["problems"]]
    assert all(p["message"].startswith("stray SQLite sidecar") for p in problems), problems
    again = runner.invoke(app, ["run", "-q", "--data", str(data_root)])
    assert again.exit_code == 0, (keep_kb, again.output)  # the next run completes
    checked = runner.invoke(app, ["verify", "--data", str(data_root)])
    assert checked.exit_code == 0, (keep_kb, checked.output)
    status = runner.invoke(app, ["status", "--data", str(data_root), "--json"])
    [video] = json.loads(status.stdout)
    assert {d["state"] for d in video["databases"].values()} == {"present"}, video
    shutil.rmtree(data_root)


def test_run_on_a_full_disk_says_so_and_the_next_run_completes(small_disk, small_video):
    _run_on_a_full_disk(small_disk, small_video, keep_kb=120)  # fills up during crop


@pytest.mark.slow
def test_a_disk_that_fills_at_any_point_of_run(small_disk, small_video):
    for keep_kb in range(0, 320, 16):
        _run_on_a_full_disk(small_disk, small_video, keep_kb)


# -- status on damaged files -----------------------------------------------------------------
@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """A data root whose one video went through every stage (no captions: a test pattern)."""
    from testkit.videos import make_video

    root = tmp_path_factory.mktemp("processed")
    video = make_video(root / "inputs" / "small.mp4")
    data_root = root / "data"
    assert runner.invoke(app, ["ingest", "-q", "--every", "5", "--data", str(data_root),
                               str(video)]).exit_code == 0
    assert runner.invoke(app, ["run", "-q", "--data", str(data_root)]).exit_code == 0
    return data_root


def test_status_with_any_page_of_any_database_damaged_is_a_status_of_that_file(
        processed, tmp_path):
    from vabatch.db import DATABASE_ORDER, KINDS
    from vabatch.tools.status import collect_status

    for alias in DATABASE_ORDER:
        name = KINDS[alias].file_name
        pages = (next(processed.glob("videos/*/*")) / name).stat().st_size // 4096
        for page in range(pages):
            work = tmp_path / f"{alias}-{page}"
            shutil.copytree(processed, work)
            path = next(work.glob("videos/*/*")) / name
            data = bytearray(path.read_bytes())
            start = page * 4096 + (100 if page == 0 else 0)  # page 1: keep the header
            data[start:(page + 1) * 4096] = b"\xa5" * ((page + 1) * 4096 - start)
            path.write_bytes(data)
            [status] = collect_status(work)  # never raises
            others = {a: d.state for a, d in status.databases.items() if a != alias}
            assert set(others.values()) == {"present"}, (alias, page, others)
            shutil.rmtree(work)


def test_status_with_one_dropped_table_marks_that_database_alone(processed, tmp_path):
    import apsw

    work = tmp_path / "work"
    shutil.copytree(processed, work)
    conn = apsw.Connection(str(next(work.glob("videos/*/*")) / "cropping.db"))
    conn.execute("DROP TABLE cropped_frames")
    conn.close()
    result = runner.invoke(app, ["status", "--data", str(work), "--json"])
    assert result.exit_code == 0, result.output
    [video] = json.loads(result.stdout)
    states = {alias: d["state"] for alias, d in video["databases"].items()}
    assert states == {"video": "present", "fullOCR": "present", "layout": "present",
                      "cropping": "damaged", "captions": "present"}, states
    assert "cropped_frames" in video["databases"]["cropping"]["error"]
    table = runner.invoke(app, ["status", "--data", str(work)])
    assert table.exit_code == 0 and "Traceback" not in table.output


# -- status --failed -------------------------------------------------------------------------
def test_status_failed_forgets_an_ingest_failure_once_the_input_is_ingested(
        data_root, small_video, tmp_path):
    later = tmp_path / "later.mp4"
    failed = runner.invoke(app, ["ingest", "-q", "--data", str(data_root), str(later)])
    assert failed.exit_code != 0
    listed = runner.invoke(app, ["status", "--failed", "--data", str(data_root), "--json"])
    assert [r["stage"] for r in json.loads(listed.stdout)] == ["ingest"]
    shutil.copyfile(small_video, later)
    assert runner.invoke(app, ["ingest", "-q", "--data", str(data_root),
                               str(later)]).exit_code == 0
    listed = runner.invoke(app, ["status", "--failed", "--data", str(data_root), "--json"])
    assert json.loads(listed.stdout) == [], listed.stdout
    # A later failure of another input is listed again.
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(small_video.read_bytes()[:20000])
    assert runner.invoke(app, ["ingest", "-q", "--data", str(data_root),
                               str(truncated)]).exit_code != 0
    listed = runner.invoke(app, ["status", "--failed", "--data", str(data_root), "--json"])
    assert len(json.loads(listed.stdout)) == 1


# -- captions --force and a damaged captions.db ----------------------------------------------
def test_captions_force_rebuilds_a_damaged_captions_db_and_keeps_the_old_file(
        processed, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(processed, work)
    video_dir = next(work.glob("videos/*/*"))
    damaged = bytearray((video_dir / "captions.db").read_bytes())
    damaged[0:16] = bytes(16)  # the header: SQLite no longer knows the file
    (video_dir / "captions.db").write_bytes(damaged)
    refused = runner.invoke(app, ["captions", "-q", "--data", str(work)])
    assert refused.exit_code != 0
    assert "human rows" in last_line(refused) and "--force" in last_line(refused)
    assert (video_dir / "captions.db").read_bytes() == damaged  # untouched
    rebuilt = runner.invoke(app, ["captions", "-q", "--force", "--data", str(work)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "kept as captions.db.damaged" in rebuilt.output
    assert (video_dir / "captions.db.damaged").read_bytes() == damaged
    checked = runner.invoke(app, ["verify", "--data", str(work)])
    assert checked.exit_code == 0, checked.output


# -- migrate: odd legacy values, a file cut short ------------------------------------------
def _legacy(tmp_path: Path, name: str) -> Path:
    from testkit.legacy import build_legacy_dir

    return build_legacy_dir(tmp_path / "data" / "videos" / "legacy" / name)


def _migrate(directory: Path) -> dict:
    result = runner.invoke(app, ["migrate", "-q", "--json", str(directory)])
    assert "Traceback" not in result.output, result.output
    [report] = json.loads(result.stdout)
    return report


def test_migrate_carries_text_images_and_invalid_utf8_over_as_bytes_with_a_note(tmp_path):
    import apsw

    directory = _legacy(tmp_path, "odd")
    conn = apsw.Connection(str(directory / "captions.db"))
    conn.execute("UPDATE full_frames SET image_data = CAST(image_data AS TEXT)"
                 " WHERE frame_index = (SELECT min(frame_index) FROM full_frames)")
    conn.execute("UPDATE captions SET text = CAST(X'48656cff6c6f' AS TEXT)"
                 " WHERE id = (SELECT min(id) FROM captions)")
    [(jpeg,)] = conn.execute("SELECT CAST(image_data AS BLOB) FROM full_frames"
                             " ORDER BY frame_index LIMIT 1").fetchall()
    conn.close()
    report = _migrate(directory)
    assert report["status"] == "migrated" and all(p["ok"] for p in report["proofs"]), report
    assert any("images stored as TEXT, carried over as bytes" in n for n in report["notes"])
    assert any(n.startswith("captions.text: 1 values that are not valid UTF-8")
               for n in report["notes"]), report["notes"]
    frames = apsw.Connection(str(directory / "video.db"))
    assert frames.execute("SELECT image_data FROM full_frames ORDER BY frame_index"
                          " LIMIT 1").fetchall() == [(jpeg,)]
    captions = apsw.Connection(str(directory / "captions.db"))
    assert (b"Hel\xfflo",) in captions.execute("SELECT text FROM captions").fetchall()
    checked = runner.invoke(app, ["verify", "--data", str(tmp_path / "data"),
                                  "--against-legacy"])
    assert checked.exit_code == 0, checked.output


def test_migrate_refuses_a_legacy_file_that_is_not_whole_pages(tmp_path):
    directory = _legacy(tmp_path, "cut")
    legacy = directory / "captions.db"
    legacy.write_bytes(legacy.read_bytes()[:-1000])
    before = legacy.read_bytes()
    report = _migrate(directory)
    assert report["status"] == "failed"
    assert "not a whole number of 4096-byte pages" in report["error"]
    assert legacy.read_bytes() == before and not (directory / "video.db").exists()


# -- videos without usable timestamps ----------------------------------------------------------
def _ingest_json(data_root: Path, video: Path, *options: str) -> dict:
    result = runner.invoke(app, ["ingest", "--data", str(data_root), "--json", *options,
                                 str(video)])
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    return report


def _rows(video_dir: Path, sql: str) -> list[tuple]:
    from vabatch.db import VideoDatabase

    with VideoDatabase(video_dir) as db:
        return db.execute(sql).fetchall()


def test_a_raw_h264_stream_is_sampled_by_frame_numbers_with_a_note(data_root, tmp_path):
    from testkit.videos import make_raw_h264

    report = _ingest_json(data_root, make_raw_h264(tmp_path / "raw.h264"))
    assert report["frame_count"] == 100 and report["frames_sampled"] == 4, report
    assert "timestamps unusable from frame 1" in report["note"]
    video_dir = Path(report["video_dir"])
    assert _rows(video_dir, "SELECT frame_index, timestamp_ms FROM video.full_frames"
                 " ORDER BY 1") == [(0, 0), (25, 1000), (50, 2000), (75, 3000)]
    assert _rows(video_dir, "SELECT duration_ms FROM video.video_metadata") == [(4000,)]
    checked = runner.invoke(app, ["verify", "--data", str(data_root)])
    assert checked.exit_code == 0 and "timestamps unusable from frame 1" in checked.output


def test_joined_ts_files_are_sampled_and_cropped_to_the_end(data_root, tmp_path):
    from testkit.videos import make_joined_ts
    from vabatch.db import VideoDatabase
    from vabatch.stages.crop import CropOptions, run_crop

    report = _ingest_json(data_root, make_joined_ts(tmp_path / "joined.ts"), "--fps", "2")
    assert report["frame_count"] == 100, report
    assert "timestamps unusable from frame 50" in report["note"]
    video_dir = Path(report["video_dir"])
    frames = _rows(video_dir, "SELECT frame_index, timestamp_ms FROM video.full_frames"
                   " ORDER BY 1")
    assert frames == [(n, n * 40) for n in (0, 13, 25, 38, 50, 63, 75, 88)], frames
    with VideoDatabase(video_dir, write="layout") as db:
        db.execute("INSERT INTO layout.video_layout_config (id, crop_left, crop_top,"
                   " crop_right, crop_bottom) VALUES (1, 0, 180, 320, 240)")
    run_crop(video_dir, CropOptions())
    times = [t for (t,) in _rows(video_dir, "SELECT timestamp_ms FROM"
                                 " cropping.band_signatures ORDER BY frame_index")]
    assert times == [n * 40 for n in range(100)]
    strips = [f for (f,) in _rows(video_dir, "SELECT frame_index FROM cropping.cropped_frames")]
    assert max(strips) >= 75, strips  # the second file is cropped too, not only the first


def test_normal_videos_keep_their_own_timestamps_and_no_note(data_root, small_video):
    report = _ingest_json(data_root, small_video)
    assert "note" not in report
    assert _rows(Path(report["video_dir"]), "SELECT timing_note FROM video.video_metadata"
                 ) == [(None,)]


@pytest.mark.slow
def test_captions_of_both_halves_of_joined_ts_files_are_found(tmp_path, data_root):
    """The issue's reproduction end to end: two captioned .ts files joined with ``cat``
    gave 0 captions of 3 (the second half was never sampled nor cropped)."""
    from testkit.corpus import Caption, VideoSpec, make_video
    from vabatch.api import run_video
    from vabatch.media import Sampling
    from vabatch.stages.ingest import IngestOptions, ingest_file
    from vabatch.vision.layout_analysis import normalise_text

    halves = ([Caption(300, 2800, "The river town at morning"),
               Caption(2800, 5800, "We never thought about it")],
              [Caption(300, 5500, "Nobody knew where it ended")])
    parts = []
    for number, captions in enumerate(halves):
        spec = VideoSpec(f"half{number}", captions, 6, width=640, height=360, fps=25,
                         background="gradients", font_size=20, seed=3 + number)
        video, _ = make_video(spec, tmp_path / "media")
        part = tmp_path / f"half{number}.ts"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-c", "copy", str(part)],
                       check=True)
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    ingested = ingest_file(joined, data_root, IngestOptions(Sampling("fps", 2.0)))
    assert ingested.status == "ingested" and "timestamps unusable" in ingested.extra["note"]
    result = run_video(Path(ingested.video_dir), data_root)
    assert result.ok, result.error
    assert result.stages["captions"] == "done", (result, ingested)
    found = _rows(Path(ingested.video_dir), "SELECT start_frame_index, start_ms, text FROM"
                  " captions.captions ORDER BY start_frame_index")
    assert [normalise_text(text) for _, _, text in found] == [
        normalise_text(c.text) for c in (*halves[0], *halves[1])], found
    assert [start_ms for _, start_ms, _ in found] == sorted(start_ms for _, start_ms, _ in found)
    assert found[-1][0] >= 150  # the second file's caption, at its own frames
