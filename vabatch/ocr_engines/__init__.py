"""OCR engines behind one small interface: one class per engine, chosen by name.

An engine turns BGR pixels into text boxes (``OcrEngine.read``). It also says what it is
(``name``, ``version``) and how it is set up (``parameters``), so the OCR stage can record
that next to the results and notice when a re-run would give different ones.
"""

from __future__ import annotations

import importlib
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vabatch.errors import InputError

if TYPE_CHECKING:
    import numpy as np

Point = tuple[float, float]


@dataclass(frozen=True)
class OcrBox:
    """One line of text found in a frame.

    ``points`` are the four corners in frame pixels, clockwise from the top-left one (the
    detector's quadrilateral, possibly slightly rotated).
    """

    text: str
    confidence: float
    points: tuple[Point, Point, Point, Point]

    def bounds(self) -> tuple[int, int, int, int]:
        """The axis-aligned box ``(x, y, width, height)`` around the corners, half-open.

        ``x + width`` and ``y + height`` are the first column and row outside the box.
        """
        xs = [x for x, _ in self.points]
        ys = [y for _, y in self.points]
        left, top = math.floor(min(xs)), math.floor(min(ys))
        return left, top, math.ceil(max(xs)) - left, math.ceil(max(ys)) - top


class OcrEngine(ABC):
    """What the OCR stage needs from an engine."""

    name: str = ""

    @property
    @abstractmethod
    def version(self) -> str:
        """The engine's version (of its package and models)."""

    @property
    def models(self) -> tuple[str, ...]:
        """The file names of the models the engine reads with."""
        return ()

    @property
    def identity(self) -> dict:
        """What the engine is: name, package version and model files. Stages that run OCR
        fingerprint their results with it, so a new model or release makes them stale."""
        return {"name": self.name, "version": self.version, "models": list(self.models)}

    @property
    @abstractmethod
    def parameters(self) -> dict:
        """Every setting that changes the output, as plain JSON-able values.

        Settings that only change speed (e.g. thread counts) are left out, so changing them
        does not make earlier results look stale.
        """

    @abstractmethod
    def read(self, image_bgr: np.ndarray, detection_side: int | None = None) -> list[OcrBox]:
        """The text boxes in one BGR image, in reading order (top to bottom, left to right).
        ``detection_side``: the long side text is found at, instead of the engine's own."""


# name -> "module:Class"; modules are imported only when the engine is asked for, because
# engines pull in heavy libraries (onnxruntime, models).
ENGINES: dict[str, str] = {
    "ppocr6": "vabatch.ocr_engines.ppocr6:PpOcr6Engine",  # the default
    # PP-OCRv4, vabatch 0.2's engine: only with `pip install --no-deps rapidocr-onnxruntime`
    "rapidocr": "vabatch.ocr_engines.rapidocr:RapidOcrEngine",
}
DEFAULT_ENGINE = "ppocr6"


def create_engine(name: str, **options) -> OcrEngine:
    """A new engine of kind ``name``, configured by ``options``."""
    try:
        target = ENGINES[name]
    except KeyError:
        raise InputError(
            f"unknown OCR engine {name!r} (known: {', '.join(sorted(ENGINES))})"
        ) from None
    module_name, _, class_name = target.partition(":")
    engine_class = getattr(importlib.import_module(module_name), class_name)
    return engine_class(**options)


__all__ = ["DEFAULT_ENGINE", "ENGINES", "OcrBox", "OcrEngine", "Point", "create_engine"]
