"""vabatch.vision.caption_spans.segment: span boundaries from synthetic text-mask sequences."""

from __future__ import annotations

import numpy as np

from vabatch.vision.caption_spans import SpanRules, SpanTracker, segment

SHAPE = (10, 40)


def empty() -> np.ndarray:
    return np.zeros(SHAPE, bool)


def caption(columns: slice) -> np.ndarray:
    """Two rows of set cells, like one line of text in a 10 x 40 cell band."""
    mask = empty()
    mask[4:6, columns] = True
    return mask


FIRST = caption(slice(5, 20))  # 30 cells
SECOND = caption(slice(22, 36))  # 28 cells, none shared with FIRST


def boundaries(masks) -> list[tuple[int, int]]:
    return [(span.start, span.end) for span in segment(masks)]


def test_a_caption_from_frame_10_to_30_is_one_span_with_those_boundaries():
    masks = [empty()] * 10 + [FIRST] * 20 + [empty()] * 10
    spans = segment(masks)
    assert [(s.start, s.end) for s in spans] == [(0, 10), (10, 30), (30, 40)]
    assert [s.length for s in spans] == [10, 20, 10]
    assert np.array_equal(spans[1].core, FIRST) and spans[1].core_ink == 30
    assert spans[0].core_ink == 0 and spans[2].core_ink == 0


def test_two_different_captions_back_to_back():
    masks = [empty()] * 10 + [FIRST] * 10 + [SECOND] * 10 + [empty()] * 5
    assert boundaries(masks) == [(0, 10), (10, 20), (20, 30), (30, 35)]


def test_a_caption_that_shares_cells_with_the_one_before_still_starts_a_span():
    shared = empty()
    shared[4:6, 5:12] = True  # 14 of FIRST's 30 cells
    shared[4:6, 25:35] = True
    assert boundaries([FIRST] * 10 + [shared] * 10) == [(0, 10), (10, 20)]


def test_flickering_cells_do_not_split_a_caption():
    rng = np.random.default_rng(3)
    masks = []
    for frame in range(40):
        mask = FIRST & (rng.random(SHAPE) >= 0.15) if 10 <= frame < 30 else empty()
        masks.append(mask | (rng.random(SHAPE) < 0.01))  # sparkle of the background
    assert boundaries(masks) == [(0, 10), (10, 30), (30, 40)]


def test_a_span_ends_when_a_frame_keeps_less_than_60_percent_of_its_core():
    partly = FIRST.copy()
    partly[:, 5:10] = False  # 4 of 15 columns gone, beyond one cell of jitter: 73% kept
    assert boundaries([FIRST] * 5 + [partly] * 3 + [FIRST] * 5) == [(0, 13)]
    mostly = FIRST.copy()
    mostly[:, 5:13] = False  # 7 of 15 columns gone: 53% kept
    assert boundaries([FIRST] * 5 + [mostly] * 5) == [(0, 5), (5, 10)]


def test_a_caption_moving_by_one_cell_is_still_the_same_caption():
    shifted = np.roll(FIRST, 1, axis=1)
    masks = [FIRST, shifted] * 8
    assert boundaries(masks) == [(0, 16)]


def test_text_on_one_frame_only_starts_no_span():
    # New text must stay for the next frame too: a one-frame flash is not a caption.
    assert boundaries([empty()] * 10 + [FIRST] + [empty()] * 10) == [(0, 21)]


def test_a_few_cells_are_not_a_caption():
    speck = empty()
    speck[0:2, 0:2] = True  # 4 cells, below min_ink_cells (8)
    assert boundaries([empty()] * 5 + [speck] * 5 + [empty()] * 5) == [(0, 15)]
    rules = SpanRules(min_ink_cells=4)
    assert [(s.start, s.end) for s in segment([empty()] * 5 + [speck] * 5 + [empty()] * 5,
                                              rules)] == [(0, 5), (5, 10), (10, 15)]


def test_a_second_line_added_to_a_caption_starts_a_span():
    two_lines = FIRST.copy()
    two_lines[7:9, 5:20] = True
    assert boundaries([FIRST] * 6 + [two_lines] * 6) == [(0, 6), (6, 12)]


def test_no_frames_and_one_frame():
    assert segment([]) == []
    assert boundaries([FIRST]) == [(0, 1)]


def test_the_tracker_reports_each_boundary_one_push_later():
    tracker = SpanTracker(keep_spans=False)
    masks = [empty()] * 3 + [FIRST] * 3 + [empty()] * 3
    reported = [tracker.push(mask) for mask in masks]
    # Frame 3 starts a span, known when frame 4 arrives; frame 6 likewise at frame 7.
    assert reported == [None, None, None, None, 3, None, None, 6, None]
    assert tracker.finish() is None and tracker.spans == []
