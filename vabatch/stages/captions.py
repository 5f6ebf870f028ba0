"""``vabatch captions``: caption spans and their text, from the crop, into captions.db.

1. Boundaries: the band signatures of every frame are split into spans of one band state
   (``vabatch.vision.caption_spans``): cheap image evidence, to the frame.
2. Text: spans whose stable text is big enough are read by OCR on the first band strip
   stored inside them, and on the last one too unless both show the same strokes (mask
   IoU >= 0.75); when both readings agree, the more confident one wins. OCR is
   the confirmation: a span where it finds no text is no caption. When they disagree, the
   image evidence missed a change (two lines of similar shape back to back): the span is
   split at the frame where the band changed most between the two readings.
3. Consecutive spans with the same text are merged (a flicker of the background or a
   compression artefact can split one caption); back-to-back captions with different text
   stay apart, with no gap.

Rows a person edited (``source = 'human'``) are never replaced: automatic captions that
overlap one are left out. The file is rebuilt in a temporary file and renamed into place,
so a killed run leaves the old one and the same inputs always give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from bisect import bisect_left
from dataclasses import asdict, dataclass, field
from pathlib import Path

import apsw
import numpy as np

from vabatch import __version__
from vabatch.db import KINDS, VideoDatabase
from vabatch.db.checksums import checksum
from vabatch.db.files import sidecars
from vabatch.errors import DatabaseError, VabatchError
from vabatch.fsutil import fsync_path
from vabatch.media import decode_image
from vabatch.ocr_engines import DEFAULT_ENGINE, OcrEngine, create_engine
from vabatch.stages.base import ProgressCallback, Stage, StageContext, StageResult
from vabatch.vision.band_signature import PackedMasks, mask_iou
from vabatch.vision.boundary_model import BoundaryModel, find_model
from vabatch.vision.caption_filter import Candidate, FilterRules, Reference, judge
from vabatch.vision.caption_readings import (
    Caption,
    Reading,
    agreement,
    lines_of,
    merge,
    same_reading,
    similar,
)
from vabatch.vision.caption_spans import Span, SpanRules, grow, segment, spans_at
from vabatch.vision.layout_analysis import normalise_text
from vabatch.vision.strip_reading import read_strip

# Fingerprinted with the results: they go stale when this changes (docs/engine.md).
RULES_VERSION = "0.4.0"  # the release that last changed this stage's rules
# Tables that only other steps write (e.g. `vabatch migrate`'s proof): kept as they are.
CARRIED_TABLES = ("migration_proof", "caption_edits")  # caption_edits: people's edit log
DAMAGED_SUFFIX = ".damaged"  # an unreadable captions.db set aside by ``captions --force``


@dataclass(frozen=True)
class CaptionOptions:
    """Segmentation and reading. All but ``force`` are recorded for the staleness check."""

    rules: SpanRules = field(default_factory=SpanRules)
    min_caption_ink: int = 6  # stable mask cells a span needs to be worth reading
    detection_side: int = 960
    # Strips are scaled down for detection so this video's caption lines (their height in
    # the layout's caption boxes) are about this many pixels tall, within detection_side:
    # the detector splits and cuts lines of tall text over busy textures (docs/captions.md).
    # None: detection_side alone.
    detection_line_height: int | None = 24
    min_confidence: float = 0.6
    line_padding: float = 0.2
    second_padding: float | None = 0.35  # Latin lines: a second reading, see RapidOcrEngine
    stroke_reading: bool = True  # Latin lines: a reading of the strokes alone, likewise
    merge_similarity: float = 0.85  # normalised texts this similar are one caption
    max_merge_gap_frames: int = 4
    fragment_frames: int = 6  # a reading this short that reads as part of its neighbour...
    min_blank_frames: int = 2  # a gap this long in which the strokes are gone separates cues
    blank_keep_share: float = 0.3  # ... gone: frames show less than this share of them
    merge_core_iou: float = 0.6  # similar texts merge only when their strokes match this well
    min_stroke_change: float = 0.04  # share of a span's strokes that must change to split it
    same_strokes_iou: float = 0.75  # mask IoU at which a span's two ends are one caption
    engine: str = DEFAULT_ENGINE  # the OCR engine (vabatch.ocr_engines) that reads strips
    filter: FilterRules = field(default_factory=FilterRules)  # which candidates are captions
    force: bool = False

    def recorded(self, engine: OcrEngine | None = None) -> dict:
        """The options and the identity of the engine that reads (name, package version,
        model files): a new engine, release or model makes the captions stale."""
        recorded = {k: v for k, v in asdict(self).items() if k != "force"}
        recorded["engine"] = (engine or self.make_engine()).identity
        return recorded

    def make_engine(self) -> OcrEngine:
        return create_engine(self.engine, detection_side=self.detection_side,
                             min_confidence=self.min_confidence,
                             line_padding=self.line_padding,
                             second_padding=self.second_padding,
                             stroke_reading=self.stroke_reading)


@dataclass
class CaptionResult(StageResult):
    """What one captions run did to one video."""

    video_id: str
    status: str  # 'done', 'unchanged', 'no-band', 'no-source' or 'failed'
    captions: int = 0  # automatic captions written
    spans: int = 0  # spans of one band state the signatures split the video into
    spans_read: int = 0  # spans OCR read (the others held too little text)
    rejected: int = 0  # read candidates that are no caption (each kept with its reason)
    human_kept: int = 0  # captions people edited, carried over
    deleted_kept: int = 0  # captions people deleted: kept as marks, none shown
    seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)



def _inputs_sha256(db: VideoDatabase, recorded: dict) -> str:
    crop = db.execute("SELECT inputs_sha256 FROM cropping.crop_run").fetchall()
    if not crop:
        raise DatabaseError(f"{db.path('cropping')}: no crop run recorded (run `vabatch crop`)")
    inputs = [crop[0][0], {k: v for k, v in recorded.items() if k != "boundary_model"},
              RULES_VERSION, _reference(db)]
    if "boundary_model" in recorded:  # without a model: the fingerprint of the rules alone
        inputs.append(recorded["boundary_model"])
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()
                          ).hexdigest()


def _recorded(options: CaptionOptions, engine: OcrEngine | None,
              model: BoundaryModel | None) -> dict:
    """The options, the engine's identity and, when the data root has one, the boundary
    model's (``vision.boundary_model``): a new model makes the captions stale."""
    recorded = options.recorded(engine)
    if model is not None:
        recorded["boundary_model"] = model.identity
    return recorded


def _reference(db: VideoDatabase) -> Reference | None:
    """Where the layout stage saw this video's caption lines, in band pixels: the OCR boxes
    labelled ``caption`` whose centre lies in the band."""
    if not (db.has("fullOCR") and db.has("layout")):
        return None
    band = db.execute("SELECT crop_left, crop_top, crop_right, crop_bottom"
                      " FROM cropping.crop_run").fetchall()
    if not band or band[0][0] is None:
        return None
    left, top, right, bottom = band[0]
    boxes = db.execute(
        "SELECT l.label, o.text, o.y, o.height, o.x, o.width FROM fullOCR.full_frame_ocr o"
        " JOIN layout.full_frame_box_labels l USING (frame_index, box_index)"
        " ORDER BY o.frame_index, o.box_index").fetchall()
    lines, noise = [], []
    for label, text, y, height, x, width in boxes:
        if y is None or not height or not (top <= y + height / 2 < bottom
                                           and left <= x + width / 2 < right):
            continue
        line = (y - top, height, x - left, width)
        if label == "caption":
            lines.append(line)
        elif normalise_text(text or ""):
            noise.append((normalise_text(text), line))
    return Reference.of_lines(lines, noise=noise)


def _migrated_without_video(video_dir: Path, result: CaptionResult) -> bool:
    """A video migrated without its source file and never cropped: nothing to read, its
    migrated captions are kept as they are (the result says so)."""
    with VideoDatabase(video_dir, require=("video",)) as db:
        (source_file,) = db.execute("SELECT source_file FROM video.video_metadata"
                                    ).fetchone() or ("?",)
        cropped = db.has("cropping") and db.execute(
            "SELECT count(*) FROM cropping.crop_run").fetchall()[0][0]
        if source_file or cropped:
            return False
        kept = db.execute("SELECT count(*) FROM captions.captions").fetchall()[0][0] \
            if db.has("captions") else 0
    result.status, result.human_kept = "no-source", kept
    result.warnings.append(f"captions: the source video is not stored (migrated without "
                           f"it): nothing to read; {kept} migrated captions kept")
    return True


def captions_up_to_date(video_dir: Path, options: CaptionOptions = CaptionOptions(),
                        engine: OcrEngine | None = None, data_root: Path | None = None,
                        model: BoundaryModel | None = None) -> bool:
    """Whether captions.db was made from the current crop with these options, this engine
    (default: the one ``options`` name) and the data root's boundary model (if any)."""
    recorded = _recorded(options, engine, model or find_model(data_root))
    with VideoDatabase(video_dir, require=("cropping",)) as db:
        if not db.has("captions"):
            return False
        previous = db.execute("SELECT inputs_sha256 FROM captions.captions_run").fetchall()
        return bool(previous) and previous[0][0] == _inputs_sha256(db, recorded)


def run_captions(video_dir: Path, options: CaptionOptions = CaptionOptions(),
                 engine: OcrEngine | None = None, data_root: Path | None = None,
                 progress: ProgressCallback | None = None) -> CaptionResult:
    """Find caption spans, read them, and write the automatic rows of captions.db.

    ``engine`` lets a caller share one loaded engine (matching ``options``: its identity is
    fingerprinted); a boundary model trained at ``data_root`` (``vabatch train boundaries``)
    decides the spans, else the rules do; ``progress`` hears (spans looked at, found)."""
    started = time.monotonic()
    video_dir = Path(video_dir)
    result = CaptionResult(video_dir.name, "done")
    _set_aside_if_unreadable(video_dir, options.force, result)
    if _migrated_without_video(video_dir, result):
        return result
    engine = engine or options.make_engine()
    model = find_model(data_root)
    recorded = _recorded(options, engine, model)
    if not options.force and captions_up_to_date(video_dir, options, engine, model=model):
        result.status = "unchanged"
        with VideoDatabase(video_dir, require=("captions",)) as db:
            result.captions, result.human_kept, result.deleted_kept = db.execute(
                "SELECT count(*) FILTER (WHERE source = 'auto'),"
                " count(*) FILTER (WHERE source = 'human' AND boundary_state IS NOT"
                " 'deleted'), count(*) FILTER (WHERE boundary_state IS 'deleted')"
                " FROM captions.captions").fetchall()[0]
            if db.execute("SELECT 1 FROM captions.sqlite_master"
                          " WHERE name = 'rejected_captions'").fetchall():
                result.rejected = db.execute("SELECT count(*) FROM"
                                             " captions.rejected_captions").fetchall()[0][0]
        return result

    with VideoDatabase(video_dir, require=("video", "cropping")) as db:
        inputs = _inputs_sha256(db, recorded)
        band = db.execute("SELECT crop_left, crop_top, crop_right, crop_bottom, frame_count"
                          " FROM cropping.crop_run").fetchall()[0]
        duration_ms = db.execute("SELECT duration_ms FROM video.video_metadata").fetchall()[0][0]
        if band[0] is None:
            captions, timestamps, spans_read = [], [], 0
            result.status = "no-band"
        else:
            captions, timestamps, spans, spans_read = _find_captions(db, band, options, engine,
                                                                     model, progress)
            result.spans = spans
        reasons = judge([Candidate(c.text, c.confidence, c.end_frame_index
                                   - c.start_frame_index, lines_of(c)) for c in captions],
                        options.filter, _reference(db))
        captions, reasons = _with_stray_lines(captions, reasons)
        result.spans_read = spans_read

    def time_of(frame_index: int) -> int:
        return timestamps[frame_index] if frame_index < len(timestamps) else duration_ms

    # A new file, renamed over the old one when whole; what people edited is carried over.
    with VideoDatabase(video_dir, write="captions", require=("cropping",),
                       replace=True) as db, db.conn:
        for table in CARRIED_TABLES:
            db.carry_over(table)
        db.carry_over("captions", "source = 'human'")
        human = db.execute("SELECT start_frame_index, end_frame_index, boundary_state"
                           " FROM captions.captions WHERE source = 'human'").fetchall()
        rows, rejected = _rows(captions, reasons, human, time_of)
        db.conn.executemany(
            "INSERT INTO captions.captions (start_frame_index, end_frame_index, start_ms,"
            " end_ms, text, text_xxh3, confidence, agreement, readings, source)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'auto')", rows)
        db.conn.executemany(
            "INSERT INTO captions.rejected_captions (start_frame_index, end_frame_index,"
            " start_ms, end_ms, text, text_xxh3, confidence, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rejected)
        db.execute("INSERT OR REPLACE INTO captions.captions_run (id, inputs_sha256,"
                   " parameters, tool_version, spans_read) VALUES (1, ?, ?, ?, ?)",
                   (inputs, json.dumps(recorded, sort_keys=True, default=str),
                    f"vabatch {__version__}", spans_read))
        result.captions = len(rows)
        result.rejected = len(rejected)
        result.deleted_kept = sum(1 for *_, state in human if state == "deleted")
        result.human_kept = len(human) - result.deleted_kept
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _rows(captions: list[Caption], reasons: list[str | None],
          human: list[tuple[int, int, str | None]], time_of) -> tuple[list[tuple], list[tuple]]:
    """Rows of ``captions`` and of ``rejected_captions`` (an automatic caption overlapping
    one a person edited or deleted is rejected, with that reason)."""
    rows, rejected = [], []
    for caption, reason in zip(captions, reasons, strict=True):
        overlapped = [state for start, end, state in human
                      if caption.start_frame_index < end and start < caption.end_frame_index]
        if reason is None and overlapped:
            reason = ("overlaps a caption a person edited" if any(
                state != "deleted" for state in overlapped) else "a person deleted it")
        values = (caption.start_frame_index, caption.end_frame_index,
                  time_of(caption.start_frame_index), time_of(caption.end_frame_index),
                  caption.text, checksum(caption.text), round(caption.confidence, 4))
        if reason is None:
            rows.append((*values, round(caption.agreement, 4), len(caption.readings)))
        else:
            rejected.append((*values, reason))
    return rows, rejected


def _set_aside_if_unreadable(video_dir: Path, force: bool, result: CaptionResult) -> None:
    """Read what a rebuild carries over (human rows, migration proof) whole, first.

    A captions.db that cannot be read (a damaged header or page, a dropped table) is never
    silently replaced: without ``force`` the stage stops with one line; with ``force`` the
    file is kept beside the new one as ``captions.db.damaged`` (a numbered name if that is
    taken) and a warning says that its human rows, if it had any, are not in the new file.
    """
    path = video_dir / KINDS["captions"].file_name
    if not path.exists():
        return
    try:
        with VideoDatabase(video_dir, only=("captions",), require=("captions",)) as db:
            tables = {name for (name,) in db.execute(
                "SELECT name FROM captions.sqlite_master WHERE type = 'table'")}
            for table in ("captions", *[t for t in CARRIED_TABLES if t in tables]):
                for _row in db.execute(f"SELECT * FROM captions.{table}"):
                    pass  # every page and overflow page is read
    except (VabatchError, apsw.Error) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if not force:
            raise DatabaseError(
                f"{path}: cannot be read ({reason}); the human rows in it cannot be carried"
                " over: `vabatch captions --force` rebuilds it and keeps this file as "
                f"{path.name}{DAMAGED_SUFFIX}") from None
        aside = _unused_name(path.with_name(path.name + DAMAGED_SUFFIX))
        for sidecar in sidecars(path):  # a hot journal or WAL belongs to the damaged file
            os.replace(sidecar, aside.with_name(aside.name + sidecar.name[len(path.name):]))
        os.replace(path, aside)
        fsync_path(video_dir)
        result.warnings.append(
            f"{path.name} could not be read ({reason}): kept as {aside.name}; any human "
            "rows in it are not in the rebuilt file")


def _unused_name(path: Path) -> Path:
    candidate, number = path, 1
    while os.path.lexists(candidate):
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def band_masks(db: VideoDatabase, band) -> tuple[PackedMasks, list[int], int]:
    """The text mask of every frame's band (as crop stored it), the frames' times in ms,
    and the scale of the masks."""
    left, top, right, bottom, *_ = band
    scale = json.loads(db.execute("SELECT parameters FROM cropping.crop_run"
                                  ).fetchall()[0][0])["signature_scale"]
    shape = (max(1, (bottom - top) // scale), max(1, (right - left) // scale))
    signatures = db.execute("SELECT frame_index, timestamp_ms, mask FROM"
                            " cropping.band_signatures ORDER BY frame_index").fetchall()
    if [row[0] for row in signatures] != list(range(len(signatures))):
        raise DatabaseError(f"{db.path('cropping')}: band signatures do not cover every frame;"
                            " run `vabatch crop --force`")
    timestamps = [row[1] for row in signatures]
    return PackedMasks([row[2] for row in signatures], shape), timestamps, scale


def _find_captions(db: VideoDatabase, band, options: CaptionOptions, engine: OcrEngine,
                   model: BoundaryModel | None = None, progress: ProgressCallback | None = None):
    masks, timestamps, scale = band_masks(db, band)
    spans = segment(masks, options.rules)
    if model is not None:  # the model decides where band states start, told the rules'
        spans = spans_at(masks, model.boundaries(masks, [s.start for s in spans]))
    reference = _reference(db)
    stored = [row[0] for row in db.execute("SELECT frame_index FROM cropping.cropped_frames"
                                           " ORDER BY frame_index")]
    readings: list[Caption] = []
    spans_read = 0
    cache: dict[int, Reading | None] = {}
    left_out: list[Caption] = []  # spans where only text that is no caption was read

    side = _detection_side(db, options, reference)

    def read(frame_index: int):
        if frame_index not in cache:
            cache[frame_index] = _read_strip(db, engine, frame_index, reference,
                                             options.filter, side)
        return cache[frame_index]

    def read_range(start: int, end: int, strips: list[int], span: Span) -> None:
        first, last = strips[0], strips[-1]
        early = read(first)
        # The same strokes at both ends: the same caption, no second reading needed.
        same_strokes = mask_iou(masks[first], masks[last]) >= options.same_strokes_iou
        late = early if same_strokes else read(last)
        split = None
        if not same_reading(early, late):
            # The ends read differently: either OCR read one caption two ways, or two
            # captions the span could not tell apart (lines of similar shape back to back,
            # or a changed word). The image decides: the frame where the caption's strokes
            # changed most between the two readings, if they changed enough.
            # Where text is at either reading: a changed word is not in the span's core.
            text_area = grow(span.core | masks[first] | masks[last])
            changes = {t: int(np.count_nonzero((masks[t] ^ masks[t - 1]) & text_area))
                       for t in range(first + 1, last + 1)}
            candidate = max(changes, key=lambda t: (changes[t], -t))
            if changes[candidate] >= options.min_stroke_change * max(1, span.core_ink):
                split = candidate
            elif len(strips) > 2 and not similar(early, late, options.merge_similarity):
                # Strokes too faint to tell (short words over a bright scene), yet the ends
                # read different texts: the strips crop stored between them say where the
                # text changed, the strokes where in that stretch.
                split = _reading_change(strips, early, read, changes)
        if split is None:
            read_strips = [r for r in ((early,) if late is early else (early, late)) if r]
            best = max((r for r in read_strips if r.text), key=lambda r: r.confidence,
                       default=None)
            if best is not None:
                readings.append(Caption(start, end, best.text, best.confidence, span,
                                        read_strips))
            elif any(r.stray for r in read_strips):  # static text alone: said, not kept
                left_out.append(Caption(start, end, "", 0.0, span, read_strips))
            return
        read_range(start, split, [f for f in strips if f < split], span)
        read_range(split, end, [f for f in strips if f >= split], span)

    for span in _reported(spans, progress):
        if span.core_ink < options.min_caption_ink:
            continue
        strips = stored[bisect_left(stored, span.start):bisect_left(stored, span.end)]
        if strips:
            spans_read += 1
            read_range(span.start, span.end, strips, span)
        elif readings and readings[-1].end_frame_index == span.start:
            # No strip in this span: crop stores one whenever the band's text changes, so
            # it judged these frames to show what its last strip showed (the span only
            # split on background noise that moves with the text, e.g. a zooming fractal).
            # The caption read from that strip goes on.
            readings[-1].end_frame_index = span.end
    captions = merge(readings, options, masks, scale)
    for caption in captions:
        caption.agreement = agreement(caption)
    # Where only static text was read, it is still said (as text that is no caption).
    captions = sorted(captions + left_out, key=lambda c: c.start_frame_index)
    return captions, timestamps, len(spans), spans_read


def _reading_change(strips: list[int], early: Reading | None, read,
                    changes: dict[int, int]) -> int | None:
    """The frame where the text first read differently from ``early``: between the last
    stored strip that reads as ``early`` and the next, where the strokes changed most."""
    for previous, strip in zip(strips[:-1], strips[1:], strict=True):
        if not same_reading(read(strip), early):
            return max(range(previous + 1, strip + 1), key=lambda t: (changes[t], -t))
    return None


def _reported(spans: list[Span], progress: ProgressCallback | None):
    """The spans one by one; ``progress`` hears how many were looked at before each."""
    for number, span in enumerate(spans):
        if progress:
            progress(number, len(spans))
        yield span


MIN_DETECTION_SIDE = 320


def _detection_side(db: VideoDatabase, options: CaptionOptions,
                    reference: Reference | None) -> int:
    """The long side strips are scaled down to for detection: so this video's caption
    lines are ``detection_line_height`` pixels tall, within [MIN_DETECTION_SIDE,
    ``detection_side``]; ``detection_side`` without a reference or that option."""
    if options.detection_line_height is None or reference is None or reference.height <= 0:
        return options.detection_side
    row = db.execute("SELECT crop_right - crop_left, crop_bottom - crop_top"
                     " FROM cropping.crop_run").fetchall()
    if not row or row[0][0] is None:
        return options.detection_side
    return detection_side_for(max(row[0]), reference.height, options)


def detection_side_for(long_side: int, line_height: float, options: CaptionOptions) -> int:
    """The long side that makes lines ``line_height`` pixels tall on a strip whose long
    side is ``long_side`` about ``options.detection_line_height`` tall (never scaled up),
    within [MIN_DETECTION_SIDE, ``options.detection_side``]."""
    wanted = round(long_side * min(1.0, options.detection_line_height / line_height))
    return max(min(MIN_DETECTION_SIDE, long_side), min(options.detection_side, wanted))


def _read_strip(db: VideoDatabase, engine: OcrEngine, frame_index: int,
                reference: Reference | None, rules: FilterRules,
                detection_side: int | None = None) -> Reading | None:
    """What OCR reads on one stored strip (``strip_reading.read_strip``)."""
    data = db.execute("SELECT image_data FROM cropping.cropped_frames WHERE frame_index = ?",
                      (frame_index,)).fetchall()[0][0]
    image = decode_image(data)
    if image is None:
        raise DatabaseError(f"{db.path('cropping')}: strip of frame {frame_index} does not "
                            "decode (run `vabatch verify --deep`)")
    return read_strip(engine, image, frame_index, reference, rules, detection_side)


def _with_stray_lines(captions: list[Caption], reasons: list[str | None]):
    """The candidates, each preceded by the lines its readings left out (a sign in the
    scene read with the caption, ``caption_filter.stray_lines``) as rejected candidates
    of their own, once per text, with their reason."""
    all_captions, all_reasons = [], []
    for caption, reason in zip(captions, reasons, strict=True):
        seen = set()
        for reading in caption.readings:
            for text, why in reading.stray:
                if normalise_text(text) in seen:
                    continue
                seen.add(normalise_text(text))
                all_captions.append(Caption(caption.start_frame_index,
                                            caption.end_frame_index, text, reading.confidence))
                all_reasons.append(why + (", read with a caption" if caption.text else ""))
        if caption.text:  # else it only carried the text left out
            all_captions.append(caption)
            all_reasons.append(reason)
    return all_captions, all_reasons


def _up_to_date(video_dir: Path, data_root: Path | None) -> bool:
    return captions_up_to_date(video_dir, data_root=data_root)


def _run_stage(context: StageContext, options: CaptionOptions) -> CaptionResult:
    # Each worker loads the OCR models once and keeps them for all its videos.
    return run_captions(context.target, options, context.ocr_engine("captions", options),
                        context.data_root, context.progress)


STAGE = Stage("captions", "captions", CaptionOptions, CaptionResult, _run_stage,
              up_to_date=_up_to_date)
