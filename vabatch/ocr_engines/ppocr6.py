"""RapidOCR 3 with the PP-OCRv6 small models that ship inside the ``rapidocr`` wheel.

The default engine: on true caption lines it reads with fewer errors than the PP-OCRv4
engine (``rapidocr``) at about the same speed (docs/ocr.md has the figures and the command
that measures them). Everything runs offline: the models are given to RapidOCR by path,
so it never looks for (or downloads) a model of its own choosing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vabatch.errors import VabatchError
from vabatch.ocr_engines.line_reading import LineReadingEngine

PACKAGE = "rapidocr"
DETECTOR = "PP-OCRv6_det_small.onnx"
RECOGNIZER = "PP-OCRv6_rec_small.onnx"
CLASSIFIER = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"  # never used; named so it is never fetched


def packaged_model(file_name: str) -> Path:
    """A model file inside the installed ``rapidocr`` package (it may not exist)."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise VabatchError(f"OCR engine 'ppocr6' needs {PACKAGE}, which is not installed "
                           f"(pip install '{PACKAGE}>=3.10')")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / file_name


class PpOcr6Engine(LineReadingEngine):
    """PP-OCRv6 detection and recognition on onnxruntime, through RapidOCR 3."""

    name = "ppocr6"
    package = PACKAGE
    install = f"pip install '{PACKAGE}>=3.10'"

    def __init__(self, detector_model: str | Path | None = None,
                 recognizer_model: str | Path | None = None, **options) -> None:
        super().__init__(**options)
        # The wheel's models unless others are named (their file names are recorded).
        self.detector_model = Path(detector_model or packaged_model(DETECTOR))
        self.recognizer_model = Path(recognizer_model or packaged_model(RECOGNIZER))
        self._ocr = None  # the models load on first use, so building an engine is cheap

    @property
    def models(self) -> tuple[str, ...]:
        return self.detector_model.name, self.recognizer_model.name

    @property
    def parameters(self) -> dict:
        return {"detector": self.detector_model.name, "recognizer": self.recognizer_model.name,
                **self.reading_parameters()}

    def _detect(self, image_bgr: np.ndarray) -> list[np.ndarray]:
        detected = self._engine()(image_bgr, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(detected, "boxes", None)
        return [] if boxes is None else [np.asarray(quad, dtype=np.float32) for quad in boxes]

    def _recognise(self, line_bgr: np.ndarray) -> tuple[str, float] | None:
        recognised = self._engine()(line_bgr, use_det=False, use_cls=False, use_rec=True)
        texts = getattr(recognised, "txts", None)
        if not texts:
            return None
        return str(texts[0]), float(recognised.scores[0])

    def _engine(self):
        if self._ocr is None:
            for model in (self.detector_model, self.recognizer_model):
                if not model.is_file():
                    raise VabatchError(f"OCR model {model} is missing (reinstall {PACKAGE})")
            try:
                from rapidocr import RapidOCR
            except ImportError as error:
                raise VabatchError(f"{PACKAGE} cannot be imported ({error}); "
                                   f"pip install '{PACKAGE}>=3.10'") from None
            threads = max(1, min(self.threads, os.cpu_count() or 1))
            self._ocr = RapidOCR(params={
                "Global.use_cls": False,
                "Global.text_score": self.min_confidence,
                "Global.log_level": "error",
                # By path: RapidOCR downloads a model only when it is given none.
                "Det.model_path": str(self.detector_model),
                "Rec.model_path": str(self.recognizer_model),
                "Cls.model_path": str(packaged_model(CLASSIFIER)),
                # "max": never scale the (already downscaled) frame up again.
                "Det.limit_type": "max",
                "Det.limit_side_len": self.detection_side,
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            })
        return self._ocr
