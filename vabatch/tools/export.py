"""``vabatch export``: captions.db to SRT, WebVTT or JSON, one file per video.

Files are named after the source video's stem (``talk.mp4`` -> ``talk.srt``), in the folder
the video was ingested from relative to the common root of all of them; when two videos of
one folder share a stem, each gets ``-<first 8 characters of its id>`` appended, so the names
are stable whatever the order. Each file is written under a temporary name and renamed.
A caption that cannot be written (no text, no time, reversed, out of range) is reported with
its reason, never dropped silently.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vabatch.db import VideoDatabase
from vabatch.errors import DatabaseError, InputError
from vabatch.fsutil import atomic_write, child_path

FORMATS = ("srt", "vtt", "json")
MAX_MS = 359_999_999  # 99:59:59,999: the largest time SRT's two-digit hours can say


@dataclass
class ExportedCaption:
    start_ms: int
    end_ms: int
    start_frame_index: int
    end_frame_index: int
    text: str
    confidence: float | None
    source: str
    agreement: float | None = None  # share of its readings that gave its text
    readings: int | None = None  # band strips OCR read for it


@dataclass
class Dropped:
    """A caption that was not written, and why."""

    caption_id: int
    start_ms: int | None
    end_ms: int | None
    text: str
    reason: str


def _why_not(start_ms, end_ms, text, duration_ms) -> str | None:
    """Why a caption row cannot be written as a cue (None: it can)."""
    if not (text or "").strip():
        return "no text"
    if start_ms is None or end_ms is None:
        return "no time (start_ms or end_ms is NULL)"
    if start_ms < 0:
        return f"negative start time ({start_ms} ms)"
    if end_ms <= start_ms:
        return f"ends before it starts ({start_ms} ms -> {end_ms} ms)"
    if end_ms > MAX_MS:
        return f"time beyond {timestamp(MAX_MS, ',')} ({end_ms} ms)"
    if duration_ms and start_ms >= duration_ms:
        return f"starts after the video's end ({start_ms} ms >= {duration_ms} ms)"
    return None


why_not_written = _why_not  # public name, for the subtitle import (tools/annotate)


def load_captions(video_dir: Path) -> tuple[str, list[ExportedCaption]]:
    """The source name and the captions of one video that can be written, in time order."""
    source, captions, _ = load_captions_checked(video_dir)
    return source, captions


def load_captions_checked(video_dir: Path,
                          ) -> tuple[str, list[ExportedCaption], list[Dropped]]:
    """(source name, the captions in time order, those that cannot be written and why)."""
    with VideoDatabase(video_dir, require=("video", "captions")) as db:
        source, duration_ms = db.execute(
            "SELECT source_name, duration_ms FROM video.video_metadata").fetchall()[0]
        columns = {row[1] for row in db.execute("PRAGMA captions.table_info(captions)")}
        evidence = ", agreement, readings" if "agreement" in columns else ""
        # The stored bytes, decoded here: damaged text is one clear error, not a crash.
        rows = db.execute(
            "SELECT id, start_ms, end_ms, start_frame_index, end_frame_index,"
            " CAST(text AS BLOB), confidence, source" + evidence + ", typeof(text)"
            " FROM captions.captions"
            " WHERE boundary_state IS NOT 'deleted'"  # deleted by a person (docs/annotate.md)
            " ORDER BY start_ms, start_frame_index, id").fetchall()
    captions, dropped = [], []
    for caption_id, start_ms, end_ms, *rest, stored_as in rows:
        rest[2] = text = _decoded(db.path("captions"), caption_id, rest[2], stored_as)
        reason = _why_not(start_ms, end_ms, text, duration_ms)
        if reason:
            dropped.append(Dropped(caption_id, start_ms, end_ms, text, reason))
        else:
            captions.append(ExportedCaption(start_ms, end_ms, *rest))
    return source, captions, dropped


def _decoded(path: Path, caption_id: int, raw: bytes | None, stored_as: str,
             what: str = "caption") -> str:
    """The text of a caption from its stored bytes ('' for none). Bytes that are not UTF-8
    are damage in a TEXT value (an error naming the caption); in a BLOB, what migrate
    carried over from a legacy file as it was (no text that can be written)."""
    if raw is None:
        return ""
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        if stored_as == "blob":
            return ""
        raise DatabaseError(f"{path}: {what} {caption_id}: its text is damaged (not valid "
                            "UTF-8); nothing exported for this video (`vabatch verify` names"
                            " every damaged value)") from None


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


def load_not_captions(video_dir: Path) -> list[dict]:
    """What the captions stage read but did not keep as captions, each with its reason."""
    with VideoDatabase(video_dir, require=("captions",)) as db:
        if not db.execute("SELECT 1 FROM captions.sqlite_master"
                          " WHERE name = 'rejected_captions'").fetchall():
            return []
        names = ("start_ms", "end_ms", "start_frame_index", "end_frame_index", "text",
                 "confidence", "reason")
        selected = ", ".join("CAST(text AS BLOB)" if n == "text" else n for n in names)
        rows = db.execute(f"SELECT {selected}, id, typeof(text) FROM captions.rejected_captions"
                          " ORDER BY start_frame_index, id").fetchall()
    found = []
    for *row, row_id, stored_as in rows:
        row[4] = _decoded(db.path("captions"), row_id, row[4], stored_as,
                          "not-caption candidate")
        found.append(dict(zip(names, row, strict=True)))
    return found


def to_json(video_id: str, source: str, captions: list[ExportedCaption],
            not_captions: list[dict] = ()) -> str:
    return json.dumps({"video_id": video_id, "source_name": source,
                       "captions": [vars(c) for c in captions],
                       "not_captions": list(not_captions)},
                      ensure_ascii=False, indent=1) + "\n"


# The stage that makes each database, in pipeline order: the first one missing is named.
_MAKERS = (("video.db", "ingest"), ("fullOCR.db", "ocr"), ("layout.db", "layout"),
           ("cropping.db", "crop"), ("captions.db", "captions"))


@dataclass
class VideoExport:
    """What export did for one video."""

    video_id: str
    status: str  # 'written', 'empty' (no caption to write), 'missing' (no captions.db yet)
    # or 'failed' (it has captions, none could be written)
    source_name: str | None = None
    path: str | None = None  # the file written
    captions: int = 0  # cues written
    dropped: list[Dropped] = field(default_factory=list)
    missing_stage: str | None = None  # the first stage whose database is absent
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def missing_stage(video_dir: Path) -> str | None:
    """The first pipeline stage whose database the video lacks (None: it has them all)."""
    return next((stage for name, stage in _MAKERS if not (video_dir / name).exists()), None)


def export_videos(video_dirs: list[Path], export_format: str, out_dir: Path,
                  mirror: bool = True) -> list[VideoExport]:
    """Write one file per video that has captions.db; say for every video what was written,
    and for every caption not written, why.

    With ``mirror``, files go into the folders the videos were ingested from, relative to
    their common root (``s1/ep01.mp4`` -> ``OUT/s1/ep01.srt``); a video whose folder is not
    recorded goes to ``OUT`` itself. Two videos of the same stem in one folder get
    ``-<first 8 characters of the id>`` appended.
    """
    if export_format not in FORMATS:
        raise InputError(f"unknown export format {export_format!r} (srt, vtt or json)")
    results, loaded = [], []
    for video_dir in video_dirs:
        if not (video_dir / "captions.db").exists():
            stage = missing_stage(video_dir)
            results.append(VideoExport(video_dir.name, "missing", missing_stage=stage,
                                       note=f"no captions.db yet: run `vabatch {stage}` "
                                       "(or `vabatch run`)"))
            continue
        try:
            source, captions, dropped = load_captions_checked(video_dir)
        except DatabaseError as error:
            results.append(VideoExport(video_dir.name, "failed", note=str(error)))
            continue
        result = VideoExport(video_dir.name, "written", source, captions=len(captions),
                             dropped=dropped)
        results.append(result)
        loaded.append((video_dir, result, captions, _recorded_folder(video_dir)))
    folders = _relative_folders([folder for *_, folder in loaded]) if mirror else {}
    names = Counter((folders.get(folder, ()), Path(r.source_name).stem)
                    for _, r, _, folder in loaded)
    out_dir.mkdir(parents=True, exist_ok=True)
    for video_dir, result, captions, folder in loaded:
        parts = folders.get(folder, ())
        stem = Path(result.source_name).stem
        if names[(parts, stem)] > 1:
            stem = f"{stem}-{video_dir.name[:8]}"
        target = out_dir
        for part in parts:
            target = child_path(target, part)
        target.mkdir(parents=True, exist_ok=True)
        path = child_path(target, f"{stem}.{export_format}")
        try:
            rendered = _render(export_format, video_dir, result.source_name, captions)
        except DatabaseError as error:
            result.status, result.note = "failed", str(error)
            continue
        atomic_write(path, rendered)
        result.path = str(path)
        _judge(result)
    return results


def _render(export_format: str, video_dir: Path, source: str, captions) -> str:
    if export_format == "srt":
        return to_srt(captions)
    if export_format == "vtt":
        return to_vtt(captions)
    return to_json(video_dir.name, source, captions, load_not_captions(video_dir))


def _judge(result: VideoExport) -> None:
    """The video's status from what was written and what was not."""
    if result.captions:
        return
    if result.dropped:
        result.status = "failed"
        result.note = (f"{len(result.dropped)} captions, none could be written "
                       f"({result.dropped[0].reason}, ...)")
    else:
        result.status = "empty"
        result.note = "no captions: the captions stage found none (see `vabatch status`)"


def _recorded_folder(video_dir: Path) -> str | None:
    """The folder the video was ingested from (or the legacy tool's recorded one)."""
    with VideoDatabase(video_dir, require=("video",)) as db:
        columns = db.columns("video", "video_metadata")
        wanted = [c for c in ("source_path", "legacy_video_path") if c in columns]
        if not wanted:
            return None
        row = db.execute(f"SELECT {', '.join(wanted)} FROM video.video_metadata").fetchone()
    path = next((value for value in row or () if isinstance(value, str) and value), None)
    if not path or not os.path.isabs(path):
        return None
    return os.path.dirname(os.path.normpath(path))


def _relative_folders(folders: list[str | None]) -> dict[str, tuple[str, ...]]:
    """Each recorded folder as its parts below the common root of all of them."""
    known = sorted({f for f in folders if f})
    if not known:
        return {}
    root = os.path.commonpath(known)
    return {f: Path(os.path.relpath(f, root)).parts if f != root else () for f in known}
