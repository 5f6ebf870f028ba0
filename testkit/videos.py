"""Tiny real videos from ffmpeg's lavfi sources (deterministic pixels, no captions)."""

from __future__ import annotations

import shutil
import subprocess
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
