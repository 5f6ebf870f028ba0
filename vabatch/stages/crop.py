"""``vabatch crop``: cut the caption band out of every frame of the source video.

For every decoded frame, cropping.db gets a band signature (a small text mask, see
``vabatch.vision.band_signature``), so caption boundaries can be found to the frame. Band images
(``cropped_frames``) are stored for the frames the next step reads: a frame a couple of
frames after the band's text changed (a new caption state, once settled: the mask moved
away from the last stored one, or the captions stage's segmentation, run here frame by
frame with its default rules, starts a new span) and one frame per
``keyframe_interval_ms`` in between. Storing every strip would cost more than the video
itself (measured in docs/captions.md); these few are what OCR needs.

The database is built anew in a temporary file and renamed into place: a killed run leaves
the old one, and a re-run on the same inputs gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vabatch import __version__
from vabatch.db import VideoDatabase
from vabatch.db.checksums import checksum
from vabatch.errors import DatabaseError, InputError
from vabatch.fsutil import UnsafeNameError, child_path
from vabatch.media import DecodedFrame, decode_frames, encode_image, open_capture
from vabatch.stages.base import ProgressCallback, Stage, StageContext, StageResult
from vabatch.vision.band_signature import mask_iou, pack_mask, text_mask, unchanged_pixels
from vabatch.vision.caption_spans import SpanTracker

# Fingerprinted with the results: they go stale when this changes (docs/engine.md).
RULES_VERSION = "0.3.0"  # the release that last changed this stage's rules
STEADY_REACH = 4


@dataclass(frozen=True)
class CropOptions:
    """What is stored. All but ``force`` are recorded and part of the staleness check."""

    keyframe_interval_ms: int = 1000
    change_iou: float = 0.5  # mask IoU with the last stored strip below this: new content
    settle_frames: int = 2  # store the strip this many frames after a change
    min_ink_cells: int = 8  # masks with fewer set cells count as empty
    signature_scale: int = 4
    # Strokes count in a band signature only where the pixels stayed (within this many
    # levels) over a run of steady_reach + 1 frames that includes the frame (_steady_bands);
    # None: everywhere.
    steady_threshold: int | None = 40
    steady_reach: int = STEADY_REACH
    image_format: str = "jpeg"
    jpeg_quality: int = 90
    force: bool = False

    def recorded(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "force"}


@dataclass
class CropResult(StageResult):
    """What one crop run did to one video."""

    video_id: str
    status: str  # 'done', 'unchanged', 'no-band', 'no-source' or 'failed'
    frames: int = 0  # frames decoded (each has a band signature)
    strips: int = 0  # band images stored for the captions stage to read
    bytes_stored: int = 0  # of those images
    seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CropPlan:
    source: Path | None  # None: migrated without its video, nothing to crop from
    band: tuple[int, int, int, int] | None
    inputs_sha256: str
    up_to_date: bool
    declared_frames: int


def plan_crop(video_dir: Path, options: CropOptions) -> CropPlan:
    """What crop would use, and whether cropping.db already matches it."""
    with VideoDatabase(video_dir, require=("video", "layout")) as db:
        if db.legacy:
            raise DatabaseError(f"{video_dir}: legacy layout; run `vabatch migrate` first")
        meta = db.execute("SELECT content_sha256, source_file, frame_count FROM"
                          " video.video_metadata").fetchall()
        if not meta:
            raise DatabaseError(f"{db.path('video')}: no video_metadata row")
        content_sha256, source_file, frame_count = meta[0]
        band_rows = db.execute("SELECT crop_left, crop_top, crop_right, crop_bottom FROM"
                               " layout.video_layout_config").fetchall()
        previous = db.execute("SELECT inputs_sha256 FROM cropping.crop_run").fetchall() \
            if db.has("cropping") else []
    band = tuple(band_rows[0]) if band_rows else None
    inputs = hashlib.sha256(json.dumps(
        [content_sha256, band, options.recorded(), RULES_VERSION]).encode()).hexdigest()
    if not source_file:
        return CropPlan(None, band, inputs, False, frame_count)
    try:  # a name read from a database is data, not a path
        source = child_path(video_dir, source_file)
    except UnsafeNameError as error:
        raise DatabaseError(f"{video_dir / 'video.db'}: video_metadata.source_file: {error}") \
            from None
    return CropPlan(source, band, inputs,
                    bool(previous) and previous[0][0] == inputs, frame_count)


def run_crop(video_dir: Path, options: CropOptions = CropOptions(),
             progress: ProgressCallback | None = None) -> CropResult:
    """Decode the source video and write cropping.db for one video directory."""
    started = time.monotonic()
    video_dir = Path(video_dir)
    result = CropResult(video_dir.name, "done")
    plan = plan_crop(video_dir, options)
    if plan.source is None:
        # Migrated without its video: the legacy crops (if any) stay as they are, and the
        # result says why nothing was cropped; not a failure to retry on every run.
        result.status = "no-source"
        result.warnings.append("crop: the source video is not stored (migrated without it):"
                               " nothing to crop; the migrated crops and captions are kept")
        result.seconds = round(time.monotonic() - started, 3)
        return result
    if plan.up_to_date and not options.force:
        result.status = "unchanged"
        with VideoDatabase(video_dir, require=("cropping",)) as db:
            result.frames, result.strips = db.execute(
                "SELECT (SELECT count(*) FROM cropping.band_signatures),"
                " (SELECT count(*) FROM cropping.cropped_frames)").fetchall()[0]
        result.seconds = round(time.monotonic() - started, 3)
        return result
    if not plan.source.exists():
        raise InputError(f"{plan.source}: the source video is missing")

    # A new file, renamed over the old one when whole: a killed run leaves the old one, and
    # the same inputs always give the same bytes.
    with VideoDatabase(video_dir, write="cropping", require=("video", "layout"),
                       replace=True) as db:
        with db.conn:
            if plan.band is None:
                result.status = "no-band"
                frames = _count_frames(plan.source)
            else:
                frames = _crop_frames(db, plan, options, result, progress)
            left, top, right, bottom = plan.band or (None,) * 4
            db.execute("INSERT INTO cropping.crop_run (id, inputs_sha256, crop_left, crop_top,"
                       " crop_right, crop_bottom, frame_count, parameters, tool_version)"
                       " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (plan.inputs_sha256, left, top, right, bottom, frames,
                        json.dumps(options.recorded(), sort_keys=True),
                        f"vabatch {__version__}"))
    result.frames = frames
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _count_frames(source: Path) -> int:
    capture = open_capture(source)
    try:
        return sum(1 for _ in decode_frames(capture, lambda _i, _t: False))
    finally:
        capture.release()


def _crop_frames(db: VideoDatabase, plan: CropPlan, options: CropOptions,
                 result: CropResult, progress: ProgressCallback | None) -> int:
    left, top, right, bottom = plan.band
    capture = open_capture(plan.source)
    last_stored_mask: np.ndarray | None = None
    last_stored_ms = -10**9
    settle_at: int | None = None
    spans = SpanTracker(keep_spans=False)
    decoded = [0]

    def counted():
        for frame in decode_frames(capture, lambda _i, _t: True):
            decoded[0] += 1
            if progress and decoded[0] % 60 == 0:
                progress(decoded[0], plan.declared_frames)
            yield frame

    try:
        for frame, band, steady in _steady_bands(counted(), plan.band,
                                                 options.steady_threshold,
                                                 options.steady_reach):
            mask = text_mask(band, options.signature_scale, steady)
            ink = int(np.count_nonzero(mask))
            packed = pack_mask(mask)
            db.execute("INSERT INTO cropping.band_signatures (frame_index, timestamp_ms,"
                       " ink_pixels, mask, mask_xxh3) VALUES (?, ?, ?, ?, ?)",
                       (frame.frame_index, frame.timestamp_ms, ink, packed, checksum(packed)))
            changed = last_stored_mask is None or (
                max(ink, int(np.count_nonzero(last_stored_mask))) >= options.min_ink_cells
                and mask_iou(mask, last_stored_mask) < options.change_iou)
            if changed and settle_at is None:
                settle_at = frame.frame_index + options.settle_frames
            # A span of the captions stage starts at ``started`` (known one frame later):
            # give every span a strip, also where the band as a whole barely changed.
            started = spans.push(mask)
            if started is not None and settle_at is None:
                settle_at = started + options.settle_frames
            due = frame.timestamp_ms - last_stored_ms >= options.keyframe_interval_ms
            if due or (settle_at is not None and frame.frame_index >= settle_at):
                data = encode_image(band, options.image_format, options.jpeg_quality)
                db.execute("INSERT INTO cropping.cropped_frames (frame_index, timestamp_ms,"
                           " image_data, image_data_xxh3, image_format, crop_left, crop_top,"
                           " crop_right, crop_bottom) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (frame.frame_index, frame.timestamp_ms, data, checksum(data),
                            options.image_format, left, top, right, bottom))
                result.strips += 1
                result.bytes_stored += len(data)
                last_stored_mask, last_stored_ms, settle_at = mask, frame.timestamp_ms, None
    finally:
        capture.release()
    if decoded[0] == 0:
        raise InputError(f"{plan.source}: no decodable frames")
    return decoded[0]


def _steady_bands(frames: Iterator[DecodedFrame], box: tuple[int, int, int, int],
                  threshold: int | None, reach: int = STEADY_REACH
                  ) -> Iterator[tuple[DecodedFrame, np.ndarray, np.ndarray | None]]:
    """Each decoded frame with its band and the band's steady pixels (uint8, 255 = steady):
    those within ``threshold`` levels (in every colour channel) of the same pixel in each
    of the other frames of a run of ``reach`` + 1 consecutive frames that includes the frame
    (a lookahead of ``reach`` frames), so every frame of a caption shown that long is steady,
    its first and last too. A moving scene's strokes are not (``text_mask``): even a texture
    that keeps half its pixels from one frame to the next keeps few of them for ``reach``
    frames. None (everything counts) without a threshold, or in a video shorter than a run."""
    left, top, right, bottom = box
    # The frames not yet yielded and the reach before them; unchanged_pixels of each pair
    # of them up to reach apart (keys: the earlier frame's number first).
    bands: dict[int, tuple[DecodedFrame, np.ndarray]] = {}
    same: dict[tuple[int, int], np.ndarray] = {}
    count = 0
    for frame in frames:
        if frame.image is None:
            continue
        band = frame.image[top:bottom, left:right]
        if threshold is None:
            yield frame, band, None
            continue
        bands[count] = (frame, band)
        for other in range(max(0, count - reach), count):
            same[other, count] = unchanged_pixels(bands[other][1], band, threshold)
        count += 1
        centre = count - 1 - reach
        if centre >= 0:
            yield (*bands[centre], _steady_at(same, centre, count, reach))
            for other in range(max(0, centre - reach), centre + 1):
                same.pop((other, centre), None)
            bands.pop(centre - reach, None)
    for centre in range(max(0, count - reach), count):
        yield (*bands[centre], _steady_at(same, centre, count, reach))


def _steady_at(same: dict[tuple[int, int], np.ndarray], centre: int, count: int,
               reach: int) -> np.ndarray | None:
    """The pixels of frame ``centre`` unchanged in every other frame of some run of
    ``reach`` + 1 frames that includes it, among the ``count`` frames decoded so far."""
    def with_(other: int) -> np.ndarray:
        return same[min(centre, other), max(centre, other)]

    before, after = [None], [None]  # pixels unchanged over the 0, 1, 2... frames each side
    for distance in range(1, reach + 1):
        if centre - distance >= 0:
            kept = with_(centre - distance)
            before.append(kept if before[-1] is None else cv2.min(before[-1], kept))
        if centre + distance < count:
            kept = with_(centre + distance)
            after.append(kept if after[-1] is None else cv2.min(after[-1], kept))
    steady = None
    for left in range(reach + 1):  # the run: ``left`` frames before, the rest after
        if left >= len(before) or reach - left >= len(after):
            continue
        sides = [m for m in (before[left], after[reach - left]) if m is not None]
        run = sides[0] if len(sides) == 1 else cv2.min(*sides)
        steady = run if steady is None else cv2.max(steady, run)
    return steady


def _up_to_date(video_dir: Path, _data_root: Path | None) -> bool:
    return plan_crop(video_dir, CropOptions()).up_to_date


def _run_stage(context: StageContext, options: CropOptions) -> CropResult:
    return run_crop(context.target, options, context.progress)


STAGE = Stage("crop", "cropping", CropOptions, CropResult, _run_stage,
              up_to_date=_up_to_date)
