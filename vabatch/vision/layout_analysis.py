"""Finding the caption band from OCR boxes over time: pure functions, no I/O.

Captions recur in a stable band, stay aligned (centred, or on one left edge), and their
text changes from caption to caption. A watermark, logo or sign keeps the same text; a
ticker runs into the frame's edges and its boxes wander sideways. Boxes are grouped into
text rows (by vertical centre); each row gets features and is judged caption or noise —
by rules, or by a trained classifier when one is given. The band is the block of
adjacent caption rows seen most often, with room for a line more.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# Rules, each a measured property of the generated and sample videos (docs/layout.md).
MIN_ROW_OCCURRENCES = 2  # a row seen in one frame only says nothing about recurrence
MAX_ALIGNMENT_SPREAD = 0.035  # std of the row's centre (or left edge) over frames, / width
MIN_TEXT_CHANGE = 0.08  # distinct texts per occurrence: a logo keeps one text
MAX_DOMINANT_TEXT_SHARE = 0.75  # share of occurrences showing the row's most common text
MAX_EDGE_SHARE = 0.3  # share of occurrences touching the left or right frame edge
MAX_DIGIT_SHARE = 0.6  # clocks, counters and timecodes are mostly digits
# Caption lines hold few digits; a score or counter ("114 pts", "LIV 2-1 MUN 67:32") is
# about half digits yet passes the rule above. A block of rows that reads like words gets
# the band before one that does not, however often that one is seen (a counter is on every
# frame, captions are not), and only blocks that read like words are reported as left out.
WORDLIKE_MAX_DIGIT_SHARE = 0.25
# Captions sit at the bottom of the frame far more often than at the top, where headline
# bars, titles and signs are: a block at the top gets the band over a lower one only when
# seen this many times as often (a headline bar is on every frame, captions are not).
TOP_BLOCK_HANDICAP = 3.0
BAND_PADDING_LINES = 0.35  # padding around caption boxes, in line heights
MAX_BOX_LINES = 2.5  # boxes taller than this many line heights are not caption lines
EXTRA_LINE_HEADROOM = 1.25  # room kept for one more line than was seen, in line heights
MIDDLE_SHARE = 0.1  # a caption block centred this close to mid-frame grows both ways

FEATURE_NAMES = (
    "centre_y", "height", "width", "centre_offset", "touches_edge", "confidence",
    "row_presence", "row_text_change", "row_dominant_share", "row_centre_spread",
    "row_left_spread", "row_edge_share",
)


@dataclass(frozen=True)
class Box:
    """One OCR text box of one frame (pixels, half-open)."""

    frame_index: int
    box_index: int
    text: str
    confidence: float
    x: int
    y: int
    width: int
    height: int

    @property
    def key(self) -> tuple[int, int]:
        return self.frame_index, self.box_index

    @property
    def centre_x(self) -> float:
        return self.x + self.width / 2

    @property
    def centre_y(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class Band:
    """The caption band: ``right`` and ``bottom`` are the first column/row outside it."""

    left: int
    top: int
    right: int
    bottom: int

    def contains(self, box: Box) -> bool:
        return self.contains_box(box.x, box.y, box.width, box.height)

    def contains_box(self, x: int, y: int, width: int, height: int) -> bool:
        return (self.left <= x and x + width <= self.right
                and self.top <= y and y + height <= self.bottom)

    def iou(self, other: Band) -> float:
        width = min(self.right, other.right) - max(self.left, other.left)
        height = min(self.bottom, other.bottom) - max(self.top, other.top)
        inter = max(0, width) * max(0, height)
        union = self.area + other.area - inter
        return inter / union if union else 0.0

    @property
    def area(self) -> int:
        return max(0, self.right - self.left) * max(0, self.bottom - self.top)


@dataclass
class Row:
    """Boxes of one text row (similar vertical centre) across frames, and its features."""

    boxes: list[Box]
    occurrences: int = 0  # frames in which the row has a box
    presence: float = 0.0
    text_change: float = 0.0
    dominant_share: float = 0.0
    centre_spread: float = 0.0
    left_spread: float = 0.0
    # The rules' alignment: the robust spread (scaled median absolute deviation, / width)
    # of the row's centre or left edge, per frame of its whole extent or of its widest box,
    # whichever is smallest. A sign that shares the row in a few frames shifts the row's
    # extent there (it moves the std, not the median); one in most frames does not move
    # the caption's own box, usually the widest.
    alignment: float = 0.0
    edge_share: float = 0.0
    digit_share: float = 0.0
    line_height: float = 0.0
    caption_score: float = 0.0
    is_caption: bool = False
    reason: str = ""
    labelled_caption: bool = False  # a person labelled boxes of this row caption

    @property
    def top(self) -> int:
        return min(b.y for b in self.boxes)

    @property
    def bottom(self) -> int:
        return max(b.y + b.height for b in self.boxes)

    @property
    def centre_y(self) -> float:
        return float(np.median([b.centre_y for b in self.boxes]))


@dataclass
class LayoutResult:
    """What the analysis found: the band (None when there are no captions) and labels."""

    band: Band | None
    anchor: str | None  # 'bottom' or 'top'
    confidence: float
    method: str
    labels: dict[tuple[int, int], tuple[str, float]] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    message: str = ""
    warnings: list[str] = field(default_factory=list)  # e.g. captions the band leaves out


def normalise_text(text: str) -> str:
    """Text compared across frames: no spaces or punctuation, lower case."""
    return re.sub(r"[\W_]+", "", text).lower()


ROW_CENTRE_TOLERANCE = 0.35  # boxes of one row: centres within this x the taller's height
STATIC_GROUP_SHARE = 0.6  # a part of a row showing one text in this share of all frames


def group_rows(boxes: Sequence[Box], frame_count: int) -> list[Row]:
    """Group boxes into text rows, then split off static text that shares a row.

    A box joins the row whose recent centres are within ``ROW_CENTRE_TOLERANCE`` x the
    taller line's height of its own. A logo level with a caption line would still share its
    row: boxes of one unchanging text at one place, seen in most of the ``frame_count``
    frames OCR read, are split into a row of their own.
    """
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: b.centre_y):
        if rows:
            recent = rows[-1][-8:]
            centre = float(np.mean([b.centre_y for b in recent]))
            height = max(box.height, float(np.median([b.height for b in recent])))
            if box.centre_y - centre <= ROW_CENTRE_TOLERANCE * height:
                rows[-1].append(box)
                continue
        rows.append([box])
    return [Row(boxes=part) for row in rows for static_split in _split_static(row, frame_count)
            for part in _split_counters(static_split)]


def _split_counters(row: list[Box]) -> list[list[Box]]:
    """Boxes that read as numbers (a counter, a score, a clock) split off a row that also
    holds words: a running counter beside the captions made the caption row look as if it
    moved sideways (seen on a random look of development seed 2)."""
    def number(box: Box) -> bool:
        text = normalise_text(box.text)
        return len(text) >= 2 and sum(c.isdigit() for c in text) >= MAX_DIGIT_SHARE * len(text)

    counters = [b for b in row if number(b)]
    if not counters or len(counters) == len(row):
        return [row]
    return [counters, [b for b in row if not number(b)]]


def _split_static(row: list[Box], frame_count: int) -> list[list[Box]]:
    groups: dict[str, list[Box]] = defaultdict(list)
    for box in row:
        groups[normalise_text(box.text)].append(box)
    for text, group in groups.items():
        group_frames = {b.frame_index for b in group}
        still = float(np.std([b.centre_x for b in group])) <= 0.25 * max(
            b.height for b in group)
        if (text and len(group) < len(row) and still
                and len(group_frames) >= max(3, STATIC_GROUP_SHARE * frame_count)):
            rest = [b for b in row if b not in group]
            return [group, rest]
    return [row]


def describe_rows(rows: list[Row], frame_count: int, width: int) -> None:
    """Fill in each row's features (over frames, per frame the row's merged extent)."""
    for row in rows:
        by_frame: dict[int, list[Box]] = defaultdict(list)
        for box in row.boxes:
            by_frame[box.frame_index].append(box)
        lefts, centres, edge_hits, texts = [], [], 0, []
        widest_lefts, widest_centres = [], []
        for frame_boxes in by_frame.values():
            left = min(b.x for b in frame_boxes)
            right = max(b.x + b.width for b in frame_boxes)
            lefts.append(left)
            centres.append((left + right) / 2)
            widest = max(frame_boxes, key=lambda b: (b.width, -b.x))
            widest_lefts.append(widest.x)
            widest_centres.append(widest.centre_x)
            edge_hits += left <= 2 or right >= width - 2
            ordered = sorted(frame_boxes, key=lambda b: b.x)
            texts.append(normalise_text("".join(b.text for b in ordered)))
        counts = Counter(texts)
        row.occurrences = len(by_frame)
        row.presence = row.occurrences / max(1, frame_count)
        row.text_change = len(counts) / row.occurrences
        row.dominant_share = counts.most_common(1)[0][1] / row.occurrences
        row.centre_spread = float(np.std(centres)) / width
        row.left_spread = float(np.std(lefts)) / width
        # Per frame, the row's whole extent (a line the detector split into words) or its
        # widest box (a caption with a sign moving beside it in many frames).
        row.alignment = min(_robust_spread(centres), _robust_spread(lefts),
                            _robust_spread(widest_centres),
                            _robust_spread(widest_lefts)) / width
        row.edge_share = edge_hits / row.occurrences
        characters = "".join(texts)
        row.digit_share = sum(c.isdigit() for c in characters) / max(1, len(characters))
        row.line_height = float(np.median([b.height for b in row.boxes]))


def _robust_spread(values: Sequence[float]) -> float:
    """The median absolute deviation, scaled to equal the std of normal data."""
    array = np.asarray(values, dtype=float)
    return 1.4826 * float(np.median(np.abs(array - np.median(array))))


def judge_rows_by_rules(rows: list[Row]) -> None:
    """Mark caption rows: recurring, aligned, changing text, clear of the frame's edges."""
    for row in rows:
        reasons = []
        if row.occurrences < MIN_ROW_OCCURRENCES:
            reasons.append("seen once")
        if row.alignment > MAX_ALIGNMENT_SPREAD:
            reasons.append("not aligned (moves sideways)")
        if row.text_change < MIN_TEXT_CHANGE or row.dominant_share > MAX_DOMINANT_TEXT_SHARE:
            reasons.append("static text")
        if row.edge_share > MAX_EDGE_SHARE:
            reasons.append("runs into the frame edge")
        if row.digit_share > MAX_DIGIT_SHARE:
            reasons.append("mostly digits (a clock or counter)")
        row.is_caption = not reasons
        row.reason = ", ".join(reasons) or "caption-like"
        # A soft score for confidence: how far inside the thresholds the row sits.
        margins = [
            1 - row.alignment / MAX_ALIGNMENT_SPREAD,
            min(1.0, row.text_change / (2 * MIN_TEXT_CHANGE)) - 0.5,
            1 - row.edge_share / MAX_EDGE_SHARE,
        ]
        row.caption_score = float(np.clip(0.5 + 0.5 * min(margins), 0, 1)) \
            if row.is_caption else 0.0


def adopt_companion_lines(rows: list[Row]) -> None:
    """Mark the other lines of multi-line captions: rows near a caption row that only ever
    appear together with it. Their own text may repeat (one two-line caption seen twice),
    so the text-change rule cannot judge them alone. An adopted line can vouch for the next
    one (the first line of a three-line caption sits two lines away from the last)."""
    captions = [r for r in rows if r.is_caption]
    frames_of = {id(row): {b.frame_index for b in row.boxes} for row in rows}
    adopted = True
    while adopted:  # until no row is adopted: an adopted row may vouch for another
        adopted = False
        for row in rows:
            if row.is_caption or row.edge_share > MAX_EDGE_SHARE:
                continue
            frames = frames_of[id(row)]
            for caption in captions:
                close = abs(row.centre_y - caption.centre_y) <= 2.2 * max(
                    row.line_height, caption.line_height)
                together = len(frames & frames_of[id(caption)]) >= 0.8 * len(frames)
                aligned = row.occurrences == 1 or row.alignment <= MAX_ALIGNMENT_SPREAD
                if close and together and aligned:
                    row.is_caption = True
                    row.caption_score = caption.caption_score
                    row.reason = "another line of the captions"
                    captions.append(row)
                    adopted = True
                    break


def box_features(box: Box, row: Row, width: int, height: int) -> list[float]:
    """The features the box classifier sees (same order as FEATURE_NAMES)."""
    return [
        box.centre_y / height, box.height / height, box.width / width,
        abs(box.centre_x - width / 2) / width,
        float(box.x <= 2 or box.x + box.width >= width - 2),
        box.confidence if box.confidence is not None else 0.0,
        row.presence, row.text_change, row.dominant_share, row.centre_spread,
        row.left_spread, row.edge_share,
    ]


def caption_blocks(rows: list[Row], height: int) -> list[list[Row]]:
    """Blocks of adjacent caption rows (the lines of one caption): those that read like
    words first, then those seen most often (blocks at the top of a frame ``height`` tall
    count TOP_BLOCK_HANDICAP times less)."""
    caption_rows = sorted((r for r in rows if r.is_caption), key=lambda r: r.centre_y)
    blocks: list[list[Row]] = []
    for row in caption_rows:
        if blocks and row.centre_y - blocks[-1][-1].centre_y <= 2.0 * max(
                row.line_height, blocks[-1][-1].line_height):
            blocks[-1].append(row)
        else:
            blocks.append([row])

    def weight(block: list[Row]) -> float:
        seen = sum(r.occurrences for r in block)
        return seen / TOP_BLOCK_HANDICAP if anchor_of(_block_centre(block), height) == "top" \
            else seen

    return sorted(blocks, key=lambda block: (not any(r.labelled_caption for r in block),
                                             not reads_like_words(block), -weight(block)))


def apply_human_labels(rows: list[Row], human: Mapping[tuple[int, int], str]) -> None:
    """People's labels decide over rules and classifier: a row most of whose labelled boxes
    a person marked caption is a caption row (and its block comes first); a row without
    caption labels, at least half of whose boxes a person marked noise, is not (one noise
    label, say on a misread box, does not undo a caption row)."""
    for row in rows:
        labels = [human[b.key] for b in row.boxes if b.key in human]
        captions = labels.count("caption")
        if captions and captions * 2 >= len(labels):
            row.is_caption, row.labelled_caption = True, True
            row.caption_score = max(row.caption_score, 1.0)
            row.reason = f"a person labelled {captions} of its boxes caption"
        elif labels and not captions and len(labels) * 2 >= len(row.boxes):
            row.is_caption = False
            row.reason = f"a person labelled {len(labels)} of its boxes noise"


def reads_like_words(block: list[Row]) -> bool:
    """Whether no row of ``block`` is more than WORDLIKE_MAX_DIGIT_SHARE digits."""
    return max(row.digit_share for row in block) <= WORDLIKE_MAX_DIGIT_SHARE


def _block_centre(block: list[Row]) -> float:
    boxes = [b for row in block for b in row.boxes]
    return (min(b.y for b in boxes) + max(b.y + b.height for b in boxes)) / 2


def anchor_of(centre_y: float, height: int) -> str:
    """'top', 'middle' or 'bottom': where text centred at ``centre_y`` sits on the frame."""
    if abs(centre_y - height / 2) <= MIDDLE_SHARE * height:
        return "middle"
    return "bottom" if centre_y > height / 2 else "top"


_WHERE = {"top": "at the top", "middle": "in the middle", "bottom": "at the bottom"}


def outside_the_band(blocks: list[list[Row]], band: Band, height: int) -> list[str]:
    """A warning for each other block of caption rows that the band leaves out: vabatch
    keeps one band per video (the data contract), so captions there are not extracted."""
    warnings = []
    for block in blocks:
        if not reads_like_words(block):
            continue
        boxes = [b for row in block for b in row.boxes if not band.contains(b)]
        if not boxes:
            continue
        top = min(b.y for b in boxes)
        bottom = max(b.y + b.height for b in boxes)
        frames = len({b.frame_index for b in boxes})
        where = anchor_of((top + bottom) / 2, height)
        warnings.append(
            f"caption-like text also {_WHERE[where]} (y {top}-{bottom}, in {frames} sampled "
            "frames) is outside the band: its captions are not extracted (one caption band "
            f"per video; if your captions are there: vabatch layout VIDEO --at {where})")
    return warnings


def band_for(block: list[Row], rows: list[Row], width: int, height: int) -> tuple[Band, str]:
    """The band around a block of caption rows, padded, with headroom for one more line."""
    boxes = [b for row in block for b in row.boxes]
    line_height = float(np.median([b.height for b in boxes]))
    # A box far taller than the lines (the detector's box around a patch of noise that
    # happens to be centred on a caption row) says nothing about where captions are.
    boxes = [b for b in boxes if b.height <= MAX_BOX_LINES * line_height]
    pad = math.ceil(BAND_PADDING_LINES * line_height)
    top = min(b.y for b in boxes) - pad
    bottom = max(b.y + b.height for b in boxes) + pad
    left = min(b.x for b in boxes) - pad
    right = max(b.x + b.width for b in boxes) + pad
    centre = (top + bottom) / 2
    anchor = anchor_of(centre, height)
    # Keep room for one more line than was seen, on the side the captions grow to: bottom
    # captions grow upwards, top ones downwards, centred ones half a line each way. The
    # headroom stops short of any noise row.
    headroom = math.ceil(EXTRA_LINE_HEADROOM * line_height)
    noise = [b for r in rows if r not in block for b in r.boxes]
    up = {"bottom": headroom, "top": 0, "middle": math.ceil(headroom / 2)}[anchor]
    down = {"bottom": 0, "top": headroom, "middle": math.ceil(headroom / 2)}[anchor]
    if up:
        limit = max([b.y + b.height for b in noise if b.y + b.height <= top] + [0])
        top = max(top - up, limit)
    if down:
        limit = min([b.y for b in noise if b.y >= bottom] + [height])
        bottom = min(bottom + down, limit)
    # Caption lines vary in length: widen the band to the frame's edges, stopping short of
    # any other text that stays beside it (a logo, a clock; a sign moving through the row
    # does not narrow the band: one look's band shrank to a third of the frame that way).
    staying = [b for r in rows if r not in block and r.alignment <= MAX_ALIGNMENT_SPREAD
               for b in r.boxes]
    beside = [b for b in staying if b.y < bottom and b.y + b.height > top]
    left = max([b.x + b.width for b in beside if b.x + b.width <= left] + [0])
    right = min([b.x for b in beside if b.x >= right] + [width])
    band = Band(max(0, left), max(0, top), min(width, right), min(height, bottom))
    return band, anchor


def analyse_layout(
    boxes: Sequence[Box],
    frame_count: int,
    width: int,
    height: int,
    classifier: Callable[[list[list[float]]], np.ndarray] | None = None,
    method: str = "rules",
    anchor: str | None = None,
    human: Mapping[tuple[int, int], str] | None = None,
) -> LayoutResult:
    """Find the caption band and label every box ``caption`` or ``noise``.

    ``frame_count`` is the number of frames OCR looked at (frames without text count).
    ``classifier`` maps feature rows to caption probabilities; without it, rules decide.
    ``anchor`` ('top', 'middle', 'bottom'), a person's choice: the band goes to the caption
    rows there, wherever else caption-like text is seen more often. ``human``: people's
    labels by (frame_index, box_index); they decide over rules and classifier
    (``apply_human_labels``): captions people labelled always get a band.
    """
    rows = group_rows(boxes, frame_count)
    describe_rows(rows, frame_count, width)
    judge_rows_by_rules(rows)
    adopt_companion_lines(rows)
    box_probability: dict[tuple[int, int], float] = {}
    if classifier is not None and boxes:
        row_of = {b.key: row for row in rows for b in row.boxes}
        ordered = list(boxes)
        probabilities = classifier([box_features(b, row_of[b.key], width, height)
                                    for b in ordered])
        box_probability = {b.key: float(p) for b, p in zip(ordered, probabilities, strict=True)}
        for row in rows:
            row.caption_score = float(np.mean([box_probability[b.key] for b in row.boxes]))
            row.is_caption = row.caption_score >= 0.5 and row.occurrences >= MIN_ROW_OCCURRENCES
            row.reason = f"classifier p={row.caption_score:.2f}"
    if human:
        apply_human_labels(rows, human)
    blocks = caption_blocks(rows, height)
    if anchor is not None:  # a person's choice: only the rows there may have the band
        blocks = [b for b in blocks if anchor_of(_block_centre(b), height) == anchor]
    block = blocks[0] if blocks else []
    result = LayoutResult(None, None, 0.0, method, rows=rows)
    if not block:
        result.message = ("no captions found: no row of text recurs aligned with changing text"
                          + (f" at the {anchor} of the frame" if anchor else ""))
    else:
        result.band, result.anchor = band_for(block, rows, width, height)
        seen = sum(r.occurrences for r in block)
        result.confidence = round(float(np.mean([r.caption_score for r in block]))
                                  * min(1.0, seen / 4), 3)
        result.message = (f"caption band at the {result.anchor}, {len(block)} line(s), "
                          f"seen in {max(r.occurrences for r in block)} frames")
        if anchor is None:  # a person who chose the place knows what is left out
            result.warnings = outside_the_band(blocks[1:], result.band, height)
    in_block = {b.key for row in block for b in row.boxes}
    for row in rows:
        for box in row.boxes:
            is_caption = box.key in in_block and result.band is not None \
                and result.band.contains(box)
            score = box_probability.get(box.key, row.caption_score)
            label = "caption" if is_caption else "noise"
            confidence = score if is_caption else 1 - score
            result.labels[box.key] = (label, round(float(confidence), 3))
    return result
