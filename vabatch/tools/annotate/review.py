"""What the review page shows of one video, read-only: its facts, the caption strips, the
band at any frame, the sampled full frames and their OCR boxes with their labels.

Nothing here writes: edits go through ``vabatch.tools.annotate.edits``. Names read from the
databases (the stored source file) are data, proven to name a file in the video directory.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vabatch.db import VideoDatabase
from vabatch.errors import InputError
from vabatch.fsutil import UnsafeNameError, child_path
from vabatch.media import encode_image, open_capture
from vabatch.vision.band_signature import unpack_mask

BAND_WINDOW = 12  # frames decoded on either side of the one asked for (boundary stepping)
BAND_CACHE = 600  # band images kept per video
STREAM_AHEAD = 250  # a frame at most this far ahead is reached by decoding on, not seeking
SEEK_MARGIN_MS = 2000  # a seek lands this long before the window (decoders land early or late)


def image_type(data: bytes) -> str:
    """The media type of stored image bytes (JPEG or PNG; the bytes decide, not a column)."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return "application/octet-stream"


@dataclass(frozen=True)
class VideoFacts:
    video_id: str
    source_name: str
    frame_count: int
    fps: float | None
    width: int
    height: int
    band: tuple[int, int, int, int] | None  # left, top, right, bottom (half-open)
    source_file: Path | None  # the stored video, when present in the directory
    sampled_frames: tuple[int, ...]  # frames of video.db (full frames)
    own_timestamps: bool = False  # the stream's own timestamps were usable (no timing note)


def video_facts(video_dir: Path) -> VideoFacts:
    with VideoDatabase(video_dir, require=("video",)) as db:
        columns = [c[1] for c in db.execute("PRAGMA video.table_info(video_metadata)")]
        meta = db.execute("SELECT " + ", ".join(f'"{c}"' for c in columns)
                          + " FROM video.video_metadata").fetchall()
        row = dict(zip(columns, meta[0], strict=True)) if meta else {}
        sampled = tuple(r[0] for r in db.execute(
            "SELECT frame_index FROM video.full_frames ORDER BY frame_index"))
        band = None
        if db.has("layout"):
            found = db.execute("SELECT crop_left, crop_top, crop_right, crop_bottom"
                               " FROM layout.video_layout_config").fetchall()
            band = tuple(found[0]) if found and None not in found[0] else None
    source = None
    if row.get("source_file"):
        try:
            candidate = child_path(video_dir, row["source_file"])
            source = candidate if candidate.is_file() else None
        except UnsafeNameError:
            source = None
    return VideoFacts(
        video_id=video_dir.name,
        source_name=str(row.get("source_name") or row.get("video_path") or video_dir.name),
        frame_count=int(row.get("frame_count") or row.get("total_frames") or 0),
        fps=row.get("fps"), width=int(row.get("width") or 0),
        height=int(row.get("height") or 0), band=band, source_file=source,
        sampled_frames=sampled,
        own_timestamps="timing_note" in row and row["timing_note"] is None)


def caption_strip(video_dir: Path, start: int, end: int) -> bytes | None:
    """The stored band strip nearest the middle of frames [start, end), or None."""
    middle = (start + end) // 2
    with VideoDatabase(video_dir, only=("cropping",)) as db:
        if not db.has("cropping"):
            return None
        rows = db.execute(
            "SELECT image_data FROM cropping.cropped_frames WHERE frame_index >= ? AND"
            " frame_index < ? ORDER BY abs(frame_index - ?) LIMIT 1",
            (start, end, middle)).fetchall()
    return bytes(rows[0][0]) if rows else None


def full_frame(video_dir: Path, frame_index: int) -> bytes | None:
    with VideoDatabase(video_dir, only=("video",)) as db:
        rows = db.execute("SELECT image_data FROM video.full_frames WHERE frame_index = ?",
                          (frame_index,)).fetchall()
    return bytes(rows[0][0]) if rows else None


def frame_boxes(video_dir: Path, frame_index: int) -> list[dict]:
    """The OCR boxes of a sampled frame, each with its label and the label's source."""
    with VideoDatabase(video_dir, only=("fullOCR", "layout")) as db:
        if not db.has("fullOCR"):
            return []
        labelled = db.has("layout")
        rows = db.execute(
            "SELECT o.box_index, o.text, o.confidence, o.x, o.y, o.width, o.height, "
            + ("l.label, l.label_source FROM fullOCR.full_frame_ocr o LEFT JOIN"
               " layout.full_frame_box_labels l ON l.frame_index = o.frame_index AND"
               " l.box_index = o.box_index" if labelled else
               "NULL, NULL FROM fullOCR.full_frame_ocr o")
            + " WHERE o.frame_index = ? ORDER BY o.box_index", (frame_index,)).fetchall()
    keys = ("box_index", "text", "confidence", "x", "y", "width", "height", "label",
            "label_source")
    return [dict(zip(keys, row, strict=True)) for row in rows]


class BandFrames:
    """The caption band of any frame of one video, as JPEG bytes.

    From the stored source video when it is there. Frames are known by their count from the
    first frame, as every stage knows them: the decoder keeps going forward (a window around
    the asked frame is kept), and to reach a frame far away it seeks by time only when the
    stream's own timestamps were usable, then names each decoded frame by the time the crop
    stage recorded for it (cropping.band_signatures: every frame, counted); a frame whose
    time is not in that table makes it count from the start again. Without the video, the
    band's text mask from cropping.db is drawn instead, white text on black.
    """

    def __init__(self, video_dir: Path, facts: VideoFacts) -> None:
        self.video_dir = video_dir
        self.facts = facts
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._capture = None
        self._position = 0  # the frame the decoder gives next
        self._held = False  # the decoder has grabbed the frame at _position already
        self._times: dict[int, int] | None = None  # ms -> frame index, from cropping.db
        self._ms_of: dict[int, int] = {}  # frame index -> ms

    def image(self, frame_index: int) -> bytes | None:
        if not 0 <= frame_index < max(self.facts.frame_count, 1):
            raise InputError(f"frame {frame_index} is outside the video "
                             f"(0 to {self.facts.frame_count - 1})")
        with self._lock:
            if frame_index not in self._cache:
                if self.facts.source_file is not None and self.facts.band is not None:
                    self._decode_around(frame_index)
                else:
                    mask = self._mask_image(frame_index)
                    if mask is not None:
                        self._cache[frame_index] = mask
            return self._cache.get(frame_index)

    def _decode_around(self, frame_index: int) -> None:
        first = max(0, frame_index - BAND_WINDOW)
        near = self._capture is not None and \
            self._position <= first + BAND_WINDOW <= self._position + STREAM_AHEAD
        if not near and not (first > STREAM_AHEAD and self._seek(first)):
            self._restart()
        self._decode_to(first, frame_index + BAND_WINDOW)

    def _restart(self) -> None:
        if self._capture is not None:
            self._capture.release()
        self._capture = open_capture(self.facts.source_file)
        self._position = 0
        self._held = False

    def _seek(self, first: int) -> bool:
        """Put the decoder at a frame at or before ``first`` by time; False when the frame
        it lands on cannot be named from the recorded times (then count instead)."""
        import cv2

        times = self._frame_times()
        target = self._ms_of.get(first)
        if not self.facts.own_timestamps or target is None:
            return False
        self._restart()
        self._capture.set(cv2.CAP_PROP_POS_MSEC, max(0, target - SEEK_MARGIN_MS))
        if not self._capture.grab():
            return False
        landed = times.get(round(self._capture.get(cv2.CAP_PROP_POS_MSEC)))
        if landed is None or landed > first:
            return False
        self._position = landed  # the grabbed frame is held: _decode_to retrieves it
        self._held = True
        return True

    def _decode_to(self, first: int, last: int) -> None:
        left, top, right, bottom = self.facts.band
        held, self._held = self._held, False
        while self._position <= last:
            if not held and not self._capture.grab():
                break
            held = False
            index = self._position
            self._position += 1
            if index >= first and index not in self._cache:
                ok, image = self._capture.retrieve()
                if ok and image is not None:
                    band = np.ascontiguousarray(image[top:bottom, left:right])
                    self._cache[index] = encode_image(band, "jpeg", 90)
        while len(self._cache) > BAND_CACHE:
            self._cache.popitem(last=False)

    def _frame_times(self) -> dict[int, int]:
        if self._times is None:
            with VideoDatabase(self.video_dir, only=("cropping",)) as db:
                rows = db.execute("SELECT frame_index, timestamp_ms FROM"
                                  " cropping.band_signatures ORDER BY frame_index"
                                  ).fetchall() if db.has("cropping") else []
            increasing = all(b[1] > a[1] for a, b in zip(rows, rows[1:], strict=False))
            self._times = {ms: index for index, ms in rows} if increasing else {}
            self._ms_of = {index: ms for ms, index in self._times.items()}
        return self._times

    def _mask_image(self, frame_index: int) -> bytes | None:
        with VideoDatabase(self.video_dir, only=("cropping",)) as db:
            if not db.has("cropping"):
                return None
            run = db.execute("SELECT crop_left, crop_top, crop_right, crop_bottom,"
                             " parameters FROM cropping.crop_run").fetchall()
            row = db.execute("SELECT mask FROM cropping.band_signatures WHERE"
                             " frame_index = ?", (frame_index,)).fetchall()
        if not run or not row or None in run[0][:4]:
            return None
        left, top, right, bottom, parameters = run[0]
        scale = int(json.loads(parameters).get("signature_scale", 4))
        shape = (max(1, (bottom - top) // scale), max(1, (right - left) // scale))
        mask = unpack_mask(bytes(row[0][0]), shape).astype(np.uint8) * 255
        image = np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)
        return encode_image(np.dstack([image] * 3), "png", 0)
