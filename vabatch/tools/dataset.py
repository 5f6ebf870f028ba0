"""Training samples read straight from the databases: ``FrameSamples`` and ``CaptionSamples``.

No deep-learning framework is needed: each is a plain sequence (``len``, indexing,
iteration) of :class:`Sample` objects holding the decoded image (numpy uint8, H x W x 3,
RGB by default), its OCR boxes with their layout labels, and the caption shown at that
time. docs/dataset.md has a PyTorch ``Dataset`` adapter.

Splits are by video, so frames of one video never land in two splits: a video's split
comes from a hash of its id and the seed alone, so it stays where it is when videos are
added. Everything is read through ``VideoDatabase`` (read-only); each worker process keeps
one open connection per video (reopened after a fork, never shared across one).
"""

from __future__ import annotations

import bisect
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xxhash

from vabatch.dataroot import select_video_dirs
from vabatch.db import VideoDatabase
from vabatch.errors import InputError, VabatchError

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
MAX_OPEN_VIDEOS = 64  # open VideoDatabases kept per process (each holds up to 5 files)


_INHERITED: list = []  # readers a forked child inherited: kept, never used nor closed


def split_of(video_id: str, seed: int = 0,
             fractions: Sequence[float] = DEFAULT_FRACTIONS) -> str:
    """The split of one video: XXH3-64 of ``seed`` and the id, as a number in [0, 1), cut at
    the cumulative ``fractions``. It depends on nothing else, so adding videos moves none."""
    position = xxhash.xxh3_64_intdigest(f"vabatch-split:{seed}:{video_id}".encode()) / 2**64
    train, validation = fractions[0], fractions[0] + fractions[1]
    return "train" if position < train else "validation" if position < validation else "test"


def check_split_arguments(split: str | None, fractions: Sequence[float]) -> tuple[float, ...]:
    """The fractions as a tuple; a clear error for an unknown split or bad fractions."""
    if split is not None and split not in SPLITS:
        raise InputError(f"unknown split {split!r} (one of {', '.join(SPLITS)})")
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise InputError(f"split fractions {fractions} must be three numbers >= 0 summing to 1")
    return fractions


@dataclass
class Sample:
    """One training sample. ``frame_index`` is the frame the image shows (a sampled full frame,
    or for a caption sample the strip's frame); ``boxes`` are the OCR boxes of
    ``ocr_frame_index`` (the same frame for frame samples), each with its layout label (or
    None); ``caption`` the caption shown at that frame (None where there is none)."""

    video_id: str
    frame_index: int
    timestamp_ms: int | None
    image: np.ndarray | None  # uint8 H x W x 3; None with decode=False
    image_bytes: bytes | None  # the stored JPEG/PNG bytes (with keep_bytes=True)
    image_format: str  # 'jpeg' or 'png', as stored
    image_kind: str  # 'frame' (video.full_frames) or 'strip' (cropping.cropped_frames)
    boxes: list[dict]
    caption: dict | None
    split: str
    ocr_frame_index: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class _VideoEntry:
    video_id: str
    video_dir: Path
    split: str


class _Reader:
    """One video's read-only VideoDatabase and what it needs to answer per-sample queries."""

    def __init__(self, video_dir: Path) -> None:
        self.db = VideoDatabase(video_dir, require=("video",)).__enter__()
        self.has_ocr = self.db.has("fullOCR")
        self.has_labels = self.db.has("layout")
        self.has_strips = self.db.has("cropping")
        self._captions: list[dict] | None = None
        self._starts: list[int] = []  # start_frame_index of each caption, ascending
        self._longest = 0  # frames of the longest caption: how far back a cover can start
        self._by_id: dict[int, dict] = {}

    def close(self) -> None:
        self.db.__exit__(None, None, None)

    def frame(self, frame_index: int) -> tuple[int, bytes, str] | None:
        return self.db.execute(
            "SELECT timestamp_ms, image_data, image_format FROM video.full_frames"
            " WHERE frame_index = ?", (frame_index,)).fetchone()

    def boxes(self, frame_index: int) -> list[dict]:
        if not self.has_ocr:
            return []
        label = ("l.label, l.label_source" if self.has_labels else "NULL, NULL")
        join = ("LEFT JOIN layout.full_frame_box_labels AS l ON l.frame_index = o.frame_index"
                " AND l.box_index = o.box_index" if self.has_labels else "")
        rows = self.db.execute(
            f"SELECT o.box_index, o.text, o.confidence, o.x, o.y, o.width, o.height, {label}"
            f" FROM fullOCR.full_frame_ocr AS o {join} WHERE o.frame_index = ?"
            " ORDER BY o.box_index", (frame_index,)).fetchall()
        return [{"box_index": b, "text": t, "confidence": c, "x": x, "y": y, "width": w,
                 "height": h, "label": lab, "label_source": src}
                for b, t, c, x, y, w, h, lab, src in rows]

    def captions(self) -> list[dict]:
        """Every caption row, in time order, deleted ones (boundary_state 'deleted') too: a
        deleted human row still says that no caption is there."""
        if self._captions is None:
            self._captions = []
            if self.db.has("captions"):
                source = ("source" if "source" in self.db.columns("captions", "captions")
                          else "'auto'")
                rows = self.db.execute(
                    "SELECT id, start_frame_index, end_frame_index, start_ms, end_ms, text,"
                    f" {source}, boundary_state"
                    " FROM captions.captions ORDER BY start_frame_index, id").fetchall()
                self._captions = [
                    {"caption_id": i, "start_frame_index": s, "end_frame_index": e,
                     "start_ms": sm, "end_ms": em, "text": t, "source": src,
                     "deleted": state == "deleted"}
                    for i, s, e, sm, em, t, src, state in rows]
            self._starts = [c["start_frame_index"] for c in self._captions]
            self._longest = max((c["end_frame_index"] - c["start_frame_index"]
                                 for c in self._captions), default=0)
            self._by_id = {c["caption_id"]: c for c in self._captions}
        return self._captions

    def caption(self, caption_id: int) -> dict:
        self.captions()
        return self._by_id[caption_id]

    def caption_at(self, frame_index: int) -> dict | None:
        """The caption shown at a frame: a person's row wins over an automatic one, and a
        person's deletion hides the automatic row under it."""
        captions = self.captions()
        first = bisect.bisect_left(self._starts, frame_index - self._longest + 1)
        last = bisect.bisect_right(self._starts, frame_index)
        covering = [c for c in captions[first:last] if frame_index < c["end_frame_index"]]
        human = [c for c in covering if c["source"] == "human"]
        live = [c for c in human or covering if not c["deleted"]]
        return public_caption(live[0]) if live else None

    def strip(self, start: int, end: int) -> tuple[int, int | None, bytes, str] | None:
        """The stored band strip nearest the middle of frames [start, end)."""
        if not self.has_strips:
            return None
        return self.db.execute(
            "SELECT frame_index, timestamp_ms, image_data, image_format"
            " FROM cropping.cropped_frames WHERE frame_index >= ? AND frame_index < ?"
            " ORDER BY abs(2 * frame_index - ? - ?), frame_index LIMIT 1",
            (start, end, start, end)).fetchone()

    def nearest_frame(self, start: int, end: int) -> int | None:
        """The sampled full frame nearest the middle of frames [start, end)."""
        row = self.db.execute(
            "SELECT frame_index FROM video.full_frames WHERE frame_index >= ? AND"
            " frame_index < ? ORDER BY abs(2 * frame_index - ? - ?), frame_index LIMIT 1",
            (start, end, start, end)).fetchone()
        return None if row is None else row[0]


def public_caption(row: dict) -> dict:
    """A caption row as samples show it (without the internal ``deleted`` flag)."""
    return {k: v for k, v in row.items() if k != "deleted"}


def decode(data: bytes, color: str = "rgb") -> np.ndarray:
    """uint8 H x W x 3 pixels of stored JPEG/PNG bytes (RGB unless ``color='bgr'``)."""
    import cv2

    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise VabatchError("a stored image cannot be decoded (run `vabatch verify --deep`)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if color == "rgb" else image


class _Samples:
    """What both sample kinds share: the videos of the split, the per-process readers."""

    def __init__(self, data_root: Path | str, videos: Sequence[str] | None = None,
                 split: str | None = None, split_seed: int = 0,
                 fractions: Sequence[float] = DEFAULT_FRACTIONS, *, color: str = "rgb",
                 decode: bool = True, keep_bytes: bool = False) -> None:
        self.data_root = Path(data_root)
        self.fractions = check_split_arguments(split, fractions)
        self.split, self.split_seed = split, split_seed
        self.color, self.decode, self.keep_bytes = color, decode, keep_bytes
        if color not in ("rgb", "bgr"):
            raise InputError(f"color is 'rgb' or 'bgr', not {color!r}")
        dirs = select_video_dirs(self.data_root, list(videos) if videos else None)
        self.skipped: list[tuple[str, str]] = []  # (video_id, why it gives no samples)
        self.videos: list[_VideoEntry] = []
        for video_dir in sorted(dirs, key=lambda d: d.name):
            video_split = split_of(video_dir.name, split_seed, self.fractions)
            if split is None or video_split == split:
                self.videos.append(_VideoEntry(video_dir.name, video_dir, video_split))
        self._pid = os.getpid()
        self._readers: OrderedDict[int, _Reader] = OrderedDict()
        # (video number, frame index or caption id) per sample: two int64 columns
        self._index = np.array(self._build_index(), dtype=np.int64).reshape(-1, 2)
        self.close()  # opened again where samples are read (a forked worker: its own)

    def _build_index(self) -> list[tuple[int, int]]:
        raise NotImplementedError

    # -- per-process connections -------------------------------------------------------
    def reader(self, video_number: int) -> _Reader:
        """The open reader of a video in this process (a forked child opens its own)."""
        if os.getpid() != self._pid:
            # Connections made before a fork belong to the parent: never use them, and keep
            # them referenced so that no garbage collection closes them from this process.
            _INHERITED.append(self._readers)
            self._readers, self._pid = OrderedDict(), os.getpid()
        reader = self._readers.get(video_number)
        if reader is None:
            if len(self._readers) >= MAX_OPEN_VIDEOS:
                self._readers.popitem(last=False)[1].close()
            reader = _Reader(self.videos[video_number].video_dir)
            self._readers[video_number] = reader
        else:
            self._readers.move_to_end(video_number)
        return reader

    def close(self) -> None:
        """Close this process's connections (they reopen on the next read)."""
        if os.getpid() == self._pid:
            for reader in self._readers.values():
                reader.close()
        self._readers = OrderedDict()

    def __getstate__(self) -> dict:  # pickled to a spawned worker: without connections
        state = self.__dict__.copy()
        state["_readers"] = OrderedDict()
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    # -- the sequence ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, position: int) -> Sample:
        if not isinstance(position, (int, np.integer)):
            raise TypeError("samples are indexed by an integer")
        if position < 0:
            position += len(self._index)
        if not 0 <= position < len(self._index):
            raise IndexError(f"sample {position} of {len(self._index)}")
        video_number, key = self._index[position]
        return self._sample(int(video_number), int(key))

    def __iter__(self) -> Iterator[Sample]:
        for position in range(len(self._index)):
            yield self[position]

    def _sample(self, video_number: int, key: int) -> Sample:
        raise NotImplementedError

    def _image(self, data: bytes) -> np.ndarray | None:
        return decode(data, self.color) if self.decode else None

    def _videos_with(self, query: str, missing: str) -> list[tuple[int, list]]:
        """(video number, rows of ``query``) of each video; those that cannot answer are
        listed in ``skipped`` with the reason."""
        found = []
        for number, entry in enumerate(self.videos):
            try:
                reader = self.reader(number)
            except VabatchError as error:
                self.skipped.append((entry.video_id, str(error)))
                continue
            if reader.db.legacy:
                self.skipped.append((entry.video_id, "a legacy directory: run `vabatch "
                                                     "migrate` first"))
                continue
            rows = query(reader) if callable(query) else reader.db.execute(query).fetchall()
            if not rows and missing:
                self.skipped.append((entry.video_id, missing))
            found.append((number, rows))
        return found


class FrameSamples(_Samples):
    """(video, frame) samples: every sampled full frame of video.db, in video-id then frame
    order, with its OCR boxes (+ labels) and the caption shown at that frame."""

    def _build_index(self) -> list[tuple[int, int]]:
        index = []
        for number, rows in self._videos_with(
                "SELECT frame_index FROM video.full_frames ORDER BY frame_index",
                "no sampled frames in video.db"):
            index.extend((number, frame_index) for (frame_index,) in rows)
        return index

    def _sample(self, video_number: int, frame_index: int) -> Sample:
        entry, reader = self.videos[video_number], self.reader(video_number)
        timestamp_ms, data, image_format = reader.frame(frame_index)
        return Sample(entry.video_id, frame_index, timestamp_ms, self._image(data),
                      data if self.keep_bytes else None, image_format, "frame",
                      reader.boxes(frame_index), reader.caption_at(frame_index), entry.split,
                      frame_index)


class CaptionSamples(_Samples):
    """(video, caption) samples: every caption that is not deleted, with the stored band
    strip nearest its middle (cropping.db; the nearest sampled full frame when the caption
    has no strip), and the OCR boxes (+ labels) of the sampled full frame nearest its
    middle. Captions with neither image are listed in ``skipped``, never dropped silently."""

    def _build_index(self) -> list[tuple[int, int]]:
        index = []
        for number, captions in self._videos_with(
                lambda reader: [c for c in reader.captions() if not c["deleted"]],
                "no captions (captions.db missing or empty)"):
            reader, video_id = self.reader(number), self.videos[number].video_id
            for caption in captions:
                start, end = caption["start_frame_index"], caption["end_frame_index"]
                if reader.strip(start, end) or reader.nearest_frame(start, end) is not None:
                    index.append((number, caption["caption_id"]))
                else:
                    self.skipped.append((video_id, f"caption {caption['caption_id']} (frames "
                                         f"{start}-{end}): no strip and no sampled frame"))
        return index

    def _sample(self, video_number: int, caption_id: int) -> Sample:
        entry, reader = self.videos[video_number], self.reader(video_number)
        caption = reader.caption(caption_id)
        start, end = caption["start_frame_index"], caption["end_frame_index"]
        ocr_frame = reader.nearest_frame(start, end)
        strip = reader.strip(start, end)
        if strip is not None:
            frame_index, timestamp_ms, data, image_format = strip
            kind = "strip"
        else:
            frame_index = ocr_frame
            timestamp_ms, data, image_format = reader.frame(frame_index)
            kind = "frame"
        boxes = reader.boxes(ocr_frame) if ocr_frame is not None else []
        return Sample(entry.video_id, frame_index, timestamp_ms, self._image(data),
                      data if self.keep_bytes else None, image_format, kind, boxes,
                      public_caption(caption), entry.split, ocr_frame)
