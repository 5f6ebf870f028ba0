"""The caption-boundary features and their decoding (vabatch/vision/boundary_features.py)."""

from __future__ import annotations

import numpy as np

from vabatch.tools.boundaries import HUMAN_MARGIN, cue_truth, truth_of_rows
from vabatch.vision.boundary_features import (
    CHUNK,
    FEATURE_NAMES,
    boundaries_of,
    frame_features,
    rules_columns,
    step_classes,
)
from vabatch.vision.caption_spans import spans_at


def _band(text: str | None, shape=(12, 40)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    if text == "a":
        mask[3:9, 5:20] = True
    elif text == "b":
        mask[3:9, 22:36] = True
    return mask


def test_step_classes_name_what_happens_between_two_frames():
    states = [-1, -1, 0, 0, 1, 1, -1, 2, 2]
    assert step_classes(states).tolist() == [0, 0, 1, 0, 3, 0, 2, 1, 0]


def test_cue_truth_follows_the_exported_convention():
    times = [0, 40, 80, 120, 160, 200]
    assert cue_truth(times, [(40, 120), (120, 200)]).tolist() == [-1, 0, 0, 1, 1, -1]


def test_a_caption_a_person_deleted_is_checked_as_no_caption():
    """A deleted row (a phantom a person removed) says no caption shows there; it is no
    caption state, and its frames count as checked."""
    rows = [(20, 40, "human", None), (60, 70, "human", "deleted"), (90, 100, "auto", None)]
    states, known = truth_of_rows(rows, 120)
    assert set(states[20:40]) == {0} and set(states[60:70]) == {-1}
    assert set(states[:20]) == set(states[40:]) == {-1}
    assert known[60 - HUMAN_MARGIN:70 + HUMAN_MARGIN].all()
    assert not known[90:100].any() and not known[:20 - HUMAN_MARGIN].any()
    assert np.count_nonzero(step_classes(states)) == 2  # one caption: appears, goes
    assert truth_of_rows([(5, 9, "auto", None)], 20) is None


def test_features_see_a_change_of_text_and_not_a_stay():
    masks = [_band(None)] * 5 + [_band("a")] * 6 + [_band("b")] * 6 + [_band(None)] * 5
    features = frame_features(masks, [5, 11, 17])
    assert features.shape == (len(masks), len(FEATURE_NAMES))
    column = {name: n for n, name in enumerate(FEATURE_NAMES)}
    assert features[8, column["iou_step"]] == 1.0 and features[11, column["iou_step"]] == 0.0
    assert features[11, column["core_iou"]] == 0.0 and features[14, column["core_iou"]] == 1.0
    assert features[11, column["rules_boundary"]] == 1.0
    assert features[13, column["rules_distance"]] == 2.0


def test_features_are_the_same_in_chunks_as_at_once():
    rng = np.random.default_rng(1)
    masks = [rng.random((6, 10)) < 0.3 for _ in range(CHUNK + 9)]
    whole = frame_features(masks, [])
    assert np.array_equal(whole[CHUNK - 3:CHUNK + 3],
                          frame_features(masks[CHUNK - 3 - 4:CHUNK + 3 + 4], [])[4:10])


def test_one_boundary_per_run_of_likely_frames_and_never_frame_zero():
    stay = np.array([0.1, 0.9, 0.4, 0.2, 0.3, 0.9, 0.9, 0.45, 0.9])
    assert boundaries_of(stay, 0.5) == [3, 7]


def test_rules_distance_is_capped():
    columns = rules_columns(20, [2])
    assert columns[2].tolist() == [1.0, 0.0] and columns[19, 1] == 6.0


def test_spans_at_keep_the_stable_core():
    masks = [_band("a")] * 4 + [_band("b")] * 3
    spans = spans_at(masks, [4])
    assert [(s.start, s.end) for s in spans] == [(0, 4), (4, 7)]
    assert np.array_equal(spans[1].core, _band("b"))
