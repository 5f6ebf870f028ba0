"""Which read candidates are captions: pure functions, no I/O.

OCR reads text wherever the band shows some: a sign in the scene, a texture that looks
like letters for a few frames, a logo that drifts into the band. A candidate is kept as a
caption only when it looks like *this video's* captions:

1. it has letters or digits (a lone "+" or "--" read from scene detail is not a caption);
2. its lines are as tall as the video's sure captions (their median line height, within
   ``height_tolerance``) and one of them lies in a row where those captions are;
3. a short text (a few letters, or one or two CJK characters) read with low confidence
   or for a very short time is not trusted: real one-word captions are read with high
   confidence and stay for long enough to be read.

Rule 2 compares with a ``Reference``: the caption lines the layout stage found in the
video's sampled frames (boxes labelled ``caption``, by the model or by a person), or, when
there are too few, the candidates read with high confidence, with enough text and for long
enough (the video's *sure* captions). With neither, rule 2 does not apply (nothing to
compare with). Every rejected candidate gets a reason in words, stored with it (nothing is
dropped silently).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from vabatch.vision.text_cleanup import has_cjk

Line = tuple[int, int, int, int]  # top, height, left, width (strip pixels)


@dataclass(frozen=True)
class FilterRules:
    """Thresholds of the judgement (docs/captions.md gives the measurements)."""

    sure_confidence: float = 0.9  # a sure caption: read at least this confidently,
    sure_chars: int = 6  # with at least this many letters (CJK characters count 2),
    sure_frames: int = 15  # for at least this many frames
    min_sure: int = 2  # fewer sure captions than this: no geometry to compare with
    height_tolerance: float = 0.5  # line height within this share of the sure captions'
    # ... and taller by at most this share: the detector's box around a short word is
    # taller than around a line ("Stop!" 103 px where the video's lines are 62).
    taller_tolerance: float = 0.8
    row_margin: float = 0.6  # line centres within this many line heights of their rows
    stack_gap: float = 0.8  # a line this close (in line heights) to a caption line is one
    static_overlap: float = 0.5  # a line on this much of a noise box, with its text, is it
    static_frames: int = 3  # ... when the layout saw that text there in this many frames
    sign_frames: int = 4  # text the layout saw as noise anywhere in this many frames: a sign
    short_chars: int = 4  # a text this short (letters; CJK characters count 2) ...
    short_min_confidence: float = 0.85  # ... needs this confidence
    short_min_frames: int = 6  # ... and this many frames


@dataclass(frozen=True)
class Reference:
    """Where this video's caption lines are: their typical height and the band rows (line
    centres, strip pixels) they occupy."""

    height: float
    rows: tuple[float, ...]
    # Text the layout labelled noise (a sign, a logo): (normalised text, box), one per
    # sampled frame it was seen in.
    noise: tuple[tuple[str, Line], ...] = ()
    # Where caption lines sit across the band: the median of their centres and of their
    # left edges (centred captions keep the first, left-aligned ones the second).
    centre_x: float | None = None
    left_x: float | None = None

    @classmethod
    def of_lines(cls, lines: Sequence[Line], minimum: int = 2,
                 noise: Sequence[tuple[str, Line]] = ()) -> Reference | None:
        """The reference given by these caption lines, or None with fewer than ``minimum``."""
        if len(lines) < minimum:
            return None
        return cls(float(statistics.median(line[1] for line in lines)),
                   tuple(sorted({line[0] + line[1] / 2 for line in lines})),
                   tuple(sorted(noise)),
                   float(statistics.median(line[2] + line[3] / 2 for line in lines)),
                   float(statistics.median(line[2] for line in lines)))


@dataclass(frozen=True)
class Candidate:
    """What the judgement needs of one read candidate."""

    text: str
    confidence: float
    frames: int
    lines: tuple[Line, ...]


def letter_weight(text: str) -> int:
    """Letters and digits in ``text``, a CJK character counting as two."""
    return sum((2 if has_cjk(char) else 1) for char in text if char.isalnum())


def judge(candidates: Sequence[Candidate], rules: FilterRules = FilterRules(),
          reference: Reference | None = None) -> list[str | None]:
    """For each candidate, None (a caption) or the reason it is not one. Without a
    ``reference``, the sure candidates give one."""
    if reference is None:
        sure = [c for c in candidates if _is_sure(c, rules)]
        if len(sure) >= rules.min_sure:
            reference = Reference.of_lines([line for c in sure for line in c.lines])
    return [_reason(c, rules, reference) for c in candidates]


def _is_sure(candidate: Candidate, rules: FilterRules) -> bool:
    return (candidate.confidence >= rules.sure_confidence
            and letter_weight(candidate.text) >= rules.sure_chars
            and candidate.frames >= rules.sure_frames and bool(candidate.lines))


def _reason(candidate: Candidate, rules: FilterRules, reference: Reference | None
            ) -> str | None:
    weight = letter_weight(candidate.text)
    if weight == 0:
        return f"no letters or digits in {candidate.text!r}"
    if reads_as_counter(candidate.text):
        return f"{candidate.text!r} reads as a clock, counter or timecode"
    if reference is not None and candidate.lines:
        height, rows = reference.height, reference.rows
        own = statistics.median(line[1] for line in candidate.lines)
        if not (1 - rules.height_tolerance) * height <= own \
                <= (1 + rules.taller_tolerance) * height:
            return (f"text {own:.0f} px high where this video's captions are "
                    f"{height:.0f} px")
        reach = rules.row_margin * height
        centres = [top + line_height / 2 for top, line_height, _, _ in candidate.lines]
        if not any(abs(centre - row) <= reach for centre in centres for row in rows):
            return (f"text at row {centres[0]:.0f} of the band, where this video's "
                    "captions never are")
    if weight <= rules.short_chars:
        if candidate.confidence < rules.short_min_confidence:
            return (f"short text read with confidence {candidate.confidence:.2f} "
                    f"(< {rules.short_min_confidence})")
        if candidate.frames < rules.short_min_frames:
            return f"short text shown for {candidate.frames} frames only"
    return None


def stray_lines(lines: Sequence[Line], reference: Reference | None,
                rules: FilterRules = FilterRules(),
                texts: Sequence[str] | None = None) -> dict[int, str]:
    """Lines of a reading that are no part of the caption: away from every caption row
    and not stacked on a line that is (a sign above the caption, read with it). A caption
    wrapped onto more lines than the layout saw keeps its extra lines, as they sit right
    above or below its others. A line that reads as a clock, counter or timecode
    (``texts``, ``reads_as_counter``) is no part of a caption wherever it is. None when no
    other line is in a caption row (the candidate is then judged whole). Returns line
    index -> the reason it is no part of the caption."""
    if reference is None or not lines:
        return {}
    counters = {number for number, text in enumerate(texts or ()) if reads_as_counter(text)}
    if len(counters) == len(lines):
        return {}  # a counter alone: the candidate is judged whole (and rejected as one)
    reach = rules.row_margin * reference.height
    kept = {number for number, (top, height, _, _) in enumerate(lines)
            if number not in counters
            and any(abs(top + height / 2 - row) <= reach for row in reference.rows)}
    if not kept:
        return {}
    grown = True
    while grown:
        grown = False
        for number, (top, height, _, _) in enumerate(lines):
            if number in kept or number in counters:
                continue
            if any(_edge_gap((top, height), lines[other][:2]) <= rules.stack_gap
                   * reference.height for other in kept):
                kept.add(number)
                grown = True
    return {number: COUNTER_REASON if number in counters else
            f"a line at row {lines[number][0] + lines[number][1] / 2:.0f} of the band, away "
            "from this video's caption rows" for number in range(len(lines))
            if number not in kept}


BESIDE_GAP_LINES = 1.0  # boxes of one line further apart than this (line heights)...
BESIDE_REASON = "text beside the caption on its line, away from where this video's captions sit"


def beside_the_caption(boxes: Sequence[Line], reference: Reference | None) -> set[int]:
    """Boxes of one line (left to right) that are another text beside the caption: the line
    falls into pieces at gaps wider than BESIDE_GAP_LINES line heights (words of a caption
    are closer), and only the piece that sits where this video's captions sit (its centre
    nearest their centre, or its left edge nearest their left edge) is the caption. A sign
    sliding along the caption row was read as part of it ("EXIT That knew,")."""
    if reference is None or reference.centre_x is None or len(boxes) < 2:
        return set()
    pieces: list[list[int]] = [[0]]
    for number in range(1, len(boxes)):
        previous = boxes[pieces[-1][-1]]
        gap = boxes[number][2] - (previous[2] + previous[3])
        height = max(boxes[number][1], previous[1])
        if gap > BESIDE_GAP_LINES * height:
            pieces.append([number])
        else:
            pieces[-1].append(number)
    if len(pieces) == 1:
        return set()

    def distance(piece: list[int]) -> float:
        left = boxes[piece[0]][2]
        right = max(boxes[n][2] + boxes[n][3] for n in piece)
        return min(abs((left + right) / 2 - reference.centre_x),
                   abs(left - (reference.left_x or 0.0)))

    caption = min(pieces, key=distance)
    return {number for piece in pieces if piece is not caption for number in piece}


COUNTER_REASON = "a line that reads as a clock, counter or timecode"
COUNTER_DIGIT_SHARE = 0.6  # a clock or timecode is mostly digits (of letters and digits)
_CLOCK = re.compile(r"\d[:.]\d\d")  # ... and shows a time: "12:45", "00:00:04.571", "3.05"


def reads_as_counter(text: str) -> bool:
    """Whether ``text`` reads as a clock, counter or timecode ("00:00:04.571", "12:45"), or
    is a number alone of 3+ digits (a running counter: "201", "203", ...); a year or a
    number in a caption with words ("In 1984.", "42 days") does not."""
    characters = [char for char in text if char.isalnum()]
    digits = sum(char.isdigit() for char in characters)
    if digits >= 3 and digits == len(characters):
        return True
    return bool(_CLOCK.search(text)) and digits >= COUNTER_DIGIT_SHARE * len(characters)


STATIC_REASON = "static text the layout labelled noise (a sign or a logo), where it saw it"


def is_static(text: str, box: Line, reference: Reference | None,
              rules: FilterRules = FilterRules()) -> bool:
    """Whether an OCR box shows static text: text the layout labelled noise where it saw
    it, in ``static_frames`` sampled frames or more (a caption the layout misjudged once
    is not static), or anywhere in ``sign_frames`` or more (a moving sign). Checked box by
    box, before boxes are joined into lines: a sign may share a row with the caption."""
    if reference is None:
        return False
    own = "".join(char for char in text.lower() if char.isalnum())
    if not own:
        return False
    seen = sum(1 for noise_text, noise_box in reference.noise
               if _overlap(box, noise_box) >= rules.static_overlap and (
                   own == noise_text or (min(len(own), len(noise_text)) >= 3
                                         and (own in noise_text or noise_text in own))))
    if seen >= rules.static_frames:
        return True
    # A sign moving through the band: the same text the layout saw as noise in many sampled
    # frames, wherever it is now ("出口" sliding across a caption row, dev seed 2).
    anywhere = sum(1 for noise_text, _ in reference.noise if noise_text == own)
    return letter_weight(own) >= 3 and anywhere >= rules.sign_frames


def _edge_gap(first: tuple[int, int], second: tuple[int, int]) -> float:
    """Rows between two lines (0 when they touch or overlap)."""
    (top, height), (other_top, other_height) = first, second
    return max(0, max(top, other_top) - min(top + height, other_top + other_height))


def _overlap(first: Line, second: Line) -> float:
    """Intersection over the smaller of two boxes' areas."""
    top = max(first[0], second[0])
    bottom = min(first[0] + first[1], second[0] + second[1])
    left = max(first[2], second[2])
    right = min(first[2] + first[3], second[2] + second[3])
    if bottom <= top or right <= left:
        return 0.0
    smaller = min(first[1] * first[3], second[1] * second[3])
    return (bottom - top) * (right - left) / max(1, smaller)
