"""Pure rules of vabatch.stages.captions: the scale strips are detected at, and where the
text changed inside a span whose strokes were too faint to tell."""

from __future__ import annotations

from vabatch.stages.captions import (
    MIN_DETECTION_SIDE,
    CaptionOptions,
    _reading_change,
    detection_side_for,
)
from vabatch.vision.caption_readings import Reading, similar


def test_tall_lines_are_scaled_down_to_the_wanted_height():
    # 1280-px strip, 48-px lines: half size puts them at 24 px (dev seed 2: over a busy
    # texture the detector cut such lines into pieces at 960 and found them whole at 640).
    assert detection_side_for(1280, 48, CaptionOptions()) == 640


def test_small_lines_are_never_scaled_up_and_the_side_stays_within_bounds():
    options = CaptionOptions()
    assert detection_side_for(640, 17, options) == 640  # 360p, small text: as it is
    assert detection_side_for(1920, 30, options) == options.detection_side  # capped
    assert detection_side_for(720, 200, options) == MIN_DETECTION_SIDE  # huge text
    assert detection_side_for(200, 100, options) == 200  # a strip smaller than the floor


def test_the_wanted_line_height_is_an_option():
    options = CaptionOptions(detection_line_height=32)
    assert detection_side_for(1280, 64, options) == 640


def reading(text: str) -> Reading:
    return Reading(text, 0.95, ((10, 24, 100, 80),))


def test_quick_words_in_one_faint_span_are_split_where_the_stored_strips_change():
    # Dev seed 2: "Now!", "Sorry.", "What?" back to back over a bright scene, one span (9
    # mask cells): crop stored strips at 1095, 1107 and 1121; the first reading differs
    # from the second, the change is put where the strokes changed most in between.
    strips = {1095: reading("Now!"), 1107: reading("Sorry."), 1121: reading("What?")}
    changes = {t: 0 for t in range(1094, 1122)}
    changes[1104] = 5
    changes[1100] = 3
    split = _reading_change(sorted(strips), strips[1095], strips.__getitem__, changes)
    assert split == 1104
    assert not similar(strips[1095], strips[1121], CaptionOptions().merge_similarity)
    # Two readings of one caption are similar: no split by reading.
    assert similar(reading("Nobody knew where it ended"), reading("Nobody knew where it endcd"),
                   CaptionOptions().merge_similarity)
    same = {1095: reading("Now!"), 1107: reading("Now!")}
    assert _reading_change(sorted(same), same[1095], same.__getitem__, changes) is None
