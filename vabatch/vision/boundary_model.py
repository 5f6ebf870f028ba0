"""The caption-boundary model: a LightGBM classifier of each step between two frames of the
band (stays, appears, disappears, changes), kept as LightGBM's own text format beside a
``meta.json`` (never pickle). Trained by ``vabatch train boundaries``
(``vabatch.tools.boundaries``), used by the captions stage when the data root has one.

At ``<data root>/models/boundaries/<version>/``: ``model.txt`` and ``meta.json`` (written
last: a version without it is unfinished and ignored). The newest finished version is used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vabatch.errors import InputError
from vabatch.vision.boundary_features import CLASSES, FEATURE_NAMES, boundaries_of, frame_features

MODEL_FORMAT = "vabatch-boundaries-lightgbm-v1"
MODELS_DIR = Path("models") / "boundaries"  # under the data root
MODEL_FILE, META_FILE = "model.txt", "meta.json"
DEFAULT_THRESHOLD = 0.5  # a step whose 'stays' probability is below this is a boundary


@dataclass
class BoundaryModel:
    """A loaded model and what the captions stage records about it."""

    booster: object  # lightgbm.Booster
    meta: dict
    model_sha256: str
    folder: Path

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    @property
    def threshold(self) -> float:
        return float(self.meta.get("threshold", DEFAULT_THRESHOLD))

    @property
    def identity(self) -> dict:
        """What the captions are fingerprinted with: a new model makes them stale."""
        return {"format": MODEL_FORMAT, "version": self.version,
                "model_sha256": self.model_sha256, "threshold": self.threshold}

    def stay_probability(self, features: np.ndarray) -> np.ndarray:
        if len(features) == 0:
            return np.ones(0)
        return np.asarray(self.booster.predict(features, num_threads=1))[:, 0]

    def boundaries(self, masks: Sequence[np.ndarray], rule_starts: Sequence[int]) -> list[int]:
        """Frames where a new band state starts, by the model."""
        features = frame_features(masks, rule_starts)
        return boundaries_of(self.stay_probability(features), self.threshold)


def newest_version(data_root: Path | None) -> Path | None:
    """The folder of the newest finished model under the data root, if any."""
    if data_root is None:
        return None
    folder = Path(data_root) / MODELS_DIR
    if not folder.is_dir():
        return None
    finished = sorted(p for p in folder.iterdir()
                      if p.is_dir() and not p.is_symlink() and (p / META_FILE).is_file())
    return finished[-1] if finished else None


def load_model(folder: Path) -> BoundaryModel:
    """The model in ``folder``; a missing, damaged or foreign file is one clear error."""
    meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        text = model_path.read_bytes()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{folder}: boundary model cannot be read ({error}); retrain with "
                         "`vabatch train boundaries` or remove the folder") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT \
            or list(meta.get("features", ())) != list(FEATURE_NAMES) \
            or list(meta.get("classes", ())) != list(CLASSES) or "version" not in meta:
        raise InputError(f"{meta_path}: not a boundary model of this vabatch (format "
                         f"{MODEL_FORMAT}, these features); retrain with "
                         "`vabatch train boundaries` or remove the folder")
    digest = hashlib.sha256(text).hexdigest()
    if meta.get("model_sha256") not in (None, digest):
        raise InputError(f"{model_path}: does not match its meta.json (changed or damaged "
                         "since training); retrain with `vabatch train boundaries`")
    booster = booster_from_text(text, model_path)
    return BoundaryModel(booster, meta, digest, folder)


def booster_from_text(text: bytes, where: Path):
    """A LightGBM booster from its text format (the only format read: no pickle)."""
    try:
        import lightgbm
    except ImportError:
        raise InputError(f"{where}: reading a boundary model needs the lightgbm package "
                         "(pip install 'lightgbm>=4.0')") from None
    try:
        booster = lightgbm.Booster(model_str=text.decode("utf-8"))
    except (UnicodeDecodeError, lightgbm.basic.LightGBMError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "damaged"
        raise InputError(f"{where}: not a LightGBM text model ({first}); retrain with "
                         "`vabatch train boundaries`") from None
    if booster.num_feature() != len(FEATURE_NAMES) \
            or booster.num_model_per_iteration() != len(CLASSES):
        raise InputError(f"{where}: a model of {booster.num_feature()} features and "
                         f"{booster.num_model_per_iteration()} classes, not of this vabatch's "
                         f"{len(FEATURE_NAMES)} and {len(CLASSES)}")
    return booster


_LOADED: dict[tuple, BoundaryModel] = {}  # (folder, stat of both files) -> model


def find_model(data_root: Path | None) -> BoundaryModel | None:
    """The newest finished model of the data root, loaded (once per process while its
    files stay as they are: `vabatch status` asks for every video); None if it has none."""
    folder = newest_version(data_root)
    if folder is None:
        return None
    try:
        key = (str(folder), *((s.st_mtime_ns, s.st_size, s.st_ino) for s in (
            (folder / MODEL_FILE).stat(), (folder / META_FILE).stat())))
    except OSError:
        return load_model(folder)  # says what is wrong
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_model(folder)
    return _LOADED[key]
