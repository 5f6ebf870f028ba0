"""runs.db of a data root copied with hard links (``cp -al``) is the copy's own."""

from __future__ import annotations

import os
import shutil

from vabatch.engine.records import RUNS_FILE, open_runs_database


def test_a_run_in_a_hard_linked_copy_leaves_the_original_runs_database_alone(tmp_path):
    original, copy = tmp_path / "root", tmp_path / "copy"
    conn = open_runs_database(original, create=True)
    conn.close()
    before = (original / RUNS_FILE).read_bytes()
    copy.mkdir()
    os.link(original / RUNS_FILE, copy / RUNS_FILE)
    conn = open_runs_database(copy, create=True)
    with conn:
        conn.execute("CREATE TABLE written_in_the_copy (x)")
    conn.close()
    assert (original / RUNS_FILE).read_bytes() == before
    assert (original / RUNS_FILE).stat().st_nlink == 1
    assert (copy / RUNS_FILE).read_bytes() != before
    shutil.rmtree(copy)
