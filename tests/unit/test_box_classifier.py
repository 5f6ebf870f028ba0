"""vabatch.vision.box_classifier: training, cross-validation, JSON parameters (never pickle)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from vabatch.errors import DatabaseError
from vabatch.vision.box_classifier import (
    MODEL_FORMAT,
    BoxClassifier,
    cross_validated_accuracy,
    train_classifier,
)
from vabatch.vision.layout_analysis import FEATURE_NAMES

FEATURES = len(FEATURE_NAMES)


def separable(count: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Captions have feature 0 in [0.7, 1], noise in [0, 0.3]; the rest is noise, one
    feature constant (its standard deviation is 0)."""
    rng = np.random.default_rng(seed)
    features = rng.uniform(0, 1, (count, FEATURES))
    labels = np.arange(count) % 2
    features[:, 0] = np.where(labels == 1, rng.uniform(0.7, 1, count), rng.uniform(0, 0.3, count))
    features[:, 3] = 0.25
    return features, labels


def test_training_on_separable_data_classifies_every_box():
    features, labels = separable()
    model = train_classifier(features, labels)
    probabilities = model(features)
    assert probabilities.shape == (60,)
    assert np.array_equal(probabilities >= 0.5, labels == 1)
    assert model.scale[3] == 1.0  # a constant feature is not divided by zero
    assert abs(model.weights[0]) == max(abs(model.weights))  # the separating feature


def test_cross_validated_accuracy_on_separable_data_is_perfect_and_deterministic():
    features, labels = separable()
    assert cross_validated_accuracy(features, labels) == 1.0
    assert cross_validated_accuracy(features, labels, seed=7) == 1.0


def test_cross_validated_accuracy_is_below_one_on_unlearnable_labels():
    features, _ = separable()
    shuffled = np.random.default_rng(1).permutation(np.arange(60) % 2)
    accuracy = cross_validated_accuracy(features, shuffled)
    assert accuracy is not None and accuracy < 0.9
    assert accuracy == cross_validated_accuracy(features, shuffled)  # seeded folds


def test_too_few_boxes_or_one_class_gives_no_accuracy():
    features, labels = separable()
    assert cross_validated_accuracy(features[:9], labels[:9]) is None  # < 2 x 5 folds
    assert cross_validated_accuracy(features[:10], labels[:10]) is not None
    assert cross_validated_accuracy(features, np.zeros(60, int)) is None


def test_json_round_trip_gives_identical_predictions():
    features, labels = separable()
    model = train_classifier(features, labels)
    stored = model.to_json()
    params = json.loads(stored)
    assert params["format"] == MODEL_FORMAT and params["features"] == list(FEATURE_NAMES)
    restored = BoxClassifier.from_json(stored)
    assert np.array_equal(restored(features), model(features))
    assert BoxClassifier.from_json(stored.decode()).to_json() == stored


class _Tripwire:
    """Unpickling this object would create ``path``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_pickle_is_refused_without_being_loaded(tmp_path, monkeypatch):
    tripwire = tmp_path / "unpickled"
    payload = pickle.dumps(_Tripwire(tripwire))

    def never(*_args, **_kwargs):
        raise AssertionError("from_json unpickled its input")

    monkeypatch.setattr(pickle, "loads", never)
    monkeypatch.setattr(pickle, "load", never)
    monkeypatch.setattr(pickle, "Unpickler", never)
    with pytest.raises(DatabaseError, match="never loaded"):
        BoxClassifier.from_json(payload)
    assert not tripwire.exists()


def test_other_formats_features_and_damaged_parameters_are_refused():
    model = train_classifier(*separable())
    params = json.loads(model.to_json())
    with pytest.raises(DatabaseError, match="unknown format"):
        BoxClassifier.from_json(json.dumps(params | {"format": "sklearn"}))
    with pytest.raises(DatabaseError, match="other features"):
        BoxClassifier.from_json(json.dumps(params | {"features": params["features"][:-1]}))
    with pytest.raises(DatabaseError, match="damaged"):
        BoxClassifier.from_json(json.dumps(params | {"scale": [0.0] * FEATURES}))
    with pytest.raises(DatabaseError, match="damaged"):
        BoxClassifier.from_json(json.dumps(params | {"weights": [1.0] * (FEATURES - 1)}))
    with pytest.raises(DatabaseError, match="damaged"):
        BoxClassifier.from_json(json.dumps({k: v for k, v in params.items() if k != "bias"}))
    with pytest.raises(DatabaseError, match="unknown format"):
        BoxClassifier.from_json("[1, 2, 3]")
