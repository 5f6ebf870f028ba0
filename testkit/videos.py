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


def make_raw_h264(path: Path, seconds: float = 4.0, fps: int = 25) -> Path:
    """A raw H.264 elementary stream: no container, so no timestamps at all."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x240:rate={fps}", "-t", str(seconds), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "h264", str(path)],
                   check=True)
    return path


def make_joined_ts(path: Path, seconds: float = 2.0, fps: int = 25) -> Path:
    """Two MPEG-TS files joined byte for byte (``cat a.ts b.ts``): the second one's
    timestamps start again from where the first one's started."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed")
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    for number, source in enumerate(("testsrc2", "testsrc")):
        part = path.with_name(f".{path.stem}.part{number}.ts")
        subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"{source}=size=320x240:rate={fps}", "-t", str(seconds), "-c:v",
                        "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(part)],
                       check=True)
        parts.append(part)
    path.write_bytes(b"".join(part.read_bytes() for part in parts))
    for part in parts:
        part.unlink()
    return path
