"""The PP-OCRv4 engine of vabatch 0.2 (``rapidocr-onnxruntime``, models in its wheel).

No longer a dependency: ``ppocr6`` reads better (docs/ocr.md). It stays selectable for
results made with it; install it without its dependencies, since it pulls ``opencv-python``
and a second OpenCV beside ``opencv-python-headless`` breaks ``cv2``::

    pip install --no-deps rapidocr-onnxruntime
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from vabatch.errors import VabatchError
from vabatch.ocr_engines.line_reading import LineReadingEngine

PACKAGE = "rapidocr-onnxruntime"
INSTALL = f"pip install --no-deps {PACKAGE}"
MODELS = ("ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx")


class RapidOcrEngine(LineReadingEngine):
    """RapidOCR 1.x with the PP-OCRv4 models."""

    name = "rapidocr"
    package = PACKAGE
    install = INSTALL

    def __init__(self, **options) -> None:
        if importlib.util.find_spec("rapidocr_onnxruntime") is None:
            raise VabatchError(f"OCR engine 'rapidocr' needs {PACKAGE}, which is not "
                               f"installed ({INSTALL})")
        super().__init__(**options)
        self._ocr = None  # the models load on first use, so building an engine is cheap

    @property
    def models(self) -> tuple[str, ...]:
        return MODELS

    @property
    def parameters(self) -> dict:
        # The names recorded since 0.1: results made with this engine stay up to date.
        return {"detector": "ch_PP-OCRv4_det", "recognizer": "ch_PP-OCRv4_rec",
                **self.reading_parameters()}

    def _detect(self, image_bgr: np.ndarray) -> list[np.ndarray]:
        detected, _ = self._engine()(image_bgr, use_det=True, use_cls=False, use_rec=False)
        return [np.asarray(quad, dtype=np.float32) for quad in detected or ()]

    def _recognise(self, line_bgr: np.ndarray) -> tuple[str, float] | None:
        recognised, _ = self._engine()(line_bgr, use_det=False, use_cls=False, use_rec=True)
        if not recognised:
            return None
        return str(recognised[0][0]), float(recognised[0][1])

    def _engine(self):
        if self._ocr is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as error:
                raise VabatchError(f"{PACKAGE} cannot be imported ({error}); {INSTALL}"
                                   ) from None
            cores = os.cpu_count() or 1
            self._ocr = RapidOCR(
                # "max": never scale the (already downscaled) frame up again.
                det_limit_type="max",
                intra_op_num_threads=max(1, min(self.threads, cores)),
                inter_op_num_threads=1,
                text_score=self.min_confidence,
                print_verbose=False,
            )
        return self._ocr
