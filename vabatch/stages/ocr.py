"""``vabatch ocr``: read the text of sampled frames of video.db into fullOCR.db.

Which frames: of the frames ingest stored, those picked by ``sampling_fps`` frames per
second of video time (default 0.5: every other frame of the default 1 fps ingest).

Redundant work is proved, not guessed: before running the engine on a frame, the frame's
grey thumbnail (``THUMBNAIL_WIDTH`` pixels wide, area-averaged) is compared with the one of
the last frame the engine read. If no thumbnail pixel differs by more than
``reuse_threshold`` grey levels, the frame is (near-)identical and gets a copy of that
frame's boxes, with ``ocr_frames.reused_from_frame_index`` naming it. The maximum, not the
mean, is compared, so one changed word anywhere in the frame is enough to read it again.

Resumable and reproducible: frames are written in order, in transactions that end at fixed
positions of the frame list (every ``frames_per_transaction`` frames counted from the first
one), whether the run started fresh or resumed. A killed run resumes after its last
committed frame and repeats exactly the transactions an uninterrupted run makes, so the
finished file has the same rows and, in our tests, the same bytes. ``ocr_run.parameters``
records the engine's settings, the sampling, the reuse rule and the identity of video.db;
when they all match and every frame is done, a re-run does not touch the file.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import apsw

from vabatch.db import KINDS, VideoDatabase
from vabatch.db.checksums import checksum
from vabatch.db.files import SIDECAR_SUFFIXES
from vabatch.errors import DatabaseError
from vabatch.ocr_engines import DEFAULT_ENGINE, OcrBox, OcrEngine, create_engine
from vabatch.stages.base import ProgressCallback, Stage, StageContext, StageResult
from vabatch.vision.steady import MOVED_SHARE, STEADY_THRESHOLD, steady_image

if TYPE_CHECKING:
    import numpy as np

DEFAULT_SAMPLING_FPS = 0.5
DEFAULT_DETECTION_SIDE = 640
DEFAULT_REUSE_THRESHOLD = 12
THUMBNAIL_WIDTH = 160
FRAMES_PER_TRANSACTION = 16



@dataclass(frozen=True)
class OcrOptions:
    """How frames are chosen, read and reused. All but ``threads``/``force`` are recorded."""

    engine: str = DEFAULT_ENGINE  # a name of vabatch.ocr_engines.ENGINES
    sampling_fps: float | None = DEFAULT_SAMPLING_FPS  # None: every frame of video.db
    detection_side: int = DEFAULT_DETECTION_SIDE
    min_confidence: float = 0.5
    reuse_threshold: int | None = DEFAULT_REUSE_THRESHOLD  # None: never reuse
    # A frame in which no text is found and whose picture moved (against the stored frame
    # before it) is read again with every changed pixel greyed out (vision/steady.py);
    # None: never.
    steady_threshold: int | None = STEADY_THRESHOLD
    threads: int = 1
    force: bool = False
    frames_per_transaction: int = FRAMES_PER_TRANSACTION
    # Settings (names of RECORDED_SETTINGS) taken from the video's last run when it has one,
    # instead of the values above: what `vabatch run` and options not given on the command
    # line use, so a video's settings persist until changed.
    keep: tuple[str, ...] = ()

    def make_engine(self) -> OcrEngine:
        """The engine these options describe (models load on its first read)."""
        return create_engine(self.engine, detection_side=self.detection_side,
                             min_confidence=self.min_confidence, threads=self.threads)


RECORDED_SETTINGS = ("sampling_fps", "detection_side", "min_confidence", "reuse_threshold",
                     "steady_threshold", "frames_per_transaction")


def with_recorded(video_dir: Path, options: OcrOptions) -> OcrOptions:
    """``options`` with each setting named in ``options.keep`` as the video's last OCR run
    recorded it (``ocr_run.parameters``); unchanged when there is no such run (or the boxes
    came from the old tool)."""
    if not options.keep:
        return options
    with VideoDatabase(Path(video_dir)) as db:
        rows = (db.execute("SELECT parameters, engine FROM fullOCR.ocr_run").fetchall()
                if db.has("fullOCR") else [])
    if not rows or rows[0][1] == "legacy":
        return options
    try:
        recorded = json.loads(rows[0][0])
        reuse = recorded.get("reuse", {})
        found = {"sampling_fps": recorded["sampling_fps"],
                 "detection_side": recorded["engine"]["detection_side"],
                 "min_confidence": recorded["engine"]["min_confidence"],
                 "reuse_threshold": None if reuse is None else reuse["threshold"],
                 "steady_threshold": (recorded["steady"] or {}).get("threshold"),
                 "frames_per_transaction": recorded["frames_per_transaction"]}
    except (ValueError, KeyError, TypeError, AttributeError):
        return options  # not a record of ours: its run is stale and is read again
    return replace(options, **{name: found[name] for name in options.keep if name in found})


@dataclass
class OcrResult(StageResult):
    """What one run did to one video."""

    video_id: str
    video_dir: str
    status: str  # 'done', 'resumed', 'rebuilt', 'unchanged' or 'failed'
    frames_selected: int = 0
    frames_done_before: int = 0  # already in fullOCR.db when the run started
    frames_read: int = 0  # frames the engine read in this run
    frames_reused: int = 0  # frames given a copy of an earlier frame's boxes in this run
    frames_steady: int = 0  # frames without text whose picture moved, read for what stayed
    boxes_steady: int = 0  # lines found on those frames' steady images
    boxes: int = 0  # rows of full_frame_ocr when the run ended
    seconds: float = 0.0
    error: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def failed(cls, target: Path, error: str) -> OcrResult:
        return cls(video_id=Path(target).name, video_dir=str(target), status="failed",
                   error=error)


# -- per-frame work: pure functions --------------------------------------------------------
def frame_thumbnail(image_bgr: np.ndarray) -> np.ndarray:
    """A small grey, area-averaged copy of a frame: what the reuse rule compares."""
    import cv2
    import numpy as np

    height, width = image_bgr.shape[:2]
    size = (THUMBNAIL_WIDTH, max(1, round(height * THUMBNAIL_WIDTH / width)))
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.int16)


def thumbnail_difference(first: np.ndarray, second: np.ndarray) -> int:
    """The largest grey-level difference between two thumbnails (255 if shapes differ)."""
    if first.shape != second.shape:
        return 255
    import numpy as np

    return int(np.abs(first - second).max())


def select_frames(frames: list[tuple[int, int]], sampling_fps: float | None) -> list[int]:
    """The frame indexes to read among stored ``(frame_index, timestamp_ms)``, in order."""
    if sampling_fps is None:
        return [frame_index for frame_index, _ in frames]
    from vabatch.media import Sampling

    keep = Sampling("fps", sampling_fps).selector()
    return [frame_index for frame_index, timestamp_ms in frames if keep(frame_index, timestamp_ms)]


# -- the stage -----------------------------------------------------------------------------
@dataclass
class _Plan:
    selected: list[int]
    parameters: str  # JSON, compared with ocr_run.parameters
    existing_parameters: str | None
    done: dict[int, int | None]  # frame_index -> reused_from_frame_index, already written
    earlier: dict[int, int] = field(default_factory=dict)  # selected -> stored frame before
    existing_engine: str | None = None  # 'legacy': boxes migrated from the old tool


def run_ocr(
    video_dir: Path,
    options: OcrOptions = OcrOptions(),
    engine: OcrEngine | None = None,
    progress: ProgressCallback | None = None,
) -> OcrResult:
    """OCR the selected frames of one video directory into its fullOCR.db.

    Raises VabatchError (e.g. MissingDatabaseError without video.db). ``engine`` lets a
    caller share one loaded engine across videos; it must match ``options``.
    """
    started = time.monotonic()
    video_dir = Path(video_dir)
    engine = engine or options.make_engine()
    result = OcrResult(video_id=video_dir.name, video_dir=str(video_dir), status="done")
    plan = _plan(video_dir, options, engine)
    result.frames_selected = len(plan.selected)
    if plan.existing_engine == "legacy" and not options.force:
        # Migrated boxes stay: human labels in layout.db name them by (frame, box) number,
        # and a new reading would renumber them. `--force` reads the frames again.
        result.status, result.frames_done_before = "unchanged", len(plan.done)
        result.boxes = _count_boxes(video_dir)
        result.seconds = round(time.monotonic() - started, 3)
        return result
    stale = plan.existing_parameters is not None and plan.existing_parameters != plan.parameters
    if options.force or stale:
        _remove_database(video_dir)
        plan.done, result.status = {}, "rebuilt"
    elif plan.existing_parameters is not None and all(f in plan.done for f in plan.selected):
        # Nothing to do: leave the file untouched (not even opened for writing).
        result.status, result.frames_done_before = "unchanged", len(plan.selected)
        result.boxes = _count_boxes(video_dir)
        result.seconds = round(time.monotonic() - started, 3)
        return result
    elif plan.done:
        result.status = "resumed"
    result.frames_done_before = sum(f in plan.done for f in plan.selected)

    try:
        with VideoDatabase(video_dir, write="fullOCR", require=("video",)) as db:
            if not db.execute("SELECT 1 FROM fullOCR.ocr_run").fetchall():
                db.execute("INSERT INTO fullOCR.ocr_run (id, engine, engine_version, parameters)"
                           " VALUES (1, ?, ?, ?)", (engine.name, engine.version, plan.parameters))
            _read_frames(db, plan, options, engine, result, progress)
            result.boxes = db.execute(
                "SELECT count(*) FROM fullOCR.full_frame_ocr").fetchall()[0][0]
    except apsw.Error as error:  # e.g. a full disk, or another run writing the same file
        raise DatabaseError(f"{video_dir / KINDS['fullOCR'].file_name}: {error}") from None
    result.seconds = round(time.monotonic() - started, 3)
    return result


def ocr_up_to_date(video_dir: Path, options: OcrOptions = OcrOptions()) -> bool:
    """Whether fullOCR.db holds every selected frame, read with these options."""
    plan = _plan(Path(video_dir), options, options.make_engine())  # models load lazily
    if plan.existing_engine == "legacy":
        return True  # kept on purpose, see run_ocr
    return plan.existing_parameters == plan.parameters and all(
        frame in plan.done for frame in plan.selected)


def _plan(video_dir: Path, options: OcrOptions, engine: OcrEngine) -> _Plan:
    """What the run must do, found through a read-only open (no file is changed)."""
    with VideoDatabase(video_dir, require=("video",)) as db:
        if db.legacy:
            raise DatabaseError(f"{db.path('video')}: a legacy monolithic database; "
                                "run `vabatch migrate` first")
        metadata = db.execute(
            "SELECT content_sha256, sampling_mode, sampling_value, image_format, image_quality"
            " FROM video.video_metadata").fetchall()
        if not metadata:
            raise DatabaseError(f"{db.path('video')}: no video_metadata row (re-run ingest)")
        frames = db.execute(
            "SELECT frame_index, timestamp_ms FROM video.full_frames ORDER BY frame_index"
        ).fetchall()
        existing, existing_engine, done = None, None, {}
        if db.has("fullOCR"):
            rows = db.execute("SELECT parameters, engine FROM fullOCR.ocr_run").fetchall()
            existing, existing_engine = rows[0] if rows else (None, None)
            done = dict(db.execute(
                "SELECT frame_index, reused_from_frame_index FROM fullOCR.ocr_frames"
            ).fetchall())
    content_sha256, sampling_mode, sampling_value, image_format, image_quality = metadata[0]
    parameters = {
        # Name, package version and settings, with the model files: a new engine, release or
        # model makes the results stale.
        "engine": {"name": engine.name, "version": engine.version, **engine.parameters},
        "sampling_fps": options.sampling_fps,
        "reuse": None if options.reuse_threshold is None else {
            "rule": "max grey difference of area-averaged thumbnails",
            "thumbnail_width": THUMBNAIL_WIDTH,
            "threshold": options.reuse_threshold,
        },
        "steady": None if options.steady_threshold is None else {
            "rule": "a frame in which no text is found, with less than moved_share of its"
                    " pixels unchanged (by threshold) since the stored frame before it, is read"
                    " again with the changed pixels greyed out",
            "threshold": options.steady_threshold, "moved_share": MOVED_SHARE,
        },
        "frames_per_transaction": options.frames_per_transaction,
        # The pixels OCR reads: a re-ingest with other sampling or encoding makes this stale.
        "video": {"content_sha256": content_sha256, "sampling_mode": sampling_mode,
                  "sampling_value": sampling_value, "image_format": image_format,
                  "image_quality": image_quality, "stored_frames": len(frames)},
    }
    return _Plan(
        selected=select_frames(frames, options.sampling_fps),
        parameters=json.dumps(parameters, sort_keys=True, separators=(",", ":")),
        existing_parameters=existing,
        done=done,
        earlier={frame: before for (before, _), (frame, _)
                 in zip(frames[:-1], frames[1:], strict=True)},
        existing_engine=existing_engine,
    )


def _read_frames(db, plan, options, engine, result, progress) -> None:
    """Read the frames not yet done; commit at fixed positions of the frame list."""
    reference: tuple[int, np.ndarray, list[OcrBox]] | None = None  # last frame the engine read
    batch = max(1, options.frames_per_transaction)
    total = len(plan.selected)
    in_transaction = False
    try:
        for position, frame_index in enumerate(plan.selected):
            if frame_index in plan.done:
                continue
            if reference is None and position > 0 and options.reuse_threshold is not None:
                # Resuming: the reference is the frame the last committed frame was read from.
                previous = plan.selected[position - 1]
                source = plan.done.get(previous, previous)
                source = previous if source is None else source
                reference = (source, frame_thumbnail(_frame_image(db, source)),
                             _stored_boxes(db, source))
            if not in_transaction:
                db.execute("BEGIN")
                in_transaction = True
            image = _frame_image(db, frame_index)
            thumbnail = frame_thumbnail(image) if options.reuse_threshold is not None else None
            reused_from = None
            if (reference is not None and thumbnail is not None
                    and thumbnail_difference(thumbnail, reference[1]) <= options.reuse_threshold):
                reused_from, boxes = reference[0], reference[2]
                result.frames_reused += 1
            else:
                boxes = engine.read(image)
                result.frames_read += 1
                if (not boxes and options.steady_threshold is not None
                        and frame_index in plan.earlier):
                    boxes = _steady_boxes(db, engine, image, result,
                                          plan.earlier[frame_index], options.steady_threshold)
                if thumbnail is not None:
                    reference = (frame_index, thumbnail, boxes)
            _insert_frame(db, frame_index, boxes, reused_from)
            if (position + 1) % batch == 0 or position + 1 == total:
                db.execute("COMMIT")
                in_transaction = False
            if progress:
                progress(position + 1, total)
    except BaseException:
        if in_transaction:
            db.execute("ROLLBACK")
        raise


def _steady_boxes(db: VideoDatabase, engine: OcrEngine, image: np.ndarray,
                  result: OcrResult, earlier: int, threshold: int) -> list[OcrBox]:
    """The lines of a frame in which the engine found none, read again on its steady image
    (``vision.steady``) when its picture moved against the stored frame before it: a busy
    moving scene can hide every line from the detector, while the captions stay still."""
    steady, unchanged = steady_image(image, _frame_image(db, earlier), threshold)
    if unchanged >= MOVED_SHARE:
        return []
    result.frames_steady += 1
    boxes = engine.read(steady)
    result.boxes_steady += len(boxes)
    return boxes


def _frame_image(db: VideoDatabase, frame_index: int) -> np.ndarray:
    from vabatch.media import decode_image

    rows = db.execute("SELECT image_data FROM video.full_frames WHERE frame_index = ?",
                      (frame_index,)).fetchall()
    image = decode_image(rows[0][0]) if rows else None
    if image is None:
        raise DatabaseError(f"{db.path('video')}: frame {frame_index} cannot be decoded "
                            "(check it with `vabatch verify --deep`)")
    return image


def _stored_boxes(db: VideoDatabase, frame_index: int) -> list[OcrBox]:
    rows = db.execute(
        "SELECT text, confidence, x1, y1, x2, y2, x3, y3, x4, y4 FROM fullOCR.full_frame_ocr"
        " WHERE frame_index = ? ORDER BY box_index", (frame_index,)).fetchall()
    return [OcrBox(text, confidence, ((x1, y1), (x2, y2), (x3, y3), (x4, y4)))
            for text, confidence, x1, y1, x2, y2, x3, y3, x4, y4 in rows]


def _insert_frame(db: VideoDatabase, frame_index: int, boxes: list[OcrBox],
                  reused_from: int | None) -> None:
    db.execute("INSERT INTO fullOCR.ocr_frames (frame_index, box_count, reused_from_frame_index)"
               " VALUES (?, ?, ?)", (frame_index, len(boxes), reused_from))
    for box_index, box in enumerate(boxes):
        x, y, width, height = box.bounds()
        db.execute(
            "INSERT INTO fullOCR.full_frame_ocr (frame_index, box_index, text, text_xxh3,"
            " confidence, x, y, width, height, x1, y1, x2, y2, x3, y3, x4, y4)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (frame_index, box_index, box.text, checksum(box.text), box.confidence, x, y,
             width, height,
             *(coordinate for point in box.points for coordinate in point)))


def _count_boxes(video_dir: Path) -> int:
    with VideoDatabase(video_dir, require=("fullOCR",)) as db:
        return db.execute("SELECT count(*) FROM fullOCR.full_frame_ocr").fetchall()[0][0]


def _remove_database(video_dir: Path) -> None:
    """Delete fullOCR.db and its sidecars: a stale WAL must never meet a new file."""
    path = video_dir / KINDS["fullOCR"].file_name
    for suffix in SIDECAR_SUFFIXES:
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def _up_to_date(video_dir: Path, _data_root: Path | None) -> bool:
    return ocr_up_to_date(video_dir, with_recorded(video_dir,
                                                   OcrOptions(keep=RECORDED_SETTINGS)))


def _run_stage(context: StageContext, options: OcrOptions) -> OcrResult:
    options = with_recorded(context.target, options)
    # Each worker loads the OCR models once and keeps them for all its videos.
    return run_ocr(context.target, options, context.ocr_engine("ocr", options),
                   context.progress)


STAGE = Stage("ocr", "fullOCR", OcrOptions, OcrResult, _run_stage,
              up_to_date=_up_to_date)
