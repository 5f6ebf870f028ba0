"""The caption-vs-noise box classifier: logistic regression in plain numpy.

Stored as JSON parameters (feature names, standardisation, weights), never as pickle:
``layout.box_classification_model.model_data`` for one video, or
``<data root>/models/box_classifier.json`` for a model trained across videos.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from vabatch.errors import DatabaseError
from vabatch.vision.layout_analysis import FEATURE_NAMES

MODEL_FORMAT = "vabatch-logistic-v1"


@dataclass(frozen=True)
class BoxClassifier:
    """Standardised features -> logistic probability that a box is a caption."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def __call__(self, features: list[list[float]]) -> np.ndarray:
        x = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))

    def to_json(self) -> bytes:
        return json.dumps({
            "format": MODEL_FORMAT, "features": list(FEATURE_NAMES),
            "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "weights": self.weights.tolist(), "bias": self.bias,
        }, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> BoxClassifier:
        """Parse stored parameters; anything else (e.g. an old pickle) is refused, unread."""
        try:
            params = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise DatabaseError("box classifier: not vabatch JSON parameters "
                                "(opaque bytes, e.g. a legacy pickle, are never loaded)"
                                ) from None
        if not isinstance(params, dict) or params.get("format") != MODEL_FORMAT:
            raise DatabaseError(f"box classifier: unknown format (expected {MODEL_FORMAT})")
        if tuple(params.get("features", ())) != FEATURE_NAMES:
            raise DatabaseError("box classifier: trained on other features; train it again")
        try:
            arrays = [np.asarray(params[k], dtype=np.float64)
                      for k in ("mean", "scale", "weights")]
            bias = float(params["bias"])
        except (KeyError, TypeError, ValueError):
            raise DatabaseError("box classifier: damaged parameters") from None
        if any(a.shape != (len(FEATURE_NAMES),) for a in arrays) or not np.all(arrays[1] > 0):
            raise DatabaseError("box classifier: damaged parameters")
        return cls(*arrays, bias)


def train_classifier(features: np.ndarray, labels: np.ndarray, l2: float = 1e-2,
                     iterations: int = 500) -> BoxClassifier:
    """Fit by Newton's method (a few hundred features x thousands of boxes: instant)."""
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
    w = np.zeros(x.shape[1])
    penalty = l2 * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0  # no penalty on the bias
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - labels) + penalty @ w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(w)), gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return BoxClassifier(mean, scale, w[:-1], float(w[-1]))


def cross_validated_accuracy(features: np.ndarray, labels: np.ndarray, folds: int = 5,
                             seed: int = 0) -> float | None:
    """Accuracy on held-out folds; None when there are too few boxes to split."""
    n = len(labels)
    if n < 2 * folds or len(set(labels.tolist())) < 2:
        return None
    order = np.random.default_rng(seed).permutation(n)
    correct = 0
    for fold in range(folds):
        test = order[fold::folds]
        train = np.setdiff1d(order, test)
        if len(set(labels[train].tolist())) < 2:
            correct += int(np.sum(labels[test] == labels[train][0]))
            continue
        model = train_classifier(features[train], labels[train])
        correct += int(np.sum((model(features[test]) >= 0.5) == labels[test].astype(bool)))
    return correct / n
