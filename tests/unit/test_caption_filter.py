"""Which read candidates are captions (vabatch.vision.caption_filter)."""

from __future__ import annotations

from vabatch.vision.caption_filter import (
    COUNTER_REASON,
    Candidate,
    FilterRules,
    Reference,
    beside_the_caption,
    is_static,
    judge,
    letter_weight,
    reads_as_counter,
    stray_lines,
)

LINE = (40, 30, 100, 400)  # top, height, left, width: the video's caption row


def sure(text: str = "We never thought about it", lines=(LINE,)) -> Candidate:
    return Candidate(text, 0.97, 60, lines)


def test_letter_weight_counts_cjk_twice_and_ignores_punctuation():
    assert letter_weight("Hi, 2!") == 3
    assert letter_weight("十") == 2
    assert letter_weight("+ --") == 0


def test_sure_captions_are_kept():
    assert judge([sure(), sure("Please remember this moment")]) == [None, None]


def test_text_without_letters_is_rejected_with_its_text():
    [reason] = judge([Candidate("+", 0.99, 30, (LINE,))])
    assert reason == "no letters or digits in '+'"


def test_glyphs_of_another_size_are_rejected_once_the_video_has_sure_captions():
    small = Candidate("Market street", 0.95, 40, ((45, 12, 300, 100),))
    reasons = judge([sure(), sure("Please remember this moment"), small])
    assert reasons[:2] == [None, None]
    assert reasons[2] == "text 12 px high where this video's captions are 30 px"
    # Without sure captions there is nothing to compare with: the size rule does not apply.
    assert judge([small]) == [None]
    # Taller boxes are allowed more: the detector's box around one short word is taller
    # than around a line (dev seed 2: "Stop!" 103 px high where lines are 62).
    word = Candidate("Stop!", 0.99, 12, ((36, 50, 300, 90),))
    sign = Candidate("MARKET", 0.99, 40, ((30, 60, 300, 200),))
    reasons = judge([sure(), sure("Please remember this moment"), word, sign])
    assert reasons[2] is None
    assert reasons[3] == "text 60 px high where this video's captions are 30 px"


def test_text_outside_the_caption_rows_is_rejected_but_one_line_in_them_is_enough():
    # The layout's caption lines say where captions are, even where a sign in the scene is
    # read as confidently as a caption.
    reference = Reference.of_lines([LINE, (42, 28, 90, 420)])
    assert reference == Reference(29.0, (55.0, 56.0), centre_x=300.0, left_x=95.0)
    sign = Candidate("City market", 0.95, 40, ((0, 30, 100, 300),))
    three_lines = Candidate("a long caption\nthat wraps\ninto three", 0.8, 40,
                            ((0, 30, 0, 400), (20, 30, 0, 400), LINE))
    reasons = judge([sure(), sign, three_lines], reference=reference)
    assert reasons == [None, "text at row 15 of the band, where this video's captions never "
                       "are", None]
    assert Reference.of_lines([LINE]) is None


def test_short_text_needs_confidence_and_time():
    rules = FilterRules()
    phantom = Candidate("URIV", 0.7, 30, (LINE,))
    flash = Candidate("Yes", 0.99, rules.short_min_frames - 1, (LINE,))
    quick = Candidate("Yes", 0.99, 12, (LINE,))
    one_cjk = Candidate("十", 0.6, 30, (LINE,))
    reasons = judge([phantom, flash, quick, one_cjk])
    assert reasons[0] == "short text read with confidence 0.70 (< 0.85)"
    assert reasons[1] == f"short text shown for {rules.short_min_frames - 1} frames only"
    assert reasons[2] is None
    assert reasons[3].startswith("short text read with confidence 0.60")
    # Long enough text is not judged by the short-text rule.
    assert judge([Candidate("Nobody knew where it ended", 0.7, 3, (LINE,))]) == [None]


def test_a_sign_read_with_the_caption_is_a_stray_line_but_a_wrapped_line_is_not():
    reference = Reference.of_lines([LINE, (42, 28, 90, 420)])
    sign = (-80, 30, 100, 300)  # far above the caption rows
    wrapped = (8, 30, 60, 500)  # the line above the caption's first, 2 px apart
    away = "a line at row -65 of the band, away from this video's caption rows"
    assert stray_lines([sign, LINE], reference) == {0: away}
    assert stray_lines([wrapped, LINE], reference) == {}
    assert stray_lines([sign, wrapped, LINE], reference) == {0: away}
    # Nothing in a caption row: the whole candidate is judged, no line is singled out.
    assert stray_lines([sign], reference) == {}
    assert stray_lines([sign, LINE], None) == {}


def test_a_timecode_stacked_on_the_caption_is_a_stray_line():
    # A running timecode sign just above the caption (dev seed 2): stacked like a wrapped
    # line, but it reads as a counter, so it is no part of the caption (it split the
    # caption at every change of its digits).
    reference = Reference.of_lines([LINE, (42, 28, 90, 420)])
    timecode = (8, 30, 200, 160)
    texts = ["00:00:04.571", "Nobody knew where it ended"]
    assert stray_lines([timecode, LINE], reference, texts=texts) == {0: COUNTER_REASON}
    assert stray_lines([timecode, LINE], reference,
                       texts=["In 1984 we left", texts[1]]) == {}
    assert reads_as_counter("12:45") and reads_as_counter("LAP 3/12 00:41")
    assert not reads_as_counter("In 1984 we left") and not reads_as_counter("42")
    assert not reads_as_counter("In 1984.") and not reads_as_counter("It's 12:45 now.")
    # A running counter alone ("201", "203", ...), even in a caption row (dev seed 2).
    assert reads_as_counter("203") and not reads_as_counter("42 days")
    assert stray_lines([(44, 26, 20, 60), LINE], reference,
                       texts=["203", "Nobody knew"]) == {0: COUNTER_REASON}
    # A candidate that is a running timecode alone is no caption.
    [reason] = judge([Candidate("00:00:04.571", 0.99, 30, (LINE,))])
    assert reason == "'00:00:04.571' reads as a clock, counter or timecode"


def test_static_text_the_layout_labelled_noise_is_found_box_by_box():
    logo = (44, 24, 450, 160)  # in the caption row, right of the caption
    reference = Reference.of_lines([LINE, (42, 28, 90, 420)],
                                   noise=[("sportplus", logo)] * 3 + [("hello", LINE)] * 2)
    shifted = (46, 22, 455, 150)
    # Seen as noise in fewer than 3 sampled frames: a caption the layout misjudged.
    assert not is_static("Hello", LINE, reference)
    assert is_static("SPORT PLUS", shifted, reference)
    assert is_static("SPORTPLUS", shifted, reference)
    assert is_static("SPORT", shifted, reference)  # part of it
    # Other text at that place, that text elsewhere, or no layout: not static.
    assert not is_static("Good night", shifted, reference)
    assert not is_static("SPORT PLUS", (120, 30, 100, 400), reference)
    assert not is_static("SPORT PLUS", shifted, None)


def test_a_sign_beside_the_caption_on_its_line_is_left_out():
    # Dev seed 2: an "EXIT" sign sliding along the caption row was read into the caption
    # ("EXIT That knew,"). The caption sits where the video's captions sit (centred on 300).
    reference = Reference.of_lines([(40, 30, 200, 200), (40, 30, 150, 300)])
    sign, caption = (40, 30, 20, 60), (42, 28, 230, 140)
    assert beside_the_caption([sign, caption], reference) == {0}
    assert beside_the_caption([caption, (40, 30, 480, 60)], reference) == {1}
    # Words of one caption split by the detector are close together: one piece.
    words = [(42, 28, 160, 100), (42, 28, 270, 90), (42, 28, 370, 80)]
    assert beside_the_caption(words, reference) == set()
    assert beside_the_caption([sign, caption], None) == set()


def test_a_sign_moving_through_the_band_is_static_text_wherever_it_is():
    # The layout saw "出口" as noise in 4 sampled frames, each time somewhere else.
    noise = [("出口", (0, 30, 40 + 90 * n, 60)) for n in range(4)]
    reference = Reference.of_lines([LINE, (42, 28, 90, 420)], noise=noise)
    assert is_static("出口", (44, 30, 500, 60), reference)
    assert not is_static("出口", (44, 30, 500, 60), Reference.of_lines(
        [LINE, (42, 28, 90, 420)], noise=noise[:3]))  # seen in 3 frames only
    assert not is_static("出", (44, 30, 500, 30), Reference.of_lines(
        [LINE, (42, 28, 90, 420)], noise=[("出", n[1]) for n in noise]))  # too short
