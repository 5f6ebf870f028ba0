"""SQLite helpers for tests: rows written through VideoDatabase, a writer killed mid-commit."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from vabatch.db import VideoDatabase
from vabatch.db.checksums import checksum


def add_ocr_rows(video_dir: Path, rows) -> None:
    """Insert ``(frame_index, box_index, text)`` rows into fullOCR.db (created if absent)."""
    with VideoDatabase(video_dir, write="fullOCR", require=("video",)) as db:
        with db.conn:
            db.conn.executemany(
                "INSERT INTO fullOCR.full_frame_ocr (frame_index, box_index, text, text_xxh3,"
                " confidence, x, y, width, height) VALUES (?, ?, ?, ?, 0.9, 10, 20, 30, 40)",
                [(frame, box, text, checksum(text)) for frame, box, text in rows])


KILLED_MID_COMMIT = """
import os, signal, sys
import apsw
conn = apsw.Connection(sys.argv[1])
conn.execute("PRAGMA cache_size = 5")  # spill pages into the file before the commit
conn.execute("BEGIN")
conn.execute(sys.argv[2])
os.kill(os.getpid(), signal.SIGKILL)
"""


def kill_mid_commit(database: Path, sql: str) -> None:
    """Run ``sql`` in a transaction of another process on ``database`` (rollback journal)
    and SIGKILL that process before it commits: a hot journal and a half-written file."""
    done = subprocess.run([sys.executable, "-c", KILLED_MID_COMMIT, str(database), sql])
    assert done.returncode == -signal.SIGKILL
    assert database.with_name(database.name + "-journal").exists()
