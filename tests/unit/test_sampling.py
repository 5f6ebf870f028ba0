"""vabatch.media.Sampling: which frames ingest keeps."""

from __future__ import annotations

import math

import pytest

from vabatch.errors import InputError
from vabatch.media import Sampling


def kept(sampling: Sampling, frames) -> list[int]:
    keep = sampling.selector()
    return [frame_index for frame_index, timestamp_ms in frames if keep(frame_index,
                                                                         timestamp_ms)]


def at_fps(fps: float, count: int) -> list[tuple[int, int]]:
    """(frame index, timestamp in ms) of ``count`` frames at ``fps``."""
    return [(n, round(n * 1000 / fps)) for n in range(count)]


def test_every_nth_frame_counts_frames_not_time():
    assert kept(Sampling("every", 5), at_fps(25, 23)) == [0, 5, 10, 15, 20]
    # Timestamps play no part: none at all, or restarting ones, give the same frames.
    assert kept(Sampling("every", 5), [(n, 0) for n in range(12)]) == [0, 5, 10]
    assert kept(Sampling("every", 1), at_fps(25, 4)) == [0, 1, 2, 3]


def test_fps_sampling_keeps_the_first_frame_at_or_after_each_due_time():
    assert kept(Sampling("fps", 1), at_fps(25, 100)) == [0, 25, 50, 75]
    assert kept(Sampling("fps", 2), at_fps(25, 50)) == [0, 13, 25, 38]  # 520 ms, 1520 ms
    assert kept(Sampling("fps", 2), at_fps(30, 60)) == [0, 15, 30, 45]
    # 29.97 fps: frame 30 is at 1001 ms, the first at or after 1 s.
    assert kept(Sampling("fps", 1), at_fps(30000 / 1001, 91)) == [0, 30, 60, 90]


def test_fps_sampling_after_a_gap_takes_the_next_frame_and_skips_missed_samples():
    frames = [(0, 0), (1, 500), (2, 4200), (3, 4700), (4, 5000), (5, 5400)]
    assert kept(Sampling("fps", 1), frames) == [0, 2, 4]


def test_a_frame_half_a_millisecond_early_still_counts():
    # Timestamps are whole milliseconds: 3 fps is due at 333.33 ms, a frame at 333 ms is it.
    assert kept(Sampling("fps", 3), [(0, 0), (1, 333), (2, 666), (3, 1000)]) == [0, 1, 2, 3]


def test_each_selector_has_its_own_state():
    sampling = Sampling("fps", 1)
    frames = at_fps(25, 60)
    assert kept(sampling, frames) == kept(sampling, frames) == [0, 25, 50]


@pytest.mark.parametrize(("mode", "value", "message"), [
    ("seconds", 1, "unknown sampling mode"), ("fps", 0, "must be positive"),
    ("fps", -1, "must be positive"), ("fps", math.inf, "must be positive"),
    ("fps", math.nan, "must be positive"), ("every", 2.5, "whole number"),
])
def test_invalid_sampling_is_refused(mode, value, message):
    with pytest.raises(InputError, match=message):
        Sampling(mode, value)


def test_describe():
    assert Sampling("every", 5.0).describe() == "every 5 frames"
    assert Sampling("fps", 0.5).describe() == "0.5 fps"
