"""``vabatch ingest``: store a video under its content id and write video.db.

A new video directory is built whole in ``videos/.staging/<id>.<host>.<pid>/`` and renamed
into place, so a killed ingest leaves no half-made video directory: only a staging folder
that the next ingest removes. ``--force`` rebuilds video.db in staging too and replaces the
old file in one rename, so the old one stays whole until the new one is complete.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from vabatch import __version__
from vabatch.dataroot import (
    VIDEO_EXTENSIONS,
    VIDEO_ID_LENGTH,
    checked_staging_root,
    checked_video_dir,
    remove_abandoned_staging,
)
from vabatch.db import VideoDatabase
from vabatch.db.checksums import checksum
from vabatch.errors import InputError, VabatchError
from vabatch.fsutil import fsync_path, link_or_copy, process_tag, remove_tree_entry
from vabatch.media import (
    DEFAULT_SAMPLING,
    Sampling,
    Timeline,
    check_complete,
    decode_frames,
    encode_image,
    file_hashes,
    open_capture,
    probe,
    refuse_playlist,
)
from vabatch.stages.base import ProgressCallback, Stage, StageContext, StageResult

FRAMES_PER_TRANSACTION = 64
PROGRESS_EVERY_FRAMES = 30



@dataclass(frozen=True)
class IngestOptions:
    """How frames are sampled and stored."""

    sampling: Sampling = DEFAULT_SAMPLING
    image_format: str = "jpeg"
    jpeg_quality: int = 90
    force: bool = False
    recorded_path: str | None = None  # the source_path to record instead of the input's own
    # (`vabatch dvc ingest` rebuilds from a temporary link, byte for byte as first made)
    # Settings (names of RECORDED_SETTINGS) taken from the video's video.db when it has one,
    # instead of the values above: what options not given on the command line use, so
    # `ingest --force` rebuilds a video as it was sampled (its settings persist until changed).
    keep: tuple[str, ...] = ()


RECORDED_SETTINGS = ("sampling", "image_format", "jpeg_quality")


@dataclass
class IngestResult(StageResult):
    """What happened to one input."""

    input: str
    status: str  # 'ingested', 'rebuilt', 'unchanged' or 'failed'
    video_id: str | None = None  # known once the file is hashed
    video_dir: str | None = None
    frame_count: int = 0  # frames decoded
    frames_sampled: int = 0  # frames stored in video.db
    seconds: float = 0.0
    error: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def failed(cls, target: Path, error: str) -> IngestResult:
        return cls(input=str(target), status="failed", error=error)


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus video files found by recursing into folders.

    A folder contributes files with a video extension; a file named directly is tried
    whatever its extension. Missing paths are kept so they are reported, not skipped.
    """
    expanded: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found = [path]
        for item in found:
            key = item.absolute()
            if key not in seen:
                seen.add(key)
                expanded.append(item)
    return expanded


def ingest_file(
    source: Path,
    data_root: Path,
    options: IngestOptions = IngestOptions(),
    progress: ProgressCallback | None = None,
    raise_errors: bool = False,
) -> IngestResult:
    """Ingest one video file; failures come back as a result, not an exception.

    ``raise_errors``: raise them instead, so the batch engine can tell a transient error
    (retried) from a permanent one.
    """
    started = time.monotonic()
    result = IngestResult(input=str(source), status="failed")
    try:
        _ingest(Path(source), Path(data_root), options, progress, result)
    except VabatchError as error:
        if raise_errors:
            raise
        result.status, result.error = "failed", str(error)
    except OSError as error:
        if raise_errors:
            raise
        result.status, result.error = "failed", f"{source}: {error.strerror or error}"
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _ingest(source, data_root, options, progress, result) -> None:
    if not source.exists():
        raise InputError(f"{source}: no such file")
    if not source.is_file():
        raise InputError(f"{source}: not a regular file")
    if source.stat().st_size == 0:
        raise InputError(f"{source}: empty file (0 bytes)")
    refuse_playlist(source)
    content_sha256, source_xxh3 = file_hashes(source)
    video_id = content_sha256[:VIDEO_ID_LENGTH]
    target = checked_video_dir(data_root, video_id)
    result.video_id, result.video_dir = video_id, str(target)

    existing = _existing_metadata(target)
    if existing is not None and existing["content_sha256"] == content_sha256:
        recorded, note = recorded_settings(existing)
        if not options.force:
            result.status = "unchanged"
            result.frame_count = existing["frame_count"]
            result.frames_sampled = existing["frames_sampled"]
            _note_ignored(options, recorded, result)
            return
        options = replace(options, **{name: recorded[name] for name in options.keep
                                      if name in recorded})
        if note and "sampling" in options.keep:
            result.extra["note"] = f"{note}: rebuilt at {options.sampling.describe()}"
    elif existing is None and (target / "video.db").exists() and options.keep:
        result.extra["note"] = ("the old video.db could not be read, so its settings are "
                                f"unknown: rebuilt at {options.sampling.describe()}")

    staging = checked_staging_root(data_root) / f"{video_id}.{process_tag()}"
    remove_tree_entry(staging)
    staging.mkdir(parents=True)
    try:
        stored_name = "source" + (source.suffix.lower() or ".video")
        if not (target / stored_name).exists():
            link_or_copy(source, staging / stored_name)
        frame_count, frames_sampled, timing_note = build_video_db(
            staging, source, stored_name, content_sha256, options, progress,
            source_xxh3=source_xxh3,
        )
        if timing_note:
            result.extra["note"] = timing_note
        fsync_path(staging / "video.db")
        if target.exists():
            _replace_into(staging, target)
            result.status = "rebuilt"
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging, target)
            except OSError:
                if not target.exists():
                    raise
                # The same content was ingested concurrently (a duplicate input).
                result.status = "unchanged"
                result.extra["note"] = "duplicate of another input"
                return
            result.status = "ingested"
            fsync_path(target.parent)
        result.frame_count, result.frames_sampled = frame_count, frames_sampled
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def recorded_settings(existing: dict) -> tuple[dict, str | None]:
    """The settings (RECORDED_SETTINGS) a video's video.db was made with, as option values;
    the note says why the sampling is missing (a migrated video.db records none)."""
    found, note = {}, None
    try:
        found["sampling"] = Sampling(existing["sampling_mode"], existing["sampling_value"])
    except (InputError, TypeError):
        note = ("video.db records no sampling ingest can repeat (sampling_mode "
                f"{existing['sampling_mode']!r}, e.g. migrated from the old tool)")
    if existing["image_format"] in ("jpeg", "png"):
        found["image_format"] = existing["image_format"]
    quality = existing["image_quality"]
    if isinstance(quality, int) and 1 <= quality <= 100:
        found["jpeg_quality"] = quality
    return found, note


def _note_ignored(options: IngestOptions, recorded: dict, result: IngestResult) -> None:
    """An already ingested video is left as it is: say so when a setting asked for differs
    from the one its video.db was made with (only `--force` rebuilds it)."""
    asked = {name: getattr(options, name) for name in RECORDED_SETTINGS
             if name not in options.keep and name in recorded}
    if asked.get("image_format") == "png" or recorded.get("image_format") == "png":
        asked.pop("jpeg_quality", None)  # not used by PNG frames
    differ = [name for name, value in asked.items() if value != recorded[name]]
    if differ:
        shown = {"sampling": lambda s: s.describe(), "image_format": str,
                 "jpeg_quality": lambda q: f"quality {q}"}
        had = ", ".join(shown[n](recorded[n]) for n in differ)
        wanted = ", ".join(shown[n](asked[n]) for n in differ)
        result.extra["note"] = (f"already ingested with {had}; kept as it is (--force "
                                f"rebuilds it with {wanted})")


def _replace_into(staging: Path, target: Path) -> None:
    """Move the staged files over an existing video directory, video.db last."""
    for entry in sorted(staging.iterdir(), key=lambda p: p.name == "video.db"):
        os.replace(entry, target / entry.name)
    fsync_path(target)


METADATA_COLUMNS = ("content_sha256", "frame_count", "frames_sampled", "sampling_mode",
                    "sampling_value", "image_format", "image_quality")


def _existing_metadata(target: Path) -> dict | None:
    if not (target / "video.db").exists():
        return None
    try:
        with VideoDatabase(target, require=("video",)) as db:
            row = db.execute(
                "SELECT content_sha256, frame_count, (SELECT count(*) FROM video.full_frames),"
                " sampling_mode, sampling_value, image_format, image_quality"
                " FROM video.video_metadata").fetchall()
    except VabatchError:
        return None  # damaged: rebuild it
    if not row:
        return None
    return dict(zip(METADATA_COLUMNS, row[0], strict=True))


def ingested_at() -> str:
    """Now in UTC, or ``$SOURCE_DATE_EPOCH`` when set, for reproducible files."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (datetime.fromtimestamp(int(epoch), timezone.utc) if epoch
              else datetime.now(timezone.utc))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_video_db(
    video_dir: Path,
    source: Path,
    stored_name: str,
    content_sha256: str,
    options: IngestOptions,
    progress: ProgressCallback | None = None,
    source_xxh3: str | None = None,
) -> tuple[int, int, str | None]:
    """Decode ``source``, write video.db in ``video_dir``; return (frames, frames kept,
    the timing note: None unless the stream's timestamps were unusable)."""
    capture = open_capture(source)
    try:
        info = probe(capture)
        keep = options.sampling.selector()
        timeline = Timeline(info.fps)
        decoded = kept = 0
        last_timestamp_ms = 0
        with VideoDatabase(video_dir, write="video") as db:
            db.execute("BEGIN")
            for frame in decode_frames(capture, keep, timeline):
                decoded += 1
                last_timestamp_ms = frame.timestamp_ms
                if frame.image is not None:
                    height, width = frame.image.shape[:2]
                    data = encode_image(frame.image, options.image_format, options.jpeg_quality)
                    db.execute(
                        "INSERT INTO video.full_frames (frame_index, timestamp_ms, image_data,"
                        " image_data_xxh3, image_format, width, height)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (frame.frame_index, frame.timestamp_ms, data, checksum(data),
                         options.image_format, width, height),
                    )
                    kept += 1
                    if kept % FRAMES_PER_TRANSACTION == 0:
                        db.execute("COMMIT; BEGIN")
                if progress and decoded % PROGRESS_EVERY_FRAMES == 0:
                    progress(decoded, info.declared_frame_count)
            check_complete(source, decoded, info)
            fps = info.fps if info.fps > 0 else None
            frame_ms = 1000.0 / fps if fps else (timeline.frame_ms if timeline.note else 0.0)
            db.execute(
                "INSERT INTO video.video_metadata (id, source_name, source_file,"
                " content_sha256, size_bytes, width, height, fps, frame_count, duration_ms,"
                " codec, sampling_mode, sampling_value, image_format, image_quality,"
                " tool_version, ingested_at, source_path, timing_note, source_xxh3)"
                " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (source.name, stored_name, content_sha256, source.stat().st_size,
                 info.width, info.height, fps, decoded,
                 round(last_timestamp_ms + frame_ms), info.codec, options.sampling.mode,
                 options.sampling.value, options.image_format,
                 options.jpeg_quality if options.image_format == "jpeg" else None,
                 f"vabatch {__version__}", ingested_at(),
                 options.recorded_path or os.path.normpath(source.absolute()), timeline.note,
                 source_xxh3),
            )
            db.execute("COMMIT")
        if progress:
            progress(decoded, decoded)
        return decoded, kept, timeline.note
    finally:
        capture.release()


def run_ingest(context: StageContext, options: IngestOptions) -> IngestResult:
    """The stage as the engine runs it: one input file; errors are raised, so the engine
    can tell a transient one (retried) from a permanent one."""
    remove_abandoned_staging(context.data_root)  # a killed earlier attempt's staging folder
    return ingest_file(context.target, context.data_root, options, context.progress,
                       raise_errors=True)


STAGE = Stage("ingest", "video", IngestOptions, IngestResult, run_ingest,
              on="file", in_run=False)
