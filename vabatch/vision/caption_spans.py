"""Caption boundaries from band signatures: pure functions, no I/O.

A span is a run of frames whose band shows the same caption state. Going frame by frame,
the span keeps a *core*: the mask cells set in every frame so far (allowing one cell of
jitter), i.e. the caption's strokes, since a moving background does not stay put. A new
span starts at frame t when the frame has lost much of the core (the caption changed or
went), or when new text has appeared that stays for the next frame too and that the core
does not explain (a caption appeared over an empty band, or a second line was added).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

_JITTER = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class SpanRules:
    """Thresholds of the segmentation (docs/captions.md gives the measurements)."""

    min_ink_cells: int = 8  # a core smaller than this is an empty band
    keep_share: float = 0.6  # share of the core a frame must still show
    new_ink_share: float = 0.5  # new stable cells, relative to the core, that start a span


@dataclass
class Span:
    """Frames ``start <= n < end`` with one band state; ``core``: its stable cells."""

    start: int
    end: int
    core: np.ndarray

    @property
    def core_ink(self) -> int:
        return int(np.count_nonzero(self.core))

    @property
    def length(self) -> int:
        return self.end - self.start


def grow(mask: np.ndarray) -> np.ndarray:
    """The mask with one cell of jitter allowed in every direction."""
    return cv2.dilate(mask.astype(np.uint8), _JITTER).astype(bool)


class SpanTracker:
    """The segmentation, one mask at a time (crop runs it while decoding, so that it can
    store a strip in every span the captions stage will find).

    ``push(mask)`` returns the index of the frame that starts a new span, once that is
    known: the decision for frame t needs frame t + 1, so it comes one push later.
    ``finish()`` decides the last frame. With ``keep_spans``, the spans so far are in
    ``spans`` (each holds its core; crop only needs the boundaries and keeps none).
    """

    def __init__(self, rules: SpanRules = SpanRules(), keep_spans: bool = True) -> None:
        self.rules = rules
        self.keep_spans = keep_spans
        self.spans: list[Span] = []
        self._pending: tuple[int, np.ndarray, np.ndarray] | None = None  # t, mask, grown
        self._start = 0
        self._core: np.ndarray | None = None
        self._count = 0

    def push(self, mask: np.ndarray) -> int | None:
        grown = grow(mask)
        started = None
        if self._pending is not None:
            started = self._decide(grown)
        self._pending = (self._count, mask, grown)
        self._count += 1
        return started

    def finish(self) -> int | None:
        """Decide the last frame; the spans are complete afterwards."""
        if self._pending is None:
            return None
        started = self._decide(self._pending[2])
        self._pending = None
        self._close(self._count)
        return started

    def _close(self, end: int) -> None:
        if self.keep_spans:
            self.spans.append(Span(self._start, end, self._core))

    def _decide(self, next_grown: np.ndarray) -> int | None:
        t, mask, grown = self._pending
        stable = mask & next_grown  # set in frame t and still (nearly) in frame t + 1
        if t == 0:
            self._core = stable
            return None
        rules, core = self.rules, self._core
        core_ink = int(np.count_nonzero(core))
        boundary = False
        if core_ink >= rules.min_ink_cells:
            kept = np.count_nonzero(core & grown) / core_ink
            boundary = kept < rules.keep_share
        if not boundary:
            new = stable & ~grow(core)
            boundary = np.count_nonzero(new) >= max(rules.min_ink_cells,
                                                    rules.new_ink_share * core_ink)
        if boundary:
            self._close(t)
            self._start, self._core = t, stable
            return t
        self._core = core & grown
        return None


def segment(masks: Sequence[np.ndarray], rules: SpanRules = SpanRules()) -> list[Span]:
    """Split the frames (one mask per frame, in order) into spans of one band state."""
    if not masks:
        return []
    tracker = SpanTracker(rules)
    for mask in masks:
        tracker.push(mask)
    tracker.finish()
    return _settle_boundaries(tracker.spans, masks)


MAX_BOUNDARY_SHIFT = 2  # frames a boundary may move back


def _settle_boundaries(spans: list[Span], masks: Sequence[np.ndarray]) -> list[Span]:
    """Move each boundary between two spans back while the frame before it looks more like
    the frame after it than like the one before: when one caption replaces another, the
    first frame of the new one still contains much of the old core (the texts overlap) and
    the change is only certain a frame later."""
    from vabatch.vision.band_signature import mask_iou

    for previous, span in zip(spans, spans[1:], strict=False):
        for _ in range(MAX_BOUNDARY_SHIFT):
            frame = span.start - 1
            if frame - 1 <= previous.start:
                break
            if mask_iou(masks[frame], masks[span.start]) <= mask_iou(masks[frame],
                                                                     masks[frame - 1]):
                break
            previous.end = span.start = frame
    return spans


def spans_at(masks: Sequence[np.ndarray], starts: Sequence[int]) -> list[Span]:
    """The spans that begin at ``starts`` (and at frame 0), each with its core as the
    tracker keeps it: the cells set at its first frame and the next, and (nearly) set in
    every later frame of the span. For boundaries a model chose."""
    frames = len(masks)
    bounds = sorted({0, *(s for s in starts if 0 < s < frames)}) + [frames]
    spans = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        core = masks[start].copy()
        for frame in range(start + 1, end):
            core &= grow(masks[frame])
        spans.append(Span(start, end, core))
    return spans
