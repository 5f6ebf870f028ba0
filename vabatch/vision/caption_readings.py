"""Readings of band strips and the captions they make: pure functions, no I/O.

The captions stage reads the strips of each span of one band state (``Reading``), turns
each span's readings into a candidate (``Caption``), then joins the candidates that are
one caption the image evidence split (``merge``): the same text, a misread strip between
two equal readings, a fragment a busy background cut off; and keeps apart the same text
shown twice after a real blank. The rules' thresholds come from the stage's options
(``MergeRules``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Protocol

import numpy as np

from vabatch.vision.band_signature import mask_iou
from vabatch.vision.caption_spans import Span, grow
from vabatch.vision.layout_analysis import normalise_text

Line = tuple[int, int, int, int]  # top, height, left, width (strip pixels)


class MergeRules(Protocol):
    """The thresholds ``merge`` reads (the captions stage's options have them)."""

    merge_similarity: float
    max_merge_gap_frames: int
    min_blank_frames: int
    blank_keep_share: float
    fragment_frames: int
    merge_core_iou: float


@dataclass(frozen=True)
class Reading:
    """What OCR read on one band strip: its lines joined top to bottom, their mean
    confidence, and each line's box ``(top, height, left, width)`` in strip pixels."""

    text: str
    confidence: float
    lines: tuple[Line, ...]
    stray: tuple[tuple[str, str], ...] = ()  # text left out of it: (text, reason)
    frame_index: int = -1  # the strip's frame


@dataclass
class Caption:
    start_frame_index: int
    end_frame_index: int
    text: str
    confidence: float
    span: Span | None = None  # the image span it was read in
    readings: list[Reading] = field(default_factory=list)  # every reading of its strips
    agreement: float = 1.0  # share of its readings that gave its text (set once read)


def agreement(caption: Caption) -> float:
    """Share of the caption's readings that gave its text (1.0 when all agree)."""
    if not caption.readings:
        return 1.0
    own = normalise_text(caption.text)
    return sum(normalise_text(r.text) == own for r in caption.readings) / len(caption.readings)


def same_reading(first, second) -> bool:
    first = first if first is not None and first.text else None
    second = second if second is not None and second.text else None
    if first is None or second is None:
        return first is second
    return normalise_text(first.text) == normalise_text(second.text)


def lines_of(caption: Caption) -> tuple[Line, ...]:
    """The lines of the reading that gave the caption its text (else of its first)."""
    own = normalise_text(caption.text)
    for reading in caption.readings:
        if normalise_text(reading.text) == own:
            return reading.lines
    return caption.readings[0].lines if caption.readings else ()


def similar(first: Reading | None, second: Reading | None, threshold: float) -> bool:
    """Whether two readings (None: nothing read) read about the same text."""
    if first is None or second is None or not first.text or not second.text:
        return same_reading(first, second)
    return _similar(first.text, second.text, threshold)


def _similar(first: str, second: str, threshold: float) -> bool:
    a, b = normalise_text(first), normalise_text(second)
    return a == b or (bool(a) and bool(b) and SequenceMatcher(None, a, b).ratio() >= threshold)


def merge(readings: list[Caption], options: MergeRules,
          masks: Sequence[np.ndarray], scale: int = 4) -> list[Caption]:
    """Join consecutive readings of one caption that the image evidence split.

    The same text (normalised) is one caption. Texts that are only similar (OCR read the
    same caption a little differently) are one caption when their spans' stable strokes
    match too; within one span they were split because they read differently, so they stay
    apart. The same text after a real blank (its strokes gone for ``min_blank_frames`` or
    more) is shown twice: two captions. Touching readings where one has lines of the other
    missing while their strokes were on screen (``scale``: strip pixels per mask cell) are
    one caption with the fuller text: detection missed a line over a busy background.
    """
    readings = _absorb_misreadings(_absorb_fragments(readings, options), options)
    merged: list[Caption] = []
    for caption in readings:
        previous = merged[-1] if merged else None
        if previous is None:
            fuller = None
        elif caption.start_frame_index == previous.end_frame_index:
            fuller = _with_missed_lines(previous, caption, masks, scale) \
                or _with_missed_lines(caption, previous, masks, scale)
        else:
            fuller = None
        if fuller is not None or (
                previous is not None and caption.start_frame_index - previous.end_frame_index
                <= options.max_merge_gap_frames and _one_caption(previous, caption, options)
                and not _blank_between(previous, caption, masks, options)):
            previous.end_frame_index = caption.end_frame_index
            if fuller is not None:
                previous.text, previous.confidence = fuller.text, fuller.confidence
            elif caption.confidence > previous.confidence:
                previous.text, previous.confidence = caption.text, caption.confidence
            previous.span = caption.span
            previous.readings = previous.readings + caption.readings
        else:
            merged.append(Caption(caption.start_frame_index, caption.end_frame_index,
                                  caption.text, caption.confidence, caption.span,
                                  list(caption.readings)))
    return merged


def _absorb_misreadings(readings: list[Caption], options: MergeRules) -> list[Caption]:
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
                and (_similar(middle.text, before.text, options.merge_similarity)
                     or _one_letter_apart(middle.text, before.text))):
            fixed[index] = Caption(middle.start_frame_index, middle.end_frame_index,
                                   before.text, before.confidence, middle.span,
                                   middle.readings)
    return fixed


def _one_letter_apart(first: str, second: str) -> bool:
    """Texts of 3+ letters that differ in one letter (for short CJK texts the similarity
    ratio drops below any useful threshold with one wrong character)."""
    a, b = normalise_text(first), normalise_text(second)
    if min(len(a), len(b)) < 3 or abs(len(a) - len(b)) > 1:
        return False
    matcher = SequenceMatcher(None, a, b)
    return max(len(a), len(b)) - sum(block.size for block in matcher.get_matching_blocks()) <= 1


def _absorb_fragments(readings: list[Caption], options: MergeRules) -> list[Caption]:
    """A reading of a few frames that touches a neighbour and reads as part of it (its
    text inside the neighbour's, or nearly the same) is that caption read while a busy
    background hid some of its strokes: it joins that neighbour (the longer one, when
    both qualify). Real captions last longer than ``fragment_frames``."""
    fixed = [Caption(c.start_frame_index, c.end_frame_index, c.text, c.confidence, c.span,
                     list(c.readings)) for c in readings]
    changed = True
    while changed:
        changed = False
        for index, piece in enumerate(fixed):
            if piece.end_frame_index - piece.start_frame_index >= options.fragment_frames:
                continue
            hosts = [n for n in (index - 1, index + 1) if 0 <= n < len(fixed)
                     and _touching(fixed[n], piece) and _part_of(piece.text, fixed[n].text,
                                                                  options)]
            if not hosts:
                continue
            host = fixed[max(hosts, key=lambda n: (fixed[n].end_frame_index
                                                   - fixed[n].start_frame_index, -n))]
            host.start_frame_index = min(host.start_frame_index, piece.start_frame_index)
            host.end_frame_index = max(host.end_frame_index, piece.end_frame_index)
            host.readings = host.readings + piece.readings
            del fixed[index]
            changed = True
            break
    return fixed


def _touching(first: Caption, second: Caption) -> bool:
    return (first.end_frame_index == second.start_frame_index
            or second.end_frame_index == first.start_frame_index)


def _part_of(piece: str, whole: str, options: MergeRules) -> bool:
    a, b = normalise_text(piece), normalise_text(whole)
    return bool(a) and (a in b or _similar(piece, whole, options.merge_similarity)
                        or _one_letter_apart(piece, whole))


def _blank_between(first: Caption, second: Caption, masks, options: MergeRules) -> bool:
    """Whether the caption's strokes are gone from every frame between two readings."""
    gap = range(first.end_frame_index, second.start_frame_index)
    if len(gap) < options.min_blank_frames or first.span is None:
        return False
    strokes = first.span.core | (second.span.core if second.span is not None else False)
    ink = int(np.count_nonzero(strokes))
    if ink == 0:
        return False
    return all(np.count_nonzero(strokes & grow(masks[t])) < options.blank_keep_share * ink
               for t in gap)


def _one_caption(first: Caption, second: Caption, options: MergeRules) -> bool:
    if normalise_text(first.text) == normalise_text(second.text):
        return True
    if first.span is second.span or first.span is None or second.span is None:
        return False
    if not _similar(first.text, second.text, options.merge_similarity):
        return False
    if mask_iou(first.span.core, second.span.core) >= options.merge_core_iou:
        return True
    # The background changed under the caption (a hard cut, a busy texture), so the two
    # spans' stable cells differ; the glyphs stayed when each span's strokes are still in
    # the other's. A changed word is not a misreading: the texts must be one substitution
    # or so apart, not one a longer version of the other (words revealed one by one).
    return (_misread_pair(first.text, second.text)
            and _contained(first.span.core, second.span.core) >= options.merge_core_iou
            and _contained(second.span.core, first.span.core) >= options.merge_core_iou)


def _misread_pair(first: str, second: str) -> bool:
    """Texts of about the same length, neither the other with something added."""
    a, b = normalise_text(first), normalise_text(second)
    shorter, longer = sorted((a, b), key=len)
    return (len(longer) - len(shorter) <= 2 and not longer.startswith(shorter)
            and not longer.endswith(shorter))


def _contained(part: np.ndarray, whole: np.ndarray) -> float:
    """Share of ``part``'s cells that ``whole`` has (one cell of jitter allowed)."""
    ink = int(np.count_nonzero(part))
    return 1.0 if ink == 0 else int(np.count_nonzero(part & grow(whole))) / ink


def _with_missed_lines(short: Caption, full: Caption, masks: Sequence[np.ndarray],
                       scale: int) -> Caption | None:
    """``full`` when ``short`` reads as ``full`` with lines missing whose strokes were in
    ``short``'s strips too (at least half as much ink in those rows), else None."""
    short_lines = [normalise_text(t) for t in short.text.split("\n") if normalise_text(t)]
    full_lines = [normalise_text(t) for t in full.text.split("\n")]
    if not short_lines or len(short_lines) >= len(full_lines):
        return None
    unmatched = list(range(len(full_lines)))
    for line in short_lines:
        match = next((n for n in unmatched if full_lines[n] == line
                      or _one_letter_apart(full_lines[n], line)), None)
        if match is None:
            return None
        unmatched.remove(match)
    boxes = lines_of(full)
    full_frames = [r.frame_index for r in full.readings if r.frame_index >= 0
                   and normalise_text(r.text) == normalise_text(full.text)]
    short_frames = [r.frame_index for r in short.readings if r.frame_index >= 0]
    if len(boxes) != len(full_lines) or not full_frames or not short_frames:
        return None
    for number in unmatched:
        top, height = boxes[number][:2]
        rows = slice(max(0, top // scale), (top + height) // scale + 1)
        there = int(np.count_nonzero(masks[full_frames[0]][rows]))
        kept = min(int(np.count_nonzero(masks[f][rows])) for f in short_frames)
        if there == 0 or kept < 0.5 * there:
            return None
    return full
