"""Fixtures that make real, tiny videos and data roots (the helpers live in testkit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.videos import make_video


@pytest.fixture(autouse=True)
def _default_data_root(tmp_path: Path, monkeypatch) -> None:
    """A command run without --data uses the test's own data root, never ./data of the
    repository (``vabatch migrate`` adds what it migrates to the data root)."""
    monkeypatch.setenv("VABATCH_DATA", str(tmp_path / "data"))


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
