"""vabatch.stages.captions.detection_side_for: the scale strips are detected at."""

from __future__ import annotations

from vabatch.stages.captions import MIN_DETECTION_SIDE, CaptionOptions, detection_side_for


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
