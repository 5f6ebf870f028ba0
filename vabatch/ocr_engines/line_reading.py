"""What the RapidOCR engines share: detection on a downscaled frame, recognition of each
line cut from the full-resolution frame, and the extra readings of Latin lines.

Two choices make whole frames fast enough:

* Detection runs on the frame scaled down so its long side is ``detection_side`` pixels
  (RapidOCR's default would scale a 1280x720 frame *up*). The detector's cost grows with
  the pixel count (docs/ocr.md has the figures per engine).
* Recognition runs on each line cut from the full-resolution frame, so downscaled
  detection does not cost accuracy on small glyphs.

The text-direction classifier is never used: burned-in captions are never upside down.
An engine says how to detect (``_detect``) and how to recognise one line cut
(``_recognise``); everything else is here.
"""

from __future__ import annotations

from abc import abstractmethod
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from vabatch.errors import VabatchError
from vabatch.ocr_engines import OcrBox, OcrEngine
from vabatch.vision.text_cleanup import has_cjk

DEFAULT_DETECTION_SIDE = 640
DEFAULT_MIN_CONFIDENCE = 0.5
# RapidOCR's own detector post-processing defaults, recorded so a change is noticed.
DETECTOR_SETTINGS = {"thresh": 0.3, "box_thresh": 0.5, "unclip_ratio": 1.6}
MIN_LINE_PIXELS = 2  # a detected box thinner than this holds no readable text


class LineReadingEngine(OcrEngine):
    """Detection on a downscaled frame, recognition on full-resolution lines."""

    package: str  # the distribution that brings the engine (its version is the engine's)
    install: str  # how to install it, for the error that says it is missing

    @property
    def version(self) -> str:
        try:
            return version(self.package)
        except PackageNotFoundError:
            raise VabatchError(f"{self.package} is not installed ({self.install})") from None

    def __init__(
        self,
        detection_side: int = DEFAULT_DETECTION_SIDE,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        threads: int = 1,
        line_padding: float = 0.0,
        second_padding: float | None = None,
        stroke_reading: bool = False,
    ) -> None:
        if detection_side < 32:
            raise VabatchError(f"detection side must be at least 32 pixels, not {detection_side}")
        self.detection_side = int(detection_side)
        self.min_confidence = float(min_confidence)
        # Margin added around each detected line before recognition, as a share of the
        # line's height. The recogniser drops the spaces between English words far less
        # often when the line does not touch the cut's edges (measured in docs/captions.md).
        self.line_padding = max(0.0, float(line_padding))
        # Latin lines are read a second time with this margin; when both readings have the
        # same letters, the one with more spaces wins (the recogniser drops spaces, it
        # hardly ever invents them).
        self.second_padding = None if second_padding is None else max(0.0,
                                                                        float(second_padding))
        # Latin lines are also read from their strokes alone (dark on white, outline and
        # background gone), with the same rule: a thick outline narrows the gaps between
        # words, the strokes alone keep them wide (docs/captions.md).
        self.stroke_reading = bool(stroke_reading)
        # One onnxruntime thread: on 2 cores a second intra-op thread made a 640x352 frame
        # 2.5x slower (0.09 s -> 0.22 s); use the cores with one process per video instead.
        self.threads = max(1, int(threads))

    def reading_parameters(self) -> dict:
        """The settings of ``read`` every engine of this kind records."""
        return {
            "detection_side": self.detection_side,
            "min_confidence": self.min_confidence,
            "direction_classifier": False,
            **DETECTOR_SETTINGS,
            **({"line_padding": self.line_padding} if self.line_padding else {}),
            **({"second_padding": self.second_padding}
               if self.second_padding is not None else {}),
            **({"stroke_reading": True} if self.stroke_reading else {}),
        }

    @abstractmethod
    def _detect(self, image_bgr: np.ndarray) -> list[np.ndarray]:
        """The text quadrilaterals (4x2, image pixels) of an image already downscaled."""

    @abstractmethod
    def _recognise(self, line_bgr: np.ndarray) -> tuple[str, float] | None:
        """The text of one upright line cut and its confidence; None when nothing is read."""

    def detect(self, image_bgr: np.ndarray, side: int | None = None) -> list[np.ndarray]:
        """The text quadrilaterals of a frame, found with its long side scaled down to
        ``side`` (default ``detection_side``), in frame pixels."""
        import cv2

        height, width = image_bgr.shape[:2]
        scale = min(1.0, (side or self.detection_side) / max(height, width))
        small = image_bgr
        if scale < 1.0:
            small = cv2.resize(image_bgr, (max(1, round(width * scale)),
                                           max(1, round(height * scale))),
                               interpolation=cv2.INTER_AREA)
        quads = []
        for quad in self._detect(small):
            points = np.asarray(quad, dtype=np.float32).reshape(4, 2)
            points[:, 0] = np.clip(points[:, 0] * (width / small.shape[1]), 0, width)
            points[:, 1] = np.clip(points[:, 1] * (height / small.shape[0]), 0, height)
            quads.append(points)
        return quads

    def read(self, image_bgr: np.ndarray, detection_side: int | None = None) -> list[OcrBox]:
        """Text lines of one BGR frame, top to bottom, left to right."""
        return self.read_lines(image_bgr, self.detect(image_bgr, detection_side))

    def read_lines(self, image_bgr: np.ndarray, quads: list[np.ndarray]) -> list[OcrBox]:
        """The lines at ``quads`` (frame pixels, in reading order) read from the frame."""
        import cv2

        from vabatch.vision.band_signature import stroke_mask

        boxes: list[OcrBox] = []
        for number, points in enumerate(quads):
            neighbours = quads[:number] + quads[number + 1:]

            def cut(padding: float, points=points, neighbours=neighbours) -> np.ndarray | None:
                grown = _pad_quad(points, padding)
                return _cut_line(image_bgr, _below_the_line_above(grown, points, neighbours))

            line = cut(self.line_padding)
            recognised = self._recognise(line) if line is not None else None
            if recognised is None:
                continue
            text, confidence = recognised[0].strip(), float(recognised[1])
            if _latin(text):
                others = []
                if self.second_padding is not None:
                    others.append(cut(self.second_padding))
                if self.stroke_reading:
                    # Grey, not the brightest channel: lower CER here (docs/captions.md).
                    strokes = stroke_mask(line, by_value=False)
                    others.append(cv2.cvtColor(255 - strokes, cv2.COLOR_GRAY2BGR))
                readings = [text]
                for other in others:
                    again = self._recognise(other) if other is not None else None
                    if again is not None:
                        readings.append(again[0].strip())
                text = best_reading(readings)
            if not text or confidence < self.min_confidence:
                continue
            # Rounded so that tiny float differences (e.g. thread scheduling) do not show.
            corners = tuple((round(float(x), 2), round(float(y), 2)) for x, y in points)
            boxes.append(OcrBox(text, round(confidence, 4), corners))  # type: ignore[arg-type]
        return boxes


def best_reading(readings: list[str]) -> str:
    """One line's text from several readings of it (the first is the main one).

    Letters: the first reading's, unless two others agree on other letters (a letter at
    the edge of the cut, such as the "l" of "light", comes and goes with the margin).
    Spaces: the reading of those letters with the most spaces, since the recogniser drops
    spaces between words and hardly ever invents them.
    """
    def letters(text: str) -> str:
        return text.replace(" ", "")

    chosen = letters(readings[0])
    others = [letters(text) for text in readings[1:]]
    for candidate in others:
        if candidate != chosen and candidate and others.count(candidate) >= 2:
            chosen = candidate
            break
    same = [text for text in readings if letters(text) == chosen]
    return max(same, key=lambda text: text.count(" "))  # the first of equals


def _latin(text: str) -> bool:
    """Text with Latin letters and no CJK: where words are separated by spaces."""
    return any("a" <= c.lower() <= "z" for c in text) and not has_cjk(text)


def _pad_quad(points: np.ndarray, padding: float) -> np.ndarray:
    """The quadrilateral grown outwards by ``padding`` x its height on every side."""
    if padding <= 0:
        return points
    height = max(np.linalg.norm(points[0] - points[3]), np.linalg.norm(points[1] - points[2]))
    centre = points.mean(axis=0)
    grown = []
    for point in points:
        direction = point - centre
        # Move each corner along both box axes: out by the margin horizontally and vertically.
        across = (points[1] - points[0]) / max(1e-6, np.linalg.norm(points[1] - points[0]))
        down = (points[3] - points[0]) / max(1e-6, np.linalg.norm(points[3] - points[0]))
        sign_across = 1.0 if np.dot(direction, across) >= 0 else -1.0
        sign_down = 1.0 if np.dot(direction, down) >= 0 else -1.0
        grown.append(point + padding * height * (sign_across * across + sign_down * down))
    return np.asarray(grown, dtype=np.float32)


def _below_the_line_above(padded: np.ndarray, points: np.ndarray,
                          neighbours: list[np.ndarray]) -> np.ndarray:
    """``padded`` (the line ``points`` grown by a margin) kept below the line above it:
    that line's bottom in the margin made the recogniser drop the tall first letter of the
    line below ("light" read "ight"). The bottom margin stays: it holds commas' tails.
    (Measured on the corpus: letters and punctuation CER 0.127% -> 0.099%; painting the
    line above out instead of cutting it off did not help.)"""
    top, bottom = points[:, 1].min(), points[:, 1].max()
    left, right = points[:, 0].min(), points[:, 0].max()
    highest = -np.inf
    for other in neighbours:
        if min(right, other[:, 0].max()) <= max(left, other[:, 0].min()):
            continue  # beside, not above
        other_top, other_bottom = other[:, 1].min(), other[:, 1].max()
        if other_top + other_bottom < top + bottom:  # its centre is higher
            highest = max(highest, min(other_bottom, top))
    clipped = padded.copy()  # corners: top left, top right, bottom right, bottom left
    clipped[[0, 1], 1] = np.maximum(clipped[[0, 1], 1], highest)
    return clipped


def _cut_line(image_bgr: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """The quadrilateral ``points`` of the frame, straightened into an upright strip."""
    import cv2

    line_width = int(max(np.linalg.norm(points[0] - points[1]),
                         np.linalg.norm(points[2] - points[3])))
    line_height = int(max(np.linalg.norm(points[0] - points[3]),
                          np.linalg.norm(points[1] - points[2])))
    if line_width < MIN_LINE_PIXELS or line_height < MIN_LINE_PIXELS:
        return None
    target = np.array([[0, 0], [line_width, 0], [line_width, line_height], [0, line_height]],
                      dtype=np.float32)
    transform = cv2.getPerspectiveTransform(points.astype(np.float32), target)
    line = cv2.warpPerspective(image_bgr, transform, (line_width, line_height),
                               borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if line_height / line_width >= 1.5:
        line = np.ascontiguousarray(np.rot90(line))  # vertical text, as RapidOCR does
    return line
