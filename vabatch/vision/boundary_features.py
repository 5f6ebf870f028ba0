"""Features of caption boundaries, one row per frame, from the band signatures crop stores.

Row ``t`` describes the step from frame ``t - 1`` to frame ``t``: does a caption appear,
disappear, change or stay there. Everything comes from the text masks of a few frames
around the step (``WINDOW`` on each side): how much of the ink stays, how much is new,
how well the stable ink before the step matches the stable ink after it, and where
today's rules (``caption_spans.segment``) put their boundaries. Pure functions, no I/O;
about a millisecond per frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WINDOW = 4  # frames on each side of a step that the features look at
CHUNK = 1024  # frames unpacked at a time (an hour of masks does not fit in memory)
RULES_REACH = 6  # distances to the rules' nearest boundary are capped here

# The order of the columns (stored with a model: a model is used only with these).
FEATURE_NAMES = (
    "ink_before", "ink_after", "ink_change", "log_ink_before", "log_ink_after",
    "iou_step", "iou_skip_one", "iou_before_next", "iou_before2_now",
    "kept_of_before", "new_in_after",
    "core_before_ink", "core_after_ink", "log_core_before", "log_core_after",
    "core_iou", "core_kept_now", "core_kept_next", "core_new_after",
    "rules_boundary", "rules_distance",
)
# Classes of a step, in the order of the model's outputs.
CLASSES = ("stays", "appears", "disappears", "changes")


def _grow(masks: np.ndarray) -> np.ndarray:
    """Each mask of a (frames, rows, cols) stack with one cell of jitter (3x3 dilation)."""
    grown = masks.copy()
    grown[:, 1:, :] |= masks[:, :-1, :]
    grown[:, :-1, :] |= masks[:, 1:, :]
    rows = grown.copy()
    grown[:, :, 1:] |= rows[:, :, :-1]
    grown[:, :, :-1] |= rows[:, :, 1:]
    return grown


def _count(masks: np.ndarray) -> np.ndarray:
    return masks.reshape(len(masks), -1).sum(axis=1).astype(np.float64)


def _share(part: np.ndarray, whole: np.ndarray, empty: float = 1.0) -> np.ndarray:
    return np.where(whole > 0, part / np.maximum(whole, 1), empty)


def _iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return _share(_count(first & second), _count(first | second))


def _chunk_features(stack: np.ndarray, rules: np.ndarray) -> np.ndarray:
    """Rows for the frames ``WINDOW .. len(stack) - WINDOW`` of a padded stack."""
    w = WINDOW
    cells = float(stack[0].size)
    grown = _grow(stack)
    n = len(stack) - 2 * w
    at = slice(w, w + n)  # frame t
    before, next_ = slice(w - 1, w - 1 + n), slice(w + 1, w + 1 + n)
    before2 = slice(w - 2, w - 2 + n)
    now, prev, nxt, prev2 = stack[at], stack[before], stack[next_], stack[before2]
    ink_now, ink_prev = _count(now), _count(prev)
    core_before = prev.copy()  # ink of t-1 that stayed (nearly) put over t-w .. t-1
    for k in range(2, w + 1):
        core_before &= grown[w - k:w - k + n]
    core_after = now.copy()  # ink of t that stays (nearly) put over t .. t+w-1
    for k in range(1, w):
        core_after &= grown[w + k:w + k + n]
    cb, ca = _count(core_before), _count(core_after)
    grown_cb = _grow(core_before)
    columns = [
        ink_prev / cells, ink_now / cells,
        (ink_now - ink_prev) / np.maximum(np.maximum(ink_now, ink_prev), 1),
        np.log1p(ink_prev), np.log1p(ink_now),
        _iou(prev, now), _iou(prev2, nxt), _iou(prev, nxt), _iou(prev2, now),
        _share(_count(prev & grown[at]), ink_prev),
        _share(_count(now & ~grown[before]), ink_now, 0.0),
        cb / cells, ca / cells, np.log1p(cb), np.log1p(ca),
        _iou(core_before, core_after),
        _share(_count(core_before & grown[at]), cb),
        _share(_count(core_before & grown[next_]), cb),
        _share(_count(core_after & ~grown_cb), ca, 0.0),
    ]
    return np.column_stack(columns + [rules[:, 0], rules[:, 1]])


def rules_columns(frames: int, rule_starts: Sequence[int]) -> np.ndarray:
    """(is a rules boundary, distance to the nearest one, capped) for every frame."""
    marks = np.zeros(frames, bool)
    starts = [s for s in rule_starts if 0 < s < frames]
    marks[starts] = True
    distance = np.full(frames, float(RULES_REACH))
    if starts:
        index = np.arange(frames)
        points = np.asarray(sorted(starts))
        where = np.clip(np.searchsorted(points, index), 0, len(points) - 1)
        nearest = np.minimum(np.abs(points[where] - index),
                             np.abs(points[np.maximum(where - 1, 0)] - index))
        distance = np.minimum(nearest, RULES_REACH).astype(float)
    return np.column_stack([marks.astype(float), distance])


def frame_features(masks: Sequence[np.ndarray], rule_starts: Sequence[int]) -> np.ndarray:
    """One row of ``FEATURE_NAMES`` per frame (row 0 describes no step: all from frame 0).

    ``masks``: one text mask per frame, in order; ``rule_starts``: the first frames of the
    spans today's rules find. Frames before the first and after the last repeat them."""
    frames = len(masks)
    rules = rules_columns(frames, rule_starts)
    rows = []
    for low in range(0, frames, CHUNK):
        high = min(frames, low + CHUNK)
        indices = np.clip(np.arange(low - WINDOW, high + WINDOW), 0, frames - 1)
        stack = np.stack([masks[i] for i in indices]).astype(bool)
        rows.append(_chunk_features(stack, rules[low:high]))
    if not rows:
        return np.zeros((0, len(FEATURE_NAMES)))
    return np.vstack(rows)


def step_classes(states: Sequence[int]) -> np.ndarray:
    """The class (index into ``CLASSES``) of every step, from what each frame shows:
    -1 no caption, else an id of the caption shown (a new id for every cue)."""
    states = np.asarray(states)
    previous = np.concatenate([states[:1], states[:-1]])
    classes = np.zeros(len(states), np.int64)
    changed = states != previous
    classes[changed & (previous < 0)] = 1
    classes[changed & (states < 0)] = 2
    classes[changed & (previous >= 0) & (states >= 0)] = 3
    return classes


def boundaries_of(stay_probability: np.ndarray, threshold: float) -> list[int]:
    """Frames that start a new band state: where the step is likely not a stay, one per run
    of such frames (the likeliest; a caption or gap of one frame is not a state)."""
    candidates = np.flatnonzero(stay_probability < threshold)
    chosen: list[int] = []
    run: list[int] = []
    for frame in candidates.tolist():
        if frame == 0:
            continue
        if run and frame != run[-1] + 1:
            chosen.append(min(run, key=lambda f: (stay_probability[f], f)))
            run = []
        run.append(frame)
    if run:
        chosen.append(min(run, key=lambda f: (stay_probability[f], f)))
    return chosen
