"""testkit/scoring.py: SRT parsing, temporal-IoU matching, P/R/F1, boundary errors, CER."""

from __future__ import annotations

import pytest

from testkit import scoring
from testkit.scoring import Cue

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello there
world

2
00:01:02,050 --> 00:01:03,000
你好
"""


def test_parse_srt_with_and_without_the_srt_package():
    expected = [Cue(1000, 2500, "Hello there\nworld"), Cue(62050, 63000, "你好")]
    assert scoring.parse_srt_text(SRT) == expected
    assert scoring._parse_srt_small(SRT) == expected
    assert scoring._parse_srt_small(SRT.replace("\n", "\r\n")) == expected
    assert scoring.parse_srt_text("") == []


def test_temporal_iou():
    assert scoring.temporal_iou(Cue(0, 1000, ""), Cue(500, 1500, "")) == pytest.approx(1 / 3)
    assert scoring.temporal_iou(Cue(0, 1000, ""), Cue(0, 1000, "")) == 1.0
    assert scoring.temporal_iou(Cue(0, 1000, ""), Cue(1000, 2000, "")) == 0.0
    assert scoring.temporal_iou(Cue(0, 1000, ""), Cue(0, 500, "")) == 0.5


def test_levenshtein_and_normalisation():
    assert scoring.levenshtein("kitten", "sitting") == 3
    assert scoring.levenshtein("", "abc") == 3
    assert scoring.levenshtein("abc", "abc") == 0
    assert scoring.normalise(" Two\nlines   here ") == "Two lines here"
    assert scoring.normalise_loose("Two\nLines  here") == "twolineshere"


def test_scores_computed_by_hand():
    refs = [Cue(0, 1000, "Hello world"), Cue(1000, 2000, "Two\nlines"),
            Cue(3000, 4000, "missed")]
    hyps = [Cue(100, 1000, "Hello world"),   # IoU 0.9, exact text
            Cue(1000, 1900, "two  lines!"),  # IoU 0.9, 2 edits (t, !) over 9 chars
            Cue(2000, 2400, "noise"),        # overlaps nothing: false positive
            Cue(3600, 4600, "late")]         # IoU 400/1600 = 0.25 < 0.5: no match
    s = scoring.score(refs, hyps)
    assert (s.refs, s.hyps, s.matched) == (3, 4, 2)
    assert s.precision == 0.5
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))  # 4/7
    assert s.f1 == pytest.approx(4 / 7)
    assert s.start_error_ms == 50.0  # (100 + 0) / 2
    assert s.end_error_ms == 50.0    # (0 + 100) / 2
    # CER: "Hello world" 0/11, "two lines!" vs "Two lines" 2/9 -> 2/20
    assert s.cer == pytest.approx(2 / 20)
    # loose: case and spaces ignored: "twolines!" vs "twolines" 1/8; "helloworld" 0/10
    assert s.cer_loose == pytest.approx(1 / 18)
    assert [c.text for c in s.missed] == ["missed"]
    assert [c.text for c in s.extra] == ["noise", "late"]


def test_one_to_one_matching():
    # Two hypotheses over one reference: only one may match; the better one does.
    refs = [Cue(0, 1000, "a")]
    hyps = [Cue(0, 600, "a"), Cue(0, 950, "a")]
    s = scoring.score(refs, hyps)
    assert s.matched == 1 and s.pairs[0][1] == Cue(0, 950, "a")
    assert s.precision == 0.5 and s.recall == 1.0


def test_matching_is_maximum_not_just_greedy():
    # Greedy-by-IoU pairs r0-h1 (IoU 0.9) first, which would leave r1 alone; an augmenting
    # path gives r0-h0 and r1-h1 (overlapping references, e.g. stacked captions).
    refs = [Cue(0, 1000, "r0"), Cue(100, 1100, "r1")]
    hyps = [Cue(0, 550, "h0"), Cue(100, 1000, "h1")]
    assert scoring.temporal_iou(refs[0], hyps[1]) == pytest.approx(0.9)
    assert scoring.temporal_iou(refs[0], hyps[0]) == pytest.approx(0.55)
    assert scoring.temporal_iou(refs[1], hyps[0]) < 0.5
    assert scoring.temporal_iou(refs[1], hyps[1]) == pytest.approx(0.9)
    assert scoring.match(refs, hyps) == [(0, 0), (1, 1)]


def test_video_without_captions():
    empty = scoring.score([], [])
    assert (empty.precision, empty.recall, empty.f1) == (1.0, 1.0, 1.0)
    assert empty.cer is None and empty.start_error_ms is None
    noisy = scoring.score([], [Cue(0, 1000, "NEWS 24")])
    assert (noisy.precision, noisy.recall, noisy.f1) == (0.0, 1.0, 0.0)
    assert len(noisy.extra) == 1


def test_scores_add_up_over_videos():
    a = scoring.score([Cue(0, 1000, "abcd")], [Cue(0, 1000, "abcx")])
    b = scoring.score([], [Cue(0, 1000, "x")])
    total = a + b
    assert (total.refs, total.hyps, total.matched) == (1, 2, 1)
    assert total.precision == 0.5 and total.recall == 1.0
    assert total.cer == 0.25
