"""Fixtures that make real, tiny videos and data roots."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

FFMPEG = shutil.which("ffmpeg")


def make_video(path: Path, seconds: float = 2.0, size: str = "320x240", fps: int = 25,
               faststart: bool = False, source: str = "testsrc2") -> Path:
    """An H.264 MP4 from one of ffmpeg's lavfi sources (deterministic pixels)."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed")
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [FFMPEG, "-v", "error", "-y", "-f", "lavfi",
               "-i", f"{source}=size={size}:rate={fps}", "-t", str(seconds),
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if faststart:
        command += ["-movflags", "+faststart"]
    subprocess.run([*command, str(path)], check=True)
    return path


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def small_video(tmp_path: Path) -> Path:
    """2 s, 320x240, 25 fps: 50 frames."""
    return make_video(tmp_path / "inputs" / "small.mp4")


@pytest.fixture
def ingested(small_video: Path, data_root: Path) -> Path:
    """The video directory of ``small_video`` after a real ingest (every 5th frame)."""
    from vabatch.media import Sampling
    from vabatch.stages.ingest import IngestOptions, ingest_file

    result = ingest_file(small_video, data_root, IngestOptions(Sampling("every", 5)))
    assert result.status == "ingested", result.error
    return Path(result.video_dir)


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
