"""Schemas: application ids, versions, ordered transactional upgrades."""

from __future__ import annotations

import apsw
import pytest

from vabatch.db import KINDS, VideoDatabase, apply_schema, latest_version
from vabatch.db.schema import read_header, schema_steps
from vabatch.errors import DatabaseError


def test_every_kind_has_a_distinct_application_id_and_its_tables(tmp_path):
    assert len({kind.application_id for kind in KINDS.values()}) == len(KINDS)
    for alias, kind in KINDS.items():
        conn = apsw.Connection(str(tmp_path / kind.file_name))
        assert apply_schema(conn, alias) == latest_version(alias) >= 1
        assert read_header(conn) == (kind.application_id, latest_version(alias))
        tables = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert set(kind.required_tables) <= tables
        conn.close()


def test_upgrade_of_a_file_made_at_an_older_version_keeps_its_rows(tmp_path):
    steps = schema_steps("video")
    assert len(steps) >= 2, "the video schema has an upgrade step to test"
    path = tmp_path / "video.db"
    conn = apsw.Connection(str(path))
    assert apply_schema(conn, "video", steps[:1]) == 1
    conn.execute("INSERT INTO full_frames VALUES (0, 0, x'ff', 'jpeg', 1, 1),"
                 " (5, 200, x'ee', 'jpeg', 1, 1)")
    conn.close()

    # A stage that writes the file upgrades it on open.
    with VideoDatabase(tmp_path, write="video") as db:
        assert db.execute("PRAGMA video.user_version").fetchall()[0][0] == len(steps)
        rows = db.execute("SELECT frame_index, image_data FROM video.full_frames").fetchall()
        assert rows == [(0, b"\xff"), (5, b"\xee")]
        indexes = {name for (name,) in db.execute(
            "SELECT name FROM video.sqlite_master WHERE type = 'index'")}
        assert "full_frames_by_timestamp" in indexes


def test_a_failing_step_leaves_the_file_at_its_old_version(tmp_path):
    conn = apsw.Connection(str(tmp_path / "video.db"))
    steps = schema_steps("video")
    apply_schema(conn, "video", steps[:1])
    broken = (steps[0], "CREATE TABLE half_done (a); THIS IS NOT SQL;")
    with pytest.raises(apsw.SQLError):
        apply_schema(conn, "video", broken)
    assert read_header(conn)[1] == 1
    assert not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'half_done'").fetchall()


def test_a_file_of_another_kind_or_a_newer_version_is_refused(tmp_path):
    conn = apsw.Connection(str(tmp_path / "x.db"))
    apply_schema(conn, "layout")
    with pytest.raises(DatabaseError, match="application_id"):
        apply_schema(conn, "captions")
    conn.execute(f"PRAGMA user_version = {latest_version('layout') + 1}")
    with pytest.raises(DatabaseError, match="newer"):
        apply_schema(conn, "layout")
    conn.close()
