"""``vabatch export``: captions.db to SRT, WebVTT or JSON, one file per video.

Files are named after the source video's stem (``talk.mp4`` -> ``talk.srt``); when two
videos share a stem, each gets ``-<first 8 characters of its id>`` appended, so the names
are stable whatever the order. Each file is written under a temporary name and renamed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from vabatch.db import VideoDatabase
from vabatch.errors import InputError
from vabatch.fsutil import atomic_write

FORMATS = ("srt", "vtt", "json")


@dataclass
class ExportedCaption:
    start_ms: int
    end_ms: int
    start_frame_index: int
    end_frame_index: int
    text: str
    confidence: float | None
    source: str


def load_captions(video_dir: Path) -> tuple[str, list[ExportedCaption]]:
    """The source name and the captions of one video, in time order (empty ones left out)."""
    with VideoDatabase(video_dir, require=("video", "captions")) as db:
        source = db.execute("SELECT source_name FROM video.video_metadata").fetchall()[0][0]
        rows = db.execute(
            "SELECT start_ms, end_ms, start_frame_index, end_frame_index, text, confidence,"
            " source FROM captions.captions WHERE trim(coalesce(text, '')) != ''"
            " ORDER BY start_ms, start_frame_index, id").fetchall()
    captions = [ExportedCaption(*row) for row in rows if row[0] is not None
                and row[1] is not None and row[1] > row[0]]
    return source, captions


def timestamp(ms: int, separator: str) -> str:
    hours, rest = divmod(int(ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _lines(text: str) -> list[str]:
    # A blank line ends a cue in both formats: keep only lines with text.
    return [line.strip() for line in text.splitlines() if line.strip()]


def to_srt(captions: list[ExportedCaption]) -> str:
    blocks = []
    for number, caption in enumerate(captions, 1):
        blocks.append(f"{number}\n{timestamp(caption.start_ms, ',')} --> "
                      f"{timestamp(caption.end_ms, ',')}\n" + "\n".join(_lines(caption.text)))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _vtt_escape(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(captions: list[ExportedCaption]) -> str:
    cues = [f"{timestamp(c.start_ms, '.')} --> {timestamp(c.end_ms, '.')}\n"
            + "\n".join(_vtt_escape(line) for line in _lines(c.text)) for c in captions]
    return "WEBVTT\n\n" + "\n\n".join(cues) + ("\n" if cues else "")


def to_json(video_id: str, source: str, captions: list[ExportedCaption]) -> str:
    return json.dumps({"video_id": video_id, "source_name": source,
                       "captions": [vars(c) for c in captions]},
                      ensure_ascii=False, indent=1) + "\n"


def export_videos(video_dirs: list[Path], export_format: str, out_dir: Path) -> list[Path]:
    """Write one file per video that has captions.db; return the files written."""
    if export_format not in FORMATS:
        raise InputError(f"unknown export format {export_format!r} (srt, vtt or json)")
    loaded = []
    for video_dir in video_dirs:
        if not (video_dir / "captions.db").exists():
            continue
        source, captions = load_captions(video_dir)
        loaded.append((video_dir, source, captions))
    stems = Counter(Path(source).stem for _, source, _ in loaded)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for video_dir, source, captions in loaded:
        stem = Path(source).stem
        if stems[stem] > 1:
            stem = f"{stem}-{video_dir.name[:8]}"
        if export_format == "srt":
            text = to_srt(captions)
        elif export_format == "vtt":
            text = to_vtt(captions)
        else:
            text = to_json(video_dir.name, source, captions)
        path = out_dir / f"{stem}.{export_format}"
        atomic_write(path, text)
        written.append(path)
    return written
