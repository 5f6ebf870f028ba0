"""One band strip read into a ``Reading``: what OCR finds, without what is no caption.

The engine's lines are judged with ``caption_filter``: static text the layout saw as a
sign or logo where it is now, text beside the caption on its line, lines away from this
video's caption rows. Those are kept apart in ``Reading.stray`` with their reason (nothing
is dropped silently); the rest, top to bottom, is the reading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from vabatch.vision.caption_filter import (
    BESIDE_REASON,
    STATIC_REASON,
    FilterRules,
    Reference,
    beside_the_caption,
    is_static,
    stray_lines,
)
from vabatch.vision.caption_readings import Reading
from vabatch.vision.text_cleanup import clean_line

if TYPE_CHECKING:
    import numpy as np


class OcrBox(Protocol):
    """What is used of a line the engine found (``vabatch.ocr_engines.OcrBox``)."""

    text: str
    confidence: float

    def bounds(self) -> tuple[int, int, int, int]: ...


class OcrEngine(Protocol):
    """What is used of an engine (``vabatch.ocr_engines.OcrEngine``)."""

    def read(self, image_bgr: np.ndarray, detection_side: int | None = None
             ) -> list[OcrBox]: ...


def read_strip(engine: OcrEngine, image: np.ndarray, frame_index: int,
               reference: Reference | None, rules: FilterRules,
               detection_side: int | None = None) -> Reading | None:
    """What OCR reads on the strip ``image`` (of frame ``frame_index``), lines top to
    bottom; None if no text. Lines that are no part of a caption are kept apart."""
    found = engine.read(image, detection_side)
    if not found:
        return None
    static = [box for box in found if is_static(box.text, line_box([box]), reference, rules)]
    lines = lines_of_boxes([box for box in found if box not in static])
    beside = [line[n] for line in lines
              for n in beside_the_caption([line_box([box]) for box in line], reference)]
    lines = [kept for kept in ([box for box in line if box not in beside] for line in lines)
             if kept]
    boxes = [line_box(line) for line in lines]
    texts = [clean_line(" ".join(box.text for box in line)) for line in lines]
    stray = stray_lines(boxes, reference, rules, texts)
    left_out = tuple((clean_line(box.text), STATIC_REASON) for box in static) + tuple(
        (clean_line(box.text), BESIDE_REASON) for box in beside) + tuple(
        (texts[number], reason) for number, reason in sorted(stray.items()))
    confidences = [box.confidence for number, line in enumerate(lines) if number not in stray
                   for box in line]
    if not confidences:  # static text only: no caption here, but not dropped silently
        return Reading("", 0.0, (), left_out, frame_index)
    return Reading("\n".join(t for n, t in enumerate(texts) if n not in stray),
                   sum(confidences) / len(confidences),
                   tuple(b for n, b in enumerate(boxes) if n not in stray), left_out,
                   frame_index)


def line_box(line: list[OcrBox]) -> tuple[int, int, int, int]:
    """(top, height, left, width) around the boxes of one line."""
    bounds = [box.bounds() for box in line]
    top = min(y for _, y, _, _ in bounds)
    left = min(x for x, _, _, _ in bounds)
    bottom = max(y + h for _, y, _, h in bounds)
    right = max(x + w for x, _, w, _ in bounds)
    return top, bottom - top, left, right - left


def lines_of_boxes(boxes: list[OcrBox]) -> list[list[OcrBox]]:
    """Group boxes into lines (overlapping vertically), left to right within a line."""
    lines: list[list[OcrBox]] = []
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
