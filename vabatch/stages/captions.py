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
import time
from bisect import bisect_left
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from vabatch import __version__
from vabatch.db import VideoDatabase
from vabatch.errors import DatabaseError
from vabatch.media import decode_image
from vabatch.ocr_engines import DEFAULT_ENGINE, OcrEngine, create_engine
from vabatch.stages.base import Stage, StageContext, StageResult
from vabatch.vision.band_signature import PackedMasks, mask_iou
from vabatch.vision.caption_spans import Span, SpanRules, grow, segment
from vabatch.vision.layout_analysis import normalise_text
from vabatch.vision.text_cleanup import clean_line

# Fingerprinted with the results: they go stale when this changes (docs/engine.md).
RULES_VERSION = "0.2.1"  # the release that last changed this stage's rules
# Tables that only other steps write (e.g. `vabatch migrate`'s proof): kept as they are.
CARRIED_TABLES = ("migration_proof",)


@dataclass(frozen=True)
class CaptionOptions:
    """Segmentation and reading. All but ``force`` are recorded for the staleness check."""

    rules: SpanRules = field(default_factory=SpanRules)
    min_caption_ink: int = 30  # stable mask cells a span needs to be worth reading
    detection_side: int = 960
    min_confidence: float = 0.6
    line_padding: float = 0.2
    second_padding: float | None = 0.35  # Latin lines: a second reading, see RapidOcrEngine
    stroke_reading: bool = True  # Latin lines: a reading of the strokes alone, likewise
    merge_similarity: float = 0.85  # normalised texts this similar are one caption
    max_merge_gap_frames: int = 4
    merge_core_iou: float = 0.6  # similar texts merge only when their strokes match this well
    min_stroke_change: float = 0.04  # share of a span's strokes that must change to split it
    same_strokes_iou: float = 0.75  # mask IoU at which a span's two ends are one caption
    engine: str = DEFAULT_ENGINE  # the OCR engine (vabatch.ocr_engines) that reads strips
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
    status: str  # 'done', 'unchanged', 'no-band' or 'failed'
    captions: int = 0  # automatic captions written
    spans: int = 0  # spans of one band state the signatures split the video into
    spans_read: int = 0  # spans OCR read (the others held too little text)
    human_kept: int = 0  # captions people edited, carried over
    seconds: float = 0.0
    error: str | None = None



@dataclass
class Caption:
    start_frame_index: int
    end_frame_index: int
    text: str
    confidence: float
    span: Span | None = None  # the image span it was read in


def _inputs_sha256(db: VideoDatabase, recorded: dict) -> str:
    crop = db.execute("SELECT inputs_sha256 FROM cropping.crop_run").fetchall()
    if not crop:
        raise DatabaseError(f"{db.path('cropping')}: no crop run recorded (run `vabatch crop`)")
    return hashlib.sha256(json.dumps([crop[0][0], recorded, RULES_VERSION],
                                     sort_keys=True, default=str).encode()).hexdigest()


def captions_up_to_date(video_dir: Path, options: CaptionOptions = CaptionOptions(),
                        engine: OcrEngine | None = None) -> bool:
    """Whether captions.db was made from the current crop with these options and this
    engine (default: the one ``options`` name)."""
    recorded = options.recorded(engine)
    with VideoDatabase(video_dir, require=("cropping",)) as db:
        if not db.has("captions"):
            return False
        previous = db.execute("SELECT inputs_sha256 FROM captions.captions_run").fetchall()
        return bool(previous) and previous[0][0] == _inputs_sha256(db, recorded)


def run_captions(video_dir: Path, options: CaptionOptions = CaptionOptions(),
                 engine: OcrEngine | None = None) -> CaptionResult:
    """Find caption spans, read them, and write the automatic rows of captions.db.

    ``engine`` lets a caller share one loaded engine across videos; it must match
    ``options`` (its identity is what the results are fingerprinted with)."""
    started = time.monotonic()
    video_dir = Path(video_dir)
    result = CaptionResult(video_dir.name, "done")
    engine = engine or options.make_engine()
    recorded = options.recorded(engine)
    if not options.force and captions_up_to_date(video_dir, options, engine):
        result.status = "unchanged"
        with VideoDatabase(video_dir, require=("captions",)) as db:
            result.captions = db.execute("SELECT count(*) FROM captions.captions").fetchall()[0][0]
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
            captions, timestamps, spans, spans_read = _find_captions(db, band, options, engine)
            result.spans = spans
        result.spans_read = spans_read

    def time_of(frame_index: int) -> int:
        return timestamps[frame_index] if frame_index < len(timestamps) else duration_ms

    # A new file, renamed over the old one when whole; what people edited is carried over.
    with VideoDatabase(video_dir, write="captions", require=("cropping",),
                       replace=True) as db, db.conn:
        for table in CARRIED_TABLES:
            db.carry_over(table)
        db.carry_over("captions", "source = 'human'")
        human = db.execute("SELECT start_frame_index, end_frame_index FROM captions.captions"
                           " WHERE source = 'human'").fetchall()
        rows = [
            (c.start_frame_index, c.end_frame_index, time_of(c.start_frame_index),
             time_of(c.end_frame_index), c.text, round(c.confidence, 4))
            for c in captions
            if not any(c.start_frame_index < end and start < c.end_frame_index
                       for start, end in human)
        ]
        db.conn.executemany(
            "INSERT INTO captions.captions (start_frame_index, end_frame_index, start_ms,"
            " end_ms, text, confidence, source) VALUES (?, ?, ?, ?, ?, ?, 'auto')", rows)
        db.execute("INSERT OR REPLACE INTO captions.captions_run (id, inputs_sha256,"
                   " parameters, tool_version, spans_read) VALUES (1, ?, ?, ?, ?)",
                   (inputs, json.dumps(recorded, sort_keys=True, default=str),
                    f"vabatch {__version__}", spans_read))
        result.captions = len(rows)
        result.human_kept = len(human)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _find_captions(db: VideoDatabase, band, options: CaptionOptions, engine: OcrEngine):
    left, top, right, bottom, _ = band
    scale = json.loads(db.execute("SELECT parameters FROM cropping.crop_run"
                                  ).fetchall()[0][0])["signature_scale"]
    shape = (max(1, (bottom - top) // scale), max(1, (right - left) // scale))
    signatures = db.execute("SELECT frame_index, timestamp_ms, mask FROM"
                            " cropping.band_signatures ORDER BY frame_index").fetchall()
    if [row[0] for row in signatures] != list(range(len(signatures))):
        raise DatabaseError(f"{db.path('cropping')}: band signatures do not cover every frame;"
                            " run `vabatch crop --force`")
    timestamps = [row[1] for row in signatures]
    masks = PackedMasks([row[2] for row in signatures], shape)
    spans = segment(masks, options.rules)
    stored = [row[0] for row in db.execute("SELECT frame_index FROM cropping.cropped_frames"
                                           " ORDER BY frame_index")]
    readings: list[Caption] = []
    spans_read = 0
    cache: dict[int, tuple[str, float] | None] = {}

    def read(frame_index: int):
        if frame_index not in cache:
            cache[frame_index] = _read_strip(db, engine, frame_index)
        return cache[frame_index]

    def read_range(start: int, end: int, strips: list[int], span: Span) -> None:
        first, last = strips[0], strips[-1]
        early = read(first)
        # The same strokes at both ends: the same caption, no second reading needed.
        same_strokes = mask_iou(masks[first], masks[last]) >= options.same_strokes_iou
        late = early if same_strokes else read(last)
        split = None
        if not _same_reading(early, late):
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
        if split is None:
            best = max((r for r in (early, late) if r), key=lambda r: r[1], default=None)
            if best is not None:
                readings.append(Caption(start, end, best[0], best[1], span))
            return
        read_range(start, split, [f for f in strips if f < split], span)
        read_range(split, end, [f for f in strips if f >= split], span)

    for span in spans:
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
    return _merge(readings, options), timestamps, len(spans), spans_read


def _same_reading(first, second) -> bool:
    if first is None or second is None:
        return first is second
    return normalise_text(first[0]) == normalise_text(second[0])


def _read_strip(db: VideoDatabase, engine: OcrEngine, frame_index: int):
    """(text, mean confidence) of one stored strip; lines top to bottom; None if no text."""
    data = db.execute("SELECT image_data FROM cropping.cropped_frames WHERE frame_index = ?",
                      (frame_index,)).fetchall()[0][0]
    image = decode_image(data)
    if image is None:
        raise DatabaseError(f"{db.path('cropping')}: strip of frame {frame_index} does not "
                            "decode (run `vabatch verify --deep`)")
    lines = _lines(engine.read(image))
    if not lines:
        return None
    text = "\n".join(clean_line(" ".join(box.text for box in line)) for line in lines)
    confidences = [box.confidence for line in lines for box in line]
    return text, sum(confidences) / len(confidences)


def _lines(boxes):
    """Group boxes into lines (overlapping vertically), left to right within a line."""
    lines: list[list] = []
    for box in sorted(boxes, key=lambda b: b.bounds()[1]):
        x, y, width, height = box.bounds()
        for line in lines:
            _, line_y, _, line_height = line[0].bounds()
            overlap = min(y + height, line_y + line_height) - max(y, line_y)
            if overlap > 0.5 * min(height, line_height):
                line.append(box)
                break
        else:
            lines.append([box])
    return [sorted(line, key=lambda b: b.bounds()[0]) for line in lines]


def _similar(first: str, second: str, threshold: float) -> bool:
    a, b = normalise_text(first), normalise_text(second)
    return a == b or (bool(a) and bool(b) and SequenceMatcher(None, a, b).ratio() >= threshold)


def _merge(readings: list[Caption], options: CaptionOptions) -> list[Caption]:
    """Join consecutive readings of one caption that the image evidence split.

    The same text (normalised) is one caption. Texts that are only similar (OCR read the
    same caption a little differently) are one caption when their spans' stable strokes
    match too; within one span they were split because they read differently, so they stay
    apart.
    """
    readings = _absorb_misreadings(readings, options)
    merged: list[Caption] = []
    for caption in readings:
        previous = merged[-1] if merged else None
        if previous is not None and caption.start_frame_index - previous.end_frame_index \
                <= options.max_merge_gap_frames and _one_caption(previous, caption, options):
            previous.end_frame_index = caption.end_frame_index
            if caption.confidence > previous.confidence:
                previous.text, previous.confidence = caption.text, caption.confidence
            previous.span = caption.span
        else:
            merged.append(Caption(caption.start_frame_index, caption.end_frame_index,
                                  caption.text, caption.confidence, caption.span))
    return merged


def _absorb_misreadings(readings: list[Caption], options: CaptionOptions) -> list[Caption]:
    """A short reading between two readings of the same text, similar to it and touching
    both, is that caption misread (a moving background spoiled one strip): take their text.
    """
    fixed = list(readings)
    for index in range(1, len(fixed) - 1):
        before, middle, after = fixed[index - 1], fixed[index], fixed[index + 1]
        touching = (middle.start_frame_index - before.end_frame_index
                    <= options.max_merge_gap_frames
                    and after.start_frame_index - middle.end_frame_index
                    <= options.max_merge_gap_frames)
        if (touching and normalise_text(before.text) == normalise_text(after.text)
                and _similar(middle.text, before.text, options.merge_similarity)):
            fixed[index] = Caption(middle.start_frame_index, middle.end_frame_index,
                                   before.text, before.confidence, middle.span)
    return fixed


def _one_caption(first: Caption, second: Caption, options: CaptionOptions) -> bool:
    if normalise_text(first.text) == normalise_text(second.text):
        return True
    if first.span is second.span or first.span is None or second.span is None:
        return False
    return (_similar(first.text, second.text, options.merge_similarity)
            and mask_iou(first.span.core, second.span.core) >= options.merge_core_iou)


def _up_to_date(video_dir: Path, _data_root: Path | None) -> bool:
    return captions_up_to_date(video_dir)


def _run_stage(context: StageContext, options: CaptionOptions) -> CaptionResult:
    # Each worker loads the OCR models once and keeps them for all its videos.
    return run_captions(context.target, options, context.ocr_engine("captions", options))


STAGE = Stage("captions", "captions", CaptionOptions, CaptionResult, _run_stage,
              up_to_date=_up_to_date)
