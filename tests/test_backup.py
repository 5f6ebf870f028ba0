"""``vabatch backup`` and ``vabatch restore`` on real data roots: a backup taken while
another process commits is one consistent state that verifies; a restore gives back the
same rows and files; nothing existing is overwritten without --force."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from testkit.videos import make_video
from vabatch.cli import app
from vabatch.db import DATABASE_ORDER, KINDS, VideoDatabase
from vabatch.media import Sampling
from vabatch.stages.ingest import IngestOptions, ingest_file

runner = CliRunner()
BATCH = 25  # rows the writer commits at once

WRITER = """
import sys, time
from pathlib import Path
from vabatch.db import VideoDatabase
video_dir, started, stop = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
batch = int(sys.argv[4])
with VideoDatabase(video_dir, write="captions") as db:
    number = 0
    while not stop.exists():
        with db.conn:
            db.conn.executemany(
                "INSERT INTO captions.captions (start_frame_index, end_frame_index, text)"
                " VALUES (?, ?, ?)",
                [(number % 20, number % 20 + 1, "x" * 200) for _ in range(batch)])
        number += 1
        if number == 5:
            started.write_text("started")
print(number)
"""


@pytest.fixture(scope="module")
def source_root(tmp_path_factory) -> tuple[Path, list[Path]]:
    """A data root with two ingested videos, one with captions, and a runs.db."""
    base = tmp_path_factory.mktemp("backup")
    data = base / "data"
    dirs = []
    for name, pattern in (("one", "testsrc2"), ("two", "smptebars")):
        video = make_video(base / "inputs" / f"{name}.mp4", seconds=1, size="160x120",
                           source=pattern)
        dirs.append(Path(ingest_file(video, data, IngestOptions(Sampling("every", 5))).video_dir))
    with VideoDatabase(dirs[0], write="captions") as db, db.conn:
        db.execute("INSERT INTO captions.captions (start_frame_index, end_frame_index, start_ms,"
                   " end_ms, text, source) VALUES (0, 10, 0, 400, 'hello', 'human')")
    assert runner.invoke(app, ["status", "--data", str(data)]).exit_code == 0
    (data / "notes.txt").write_text("data-root file")
    return data, dirs


def table_rows(video_dir: Path) -> dict[str, list]:
    """Every row of every table of every database of a video directory."""
    found = {}
    with VideoDatabase(video_dir) as db:
        for alias in DATABASE_ORDER:
            if not db.has(alias):
                continue
            for (table,) in db.execute(f"SELECT name FROM {alias}.sqlite_master WHERE type ="
                                       " 'table' AND name NOT LIKE '%fts%'").fetchall():
                found[f"{alias}.{table}"] = db.execute(
                    f"SELECT * FROM {alias}.{table} ORDER BY rowid").fetchall()
    return found


def cli(*args):
    return runner.invoke(app, [*map(str, args)])


def test_backup_while_another_process_commits_is_consistent_and_verifies(
        source_root, tmp_path):
    data, dirs = source_root
    started, stop = tmp_path / "started", tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(dirs[1]), str(started), str(stop), str(BATCH)],
        stdout=subprocess.PIPE, env=os.environ | {"PYTHONPATH": str(Path.cwd())})
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert writer.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        counts = []
        for attempt in range(3):
            destination = tmp_path / f"backup{attempt}"
            result = cli("backup", destination, "--data", data, "--json")
            assert result.exit_code == 0, result.output
            report = json.loads(result.stdout)
            assert report["verified"] and report["databases"] == 4
            assert writer.poll() is None  # the writer was committing all along
            copy = destination / "videos" / dirs[1].parent.name / dirs[1].name
            assert not [p for p in copy.iterdir() if p.name.endswith(("-wal", "-shm",
                                                                      "-journal"))]
            with VideoDatabase(copy) as db:
                [(rows,)] = db.execute("SELECT count(*) FROM captions.captions").fetchall()
            assert rows % BATCH == 0 and rows >= 5 * BATCH  # whole transactions only
            counts.append(rows)
    finally:
        stop.write_text("stop")
        committed = int(writer.communicate(timeout=60)[0])
    assert counts == sorted(counts) and counts[-1] <= committed * BATCH


def test_restore_round_trip_gives_back_the_rows_and_files(source_root, tmp_path):
    data, dirs = source_root
    assert cli("backup", tmp_path / "bk", "--data", data, "-q").exit_code == 0
    linked = tmp_path / "bk" / "videos" / dirs[0].parent.name / dirs[0].name / "source.mp4"
    assert os.path.samefile(linked, dirs[0] / "source.mp4")  # hard-linked, not copied
    restored = tmp_path / "restored"
    result = cli("restore", tmp_path / "bk", "--data", restored, "-q")
    assert result.exit_code == 0, result.output
    assert "restored 2 videos" in result.stdout and "verify: ok" in result.stdout
    for video_dir in dirs:
        copy = restored / "videos" / video_dir.parent.name / video_dir.name
        assert table_rows(copy) == table_rows(video_dir)
        assert (copy / "source.mp4").read_bytes() == (video_dir / "source.mp4").read_bytes()
        assert sorted(p.name for p in copy.iterdir()) == sorted(
            p.name for p in video_dir.iterdir() if not p.name.endswith(("-wal", "-shm")))
    assert (restored / "notes.txt").read_text() == "data-root file"
    assert cli("verify", "--data", restored).exit_code == 0
    assert cli("status", "--data", restored).exit_code == 0


def test_restore_never_replaces_without_force(source_root, tmp_path):
    data, dirs = source_root
    assert cli("backup", tmp_path / "bk", dirs[0].name[:6], "--data", data, "-q",
               "--copy-videos").exit_code == 0
    target = tmp_path / "target"
    assert cli("restore", tmp_path / "bk", "--data", target, "-q").exit_code == 0
    with VideoDatabase(target / "videos" / dirs[0].parent.name / dirs[0].name,
                       write="captions") as db, db.conn:
        db.execute("UPDATE captions.captions SET text = 'edited since the backup'")
    refused = cli("restore", tmp_path / "bk", "--data", target, "-q")
    assert refused.exit_code == 2
    assert "1 of the videos are in" in refused.stderr and "--force" in refused.stderr
    restored_dir = target / "videos" / dirs[0].parent.name / dirs[0].name
    assert table_rows(restored_dir)["captions.captions"][0][5] == "edited since the backup"
    assert cli("restore", tmp_path / "bk", "--data", target, "--force", "-q").exit_code == 0
    assert table_rows(restored_dir) == table_rows(dirs[0])
    assert sorted(p.name for p in (target / "videos" / ".staging").iterdir()) == []


def test_backup_of_chosen_videos_and_refusals(source_root, tmp_path):
    data, dirs = source_root
    destination = tmp_path / "one"
    result = cli("backup", destination, dirs[1].name[:6], "--data", data, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["videos"] == [dirs[1].name] and report["verified"]
    assert report["linked"] == 1 and not (destination / "notes.txt").exists()
    assert json.loads((destination / "backup.json").read_text())["whole_data_root"] is False
    again = cli("backup", destination, "--data", data)
    assert again.exit_code == 2
    assert again.stderr.strip() == f"error: {destination}: not empty (give --force to replace it)"
    inside = cli("backup", data / "copy", "--data", data)
    assert inside.exit_code == 2 and "inside the data root" in inside.stderr
    assert not (data / "copy").exists()
    assert cli("backup", destination, "--data", data, "--force", "-q").exit_code == 0
    assert sorted(json.loads((destination / "backup.json").read_text())["videos"]) == sorted(
        d.name for d in dirs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one"]  # no temporary left
    (tmp_path / "empty" / "videos").mkdir(parents=True)
    empty = cli("backup", tmp_path / "none", "--data", tmp_path / "empty")
    assert empty.exit_code == 2 and "no videos to back up" in empty.stderr
    assert not (tmp_path / "none").exists()
    not_backup = cli("restore", tmp_path, "--data", tmp_path / "r")
    assert not_backup.exit_code == 2 and "not a vabatch backup" in not_backup.stderr


def test_a_damaged_backup_is_not_restored(source_root, tmp_path):
    data, dirs = source_root
    assert cli("backup", tmp_path / "bk", "--data", data, "-q").exit_code == 0
    video_db = tmp_path / "bk" / "videos" / dirs[0].parent.name / dirs[0].name / \
        KINDS["video"].file_name
    damaged = bytearray(video_db.read_bytes())
    damaged[200:4000] = b"\xff" * 3800
    video_db.write_bytes(bytes(damaged))
    result = cli("restore", tmp_path / "bk", "--data", tmp_path / "r", "-q")
    assert result.exit_code == 2 and "do not verify" in result.stderr
    assert not (tmp_path / "r" / "videos" / dirs[0].parent.name).exists()


def test_a_killed_backup_leaves_no_half_made_copy(source_root, tmp_path):
    data, _ = source_root
    destination = tmp_path / "bk"
    process = subprocess.Popen([sys.executable, "-m", "vabatch", "backup", str(destination),
                                "--data", str(data), "-q"],
                               env=os.environ | {"PYTHONPATH": str(Path.cwd())})
    deadline = time.monotonic() + 60
    while process.poll() is None and not list(tmp_path.glob(".bk.*.tmp")) \
            and time.monotonic() < deadline:
        time.sleep(0.001)
    process.kill()
    process.wait()
    # Killed while building: no DEST at all; or it had finished: a whole, verified one.
    if destination.exists():
        assert json.loads((destination / "backup.json").read_text())["videos"]
        assert cli("verify", "--data", destination).exit_code == 0
    leftovers = list(tmp_path.glob(".bk.*.tmp*"))
    result = cli("backup", destination, "--data", data, "--force", "-q")
    assert result.exit_code == 0, result.output
    for leftover in leftovers:  # the next run removes what the killed one left
        assert not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bk"]


def test_leftovers_of_dead_processes_are_removed_and_live_ones_kept(source_root, tmp_path):
    import socket

    data, _ = source_root
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = tmp_path / f".bk.{socket.gethostname()}.{finished.stdout.strip()}.tmp"
    (dead / "videos").mkdir(parents=True)
    alive = tmp_path / f".bk.{socket.gethostname()}.{os.getppid()}.tmp"
    alive.mkdir()
    other = tmp_path / ".other.tmp"
    other.mkdir()
    assert cli("backup", tmp_path / "bk", "--data", data, "-q").exit_code == 0
    assert not dead.exists() and alive.is_dir() and other.is_dir()
