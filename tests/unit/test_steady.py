"""vision/steady.py: what stays while the picture moves."""

from __future__ import annotations

import numpy as np

from vabatch.vision.steady import STEADY_FILL, steady_image


def _frames(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Two frames of a busy texture that changed everywhere, with one still patch (a caption)."""
    rng = np.random.default_rng(seed)
    earlier = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    later = (earlier.astype(np.int16) + 128) % 256  # every pixel moved by 128 levels
    later = later.astype(np.uint8)
    later[20:30, 10:70] = earlier[20:30, 10:70] = 255  # the still caption: white strokes
    later[24:26, 10:70] = earlier[24:26, 10:70] = 0  # ... with a dark line through them
    return later, earlier


def test_the_still_patch_stays_and_everything_that_moved_turns_flat_grey():
    later, earlier = _frames()
    steady, unchanged = steady_image(later, earlier)
    assert np.array_equal(steady[20:30, 10:70], later[20:30, 10:70])
    outside = np.ones(later.shape[:2], bool)
    outside[20:30, 10:70] = False
    assert (steady[outside] == STEADY_FILL).all()
    assert unchanged == 10 * 60 / (60 * 80)


def test_small_changes_count_as_unchanged_and_one_channel_is_enough_to_move():
    later, earlier = _frames()
    noisy = later.copy()
    patch = noisy[20:30, 10:70, 1].astype(np.int16)
    noisy[20:30, 10:70, 1] = np.where(patch >= 40, patch - 40, patch + 40)  # within 40: steady
    steady, _ = steady_image(noisy, later, threshold=40)
    assert np.array_equal(steady[20:30, 10:70], noisy[20:30, 10:70])
    moved = later.copy()
    moved[20:30, 10:40, 2] = 100  # one channel changed by 155: that part moved
    steady, _ = steady_image(moved, later, threshold=40)
    assert (steady[20:30, 10:40] == STEADY_FILL).all()
    assert np.array_equal(steady[20:30, 40:70], later[20:30, 40:70])


def test_a_still_picture_is_returned_as_it_is():
    later, _ = _frames()
    steady, unchanged = steady_image(later, later.copy())
    assert unchanged == 1.0 and np.array_equal(steady, later)


def test_frames_of_other_sizes_have_nothing_steady():
    later, earlier = _frames()
    steady, unchanged = steady_image(later, earlier[:50])
    assert unchanged == 0.0 and (steady == STEADY_FILL).all() and steady.shape == later.shape
