"""VideoDatabase: attach, read-only by default, one writer, WAL while writing, clean exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import apsw
import pytest

from testkit.databases import add_ocr_rows, kill_mid_commit
from vabatch.db import VideoDatabase
from vabatch.db.files import sidecars, sqlite_uri
from vabatch.db.video_database import open_connection, stale_sidecars
from vabatch.errors import DatabaseError, MissingDatabaseError


def open_fds_under(directory: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


def test_every_present_database_is_attached_and_joins_across(ingested):
    add_ocr_rows(ingested, [(0, 0, "hello"), (5, 0, "world")])
    with VideoDatabase(ingested) as db:
        assert set(db.attached) == {"video", "fullOCR"}
        rows = db.execute(
            "SELECT f.frame_index, f.timestamp_ms, o.text FROM video.full_frames f"
            " JOIN fullOCR.full_frame_ocr o USING (frame_index) ORDER BY f.frame_index"
        ).fetchall()
    assert rows == [(0, 0, "hello"), (5, 200, "world")]


def test_read_only_by_default_and_only_the_named_database_is_writable(ingested):
    add_ocr_rows(ingested, [(0, 0, "hello")])
    with VideoDatabase(ingested) as db:
        with pytest.raises(apsw.ReadOnlyError):
            db.execute("DELETE FROM video.full_frames")
        with pytest.raises(apsw.ReadOnlyError):
            db.execute("DELETE FROM fullOCR.full_frame_ocr")
    with VideoDatabase(ingested, write="fullOCR") as db:
        db.execute("DELETE FROM fullOCR.full_frame_ocr")  # the stage's own database
        with pytest.raises(apsw.ReadOnlyError):
            db.execute("UPDATE video.full_frames SET timestamp_ms = 0")
        with pytest.raises(apsw.AuthError):  # the scratch main schema would lose it
            db.execute("CREATE TABLE stray (a)")
    with VideoDatabase(ingested) as db:
        assert db.execute("SELECT count(*) FROM video.full_frames").fetchall()[0][0] == 10


def test_an_unwritable_file_is_attached_immutable(ingested):
    video_db = ingested / "video.db"
    with VideoDatabase(ingested) as db:
        assert "immutable=1" not in db.uris["video"]
    video_db.chmod(0o444)  # as DVC leaves files linked from its cache
    with VideoDatabase(ingested) as db:
        assert "immutable=1" in db.uris["video"] and "mode=ro" in db.uris["video"]
        assert db.execute("SELECT count(*) FROM video.full_frames").fetchall()[0][0] == 10
    assert sidecars(video_db) == []


def test_writing_a_protected_hard_linked_file_replaces_it_and_spares_the_other_link(
        ingested, tmp_path):
    add_ocr_rows(ingested, [(0, 0, "hello")])
    ocr_db = ingested / "fullOCR.db"
    cache_copy = tmp_path / "cache-object"
    os.link(ocr_db, cache_copy)
    ocr_db.chmod(0o444)
    before = cache_copy.read_bytes()
    add_ocr_rows(ingested, [(5, 0, "again")])
    assert cache_copy.read_bytes() == before
    assert os.stat(ocr_db).st_ino != os.stat(cache_copy).st_ino
    with VideoDatabase(ingested) as db:
        assert db.execute("SELECT count(*) FROM fullOCR.full_frame_ocr").fetchall()[0][0] == 2


def test_wal_while_writing_and_one_self_contained_file_after(ingested):
    ocr_db = ingested / "fullOCR.db"
    with VideoDatabase(ingested, write="fullOCR") as db:
        assert db.execute("PRAGMA fullOCR.journal_mode").fetchall()[0][0] == "wal"
        db.execute("INSERT INTO fullOCR.ocr_frames VALUES (0, 0, NULL)")
        assert ocr_db.with_name("fullOCR.db-wal").exists()
    assert sidecars(ocr_db) == []
    # File format bytes 18-19 are 1 for a rollback-journal database, 2 for WAL.
    assert ocr_db.read_bytes()[18:20] == b"\x01\x01"
    assert sorted(p.name for p in ingested.iterdir()) == ["fullOCR.db", "source.mp4",
                                                          "video.db"]


def test_a_failed_stage_rolls_back_and_still_leaves_no_sidecars(ingested):
    with pytest.raises(RuntimeError):
        with VideoDatabase(ingested, write="fullOCR") as db:
            db.execute("BEGIN")
            db.execute("INSERT INTO fullOCR.ocr_frames VALUES (0, 0, NULL)")
            raise RuntimeError("stage failed")
    with VideoDatabase(ingested) as db:
        assert db.execute("SELECT count(*) FROM fullOCR.ocr_frames").fetchall()[0][0] == 0
    assert sidecars(ingested / "fullOCR.db") == []


def test_missing_required_database_names_the_file(ingested):
    with pytest.raises(MissingDatabaseError) as caught:
        with VideoDatabase(ingested, require=("video", "layout")):
            pass
    assert str(ingested / "layout.db") in str(caught.value)
    assert "vabatch layout" in str(caught.value)
    with VideoDatabase(ingested) as db:  # optional: no error
        assert not db.has("layout")


def test_no_file_descriptors_remain_after_exit(ingested):
    add_ocr_rows(ingested, [(0, 0, "hello")])
    before = open_fds_under(ingested)
    for write in (None, "fullOCR"):
        with VideoDatabase(ingested, write=write) as db:
            db.execute("SELECT count(*) FROM video.full_frames JOIN fullOCR.full_frame_ocr"
                       " USING (frame_index)").fetchall()
            assert open_fds_under(ingested)
        assert open_fds_under(ingested) == before == []


LEGACY_SCHEMA = """
CREATE TABLE video_metadata (id INTEGER PRIMARY KEY CHECK (id = 1), video_path TEXT NOT NULL,
  video_hash TEXT, width INTEGER, height INTEGER, fps REAL, total_frames INTEGER,
  duration_seconds REAL, created_at TEXT);
CREATE TABLE full_frames (frame_index INTEGER PRIMARY KEY, timestamp_seconds REAL NOT NULL,
  image_data BLOB NOT NULL, width INTEGER, height INTEGER, created_at TEXT);
CREATE TABLE full_frame_ocr (id INTEGER PRIMARY KEY, frame_index INTEGER NOT NULL
  REFERENCES full_frames(frame_index), box_index INTEGER NOT NULL, text TEXT,
  confidence REAL, x INTEGER, y INTEGER, width INTEGER, height INTEGER,
  UNIQUE(frame_index, box_index));
CREATE TABLE captions (id INTEGER PRIMARY KEY, start_frame_index INTEGER NOT NULL,
  end_frame_index INTEGER NOT NULL, text TEXT, boundary_state TEXT,
  text_pending INTEGER DEFAULT 0, created_at TEXT, updated_at TEXT);
"""


def test_a_legacy_directory_opens_read_only_under_the_same_aliases(tmp_path):
    legacy_dir = tmp_path / "legacy"
    legacy_dir.mkdir()
    conn = apsw.Connection(str(legacy_dir / "captions.db"))
    conn.execute(LEGACY_SCHEMA)
    conn.execute("INSERT INTO full_frames VALUES (0, 0.0, x'ff', 2, 2, NULL)")
    conn.execute("INSERT INTO full_frame_ocr VALUES (1, 0, 0, 'hi', 0.9, 1, 2, 3, 4)")
    conn.execute("INSERT INTO captions VALUES (1, 0, 10, 'hi', NULL, 0, NULL, NULL)")
    conn.close()
    with VideoDatabase(legacy_dir) as db:
        assert db.legacy
        assert db.execute("SELECT f.frame_index, o.text FROM video.full_frames f"
                          " JOIN fullOCR.full_frame_ocr o USING (frame_index)"
                          ).fetchall() == [(0, "hi")]
        assert db.execute("SELECT text FROM captions.captions").fetchall() == [("hi",)]
        with pytest.raises(apsw.ReadOnlyError):
            db.execute("DELETE FROM captions.captions")
    with pytest.raises(DatabaseError, match="migrate"):
        with VideoDatabase(legacy_dir, write="captions"):
            pass
    assert sorted(p.name for p in legacy_dir.iterdir()) == ["captions.db"]


WRITER = textwrap.dedent("""
    import sys
    from vabatch.db import VideoDatabase
    video_dir, batches = sys.argv[1], int(sys.argv[2])
    with VideoDatabase(video_dir, write="fullOCR") as db:
        for batch in range(batches):
            with db.conn:  # one transaction: 200 rows of one batch
                for box in range(200):
                    db.execute("INSERT INTO fullOCR.full_frame_ocr (frame_index, box_index,"
                               " text, x, y, width, height) VALUES (?, ?, 'x', 0, 0, 1, 1)",
                               (batch, box))
""")


def test_a_reader_sees_only_committed_states_and_is_never_locked_out(ingested, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    batches = 300
    writer = subprocess.Popen([sys.executable, str(script), str(ingested), str(batches)])
    counts = []
    try:
        while writer.poll() is None:
            if (ingested / "fullOCR.db").exists():
                with VideoDatabase(ingested) as db:
                    if db.has("fullOCR"):
                        counts.append(db.execute(
                            "SELECT count(*) FROM fullOCR.full_frame_ocr").fetchall()[0][0])
            time.sleep(0.002)
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert len(counts) > 5, "the reader ran while the writer wrote"
    assert all(count % 200 == 0 for count in counts), "a reader saw a partial transaction"
    assert counts == sorted(counts)
    with VideoDatabase(ingested) as db:
        final = db.execute("SELECT count(*) FROM fullOCR.full_frame_ocr").fetchall()[0][0]
    assert final == batches * 200
    ocr_db = ingested / "fullOCR.db"
    # The file is back in rollback mode with everything in it. WAL files may remain when a
    # read began just before the writer left WAL mode (a read-only connection cannot delete
    # them); SQLite ignores them in rollback mode, and the next write removes them.
    assert ocr_db.read_bytes()[18:20] == b"\x01\x01"
    assert sidecars(ocr_db) == stale_sidecars(ocr_db)
    with VideoDatabase(ingested, write="fullOCR"):
        pass
    assert sidecars(ocr_db) == []


def test_wal_files_left_by_an_old_reader_are_removed_by_the_next_write(ingested):
    # A reader that opened the file while a stage wrote in WAL mode can touch -wal and -shm
    # after the switch back to a rollback journal; SQLite ignores them in that mode.
    add_ocr_rows(ingested, [(0, 0, "hello")])
    for suffix in ("-wal", "-shm"):
        (ingested / f"fullOCR.db{suffix}").write_bytes(b"")
    assert len(stale_sidecars(ingested / "fullOCR.db")) == 2
    with VideoDatabase(ingested) as db:
        assert db.execute("SELECT count(*) FROM fullOCR.full_frame_ocr").fetchall() == [(1,)]
    assert (ingested / "fullOCR.db-shm").exists()  # only a writer may remove them safely
    add_ocr_rows(ingested, [(5, 0, "again")])
    assert sidecars(ingested / "fullOCR.db") == []


def test_sql_inside_a_file_from_elsewhere_cannot_call_functions_or_rewrite_the_schema(tmp_path):
    path = tmp_path / "elsewhere.db"
    author = apsw.Connection(str(path))  # whoever made the file: any SQL they like
    author.execute("CREATE TABLE t (x); INSERT INTO t VALUES (1);"
                   " CREATE VIEW v AS SELECT note(x) FROM t")
    author.close()
    calls = []
    ours = open_connection(sqlite_uri(path, read_only=False))
    ours.create_scalar_function("note", lambda x: calls.append(x) or x)
    assert ours.execute("SELECT note(x) FROM t").fetchall() == [(1,)]  # our own SQL may
    with pytest.raises(apsw.SQLError, match="unsafe use of note"):
        ours.execute("SELECT * FROM v").fetchall()  # the file's view may not
    assert calls == [1]
    ours.execute("PRAGMA writable_schema = ON")
    with pytest.raises(apsw.Error):
        ours.execute("UPDATE sqlite_schema SET sql = 'CREATE TABLE t (' WHERE name = 't'")
    ours.close()
    assert apsw.Connection(str(path)).execute("SELECT x FROM t").fetchall() == [(1,)]


def test_a_writer_killed_mid_commit_is_rolled_back_by_the_next_reader(ingested):
    from vabatch.tools.verify import verify_video

    add_ocr_rows(ingested, [(0, 0, "hello"), (0, 1, "world")])
    ocr_db = ingested / "fullOCR.db"
    committed = ocr_db.read_bytes()
    kill_mid_commit(ocr_db, "WITH RECURSIVE n(box) AS (SELECT 0 UNION ALL SELECT box + 1"
                    " FROM n WHERE box < 2999) INSERT INTO full_frame_ocr (frame_index,"
                    " box_index, text, x, y, width, height) SELECT 99, box,"
                    " hex(randomblob(400)), 0, 0, 1, 1 FROM n")
    journal = ingested / "fullOCR.db-journal"
    assert ocr_db.read_bytes() != committed  # half-written, with a hot journal

    report = verify_video(ingested)  # verify only looks: it names the journal, changes nothing
    assert any(p.file == str(journal) and "killed" in p.message for p in report.problems)
    assert any(p.file == str(ocr_db) and "killed mid-commit" in p.message
               for p in report.problems)
    assert journal.exists()

    with VideoDatabase(ingested, require=("fullOCR",)) as db:  # SQLite alone refuses this
        rows = db.execute("SELECT frame_index, box_index, text FROM fullOCR.full_frame_ocr"
                          " ORDER BY 1, 2").fetchall()
    assert rows == [(0, 0, "hello"), (0, 1, "world")]
    assert not journal.exists()
    assert ocr_db.read_bytes() == committed
    assert verify_video(ingested).ok
