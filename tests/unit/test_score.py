"""vabatch/tools/score.py: reading SRT/WebVTT, temporal-IoU matching, P/R/F1, boundary errors
in ms and frames, CER, and the phantom / missed / split / merged counts, on hand-made lists."""

from __future__ import annotations

import random

import pytest

from testkit import scoring as bench_scoring
from vabatch.errors import InputError
from vabatch.tools import score as scoring
from vabatch.tools.score import Cue

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello there
world

2
00:01:02,050 --> 00:01:03,000
你好
"""


def test_srt_is_read_by_the_srt_package_with_formatting_tags_removed():
    expected = [Cue(1000, 2500, "Hello there\nworld"), Cue(62050, 63000, "你好")]
    assert scoring.parse_srt_text(SRT) == expected
    assert scoring.parse_srt_text(SRT.replace("\n", "\r\n")) == expected
    assert scoring.parse_srt_text("") == []
    tagged = SRT.replace("Hello there", '{\\an8}<i>Hello</i> <font color="red">there</font>')
    assert scoring.parse_srt_text(tagged) == expected
    assert scoring.parse_srt_text(SRT.replace("你好", "a < b"))[1].text == "a < b"


def test_a_reference_that_does_not_parse_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"bad\.srt: not a valid SRT file"):
        scoring.parse_srt_text("this is not\nan SRT file\n", name="bad.srt")
    backwards = SRT.replace("00:00:02,500", "00:00:00,500")
    with pytest.raises(InputError, match="caption 1 ends at 500 ms, not after its start"):
        scoring.parse_srt_text(backwards)
    # the bench reads peers' files leniently: the bad block is skipped
    assert bench_scoring.parse_srt_text("junk\n\n" + SRT) == scoring.parse_srt_text(SRT)
    not_utf8 = tmp_path / "latin1.srt"
    not_utf8.write_bytes(SRT.replace("你好", "café").encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8 text"):
        scoring.read_subtitles(not_utf8)
    with pytest.raises(InputError, match=r"notes\.txt: not a subtitle file"):
        scoring.read_subtitles(tmp_path / "notes.txt")
    with pytest.raises(InputError, match=r"gone\.srt: no such file"):
        scoring.read_subtitles(tmp_path / "gone.srt")


def test_webvtt_is_read_by_webvtt_py(tmp_path):
    vtt = tmp_path / "talk.vtt"
    vtt.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.500 align:start\nHello &amp; "
                   "<b>there</b>\nworld\n\nNOTE a comment\n\n01:02.050 --> 01:03.000\n你好\n",
                   encoding="utf-8")
    assert scoring.read_subtitles(vtt) == [Cue(1000, 2500, "Hello & there\nworld"),
                                           Cue(62050, 63000, "你好")]
    (tmp_path / "bad.vtt").write_text("not a WebVTT file\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.vtt: not a valid WebVTT file"):
        scoring.read_subtitles(tmp_path / "bad.vtt")
    (tmp_path / "empty.vtt").write_text("WEBVTT\n", encoding="utf-8")
    assert scoring.read_subtitles(tmp_path / "empty.vtt") == []


def test_temporal_iou_and_overlap():
    assert scoring.temporal_iou(Cue(0, 1000, ""), Cue(500, 1500, "")) == pytest.approx(1 / 3)
    assert scoring.temporal_iou(Cue(0, 1000, ""), Cue(0, 1000, "")) == 1.0
    assert scoring.temporal_iou(Cue(0, 1000, ""), Cue(1000, 2000, "")) == 0.0  # touching
    assert scoring.temporal_iou(Cue(0, 1000, ""), Cue(0, 500, "")) == 0.5
    assert scoring.overlap_ms(Cue(0, 1000, ""), Cue(1000, 2000, "")) == 0
    assert scoring.overlap_ms(Cue(0, 1000, ""), Cue(999, 2000, "")) == 1


def test_overlapping_pairs_finds_exactly_the_overlapping_pairs():
    rng = random.Random(7)

    def cues(n):
        starts = [rng.randrange(0, 20_000) for _ in range(n)]
        return [Cue(s, s + rng.randrange(0, 4000), "") for s in starts]

    for _ in range(30):
        refs, hyps = cues(rng.randrange(0, 25)), cues(rng.randrange(0, 25))
        brute = sorted((i, j, scoring.overlap_ms(r, h)) for i, r in enumerate(refs)
                       for j, h in enumerate(hyps) if scoring.overlap_ms(r, h) > 0)
        assert sorted(scoring.overlapping_pairs(refs, hyps)) == brute


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
            Cue(2000, 2400, "noise"),        # touches ref 1, overlaps nothing: a phantom
            Cue(3600, 4600, "late")]         # IoU 400/1600 = 0.25 < 0.5: no match
    s = scoring.score(refs, hyps, fps=25)
    assert (s.refs, s.hyps, s.matched) == (3, 4, 2)
    assert s.precision == 0.5
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(4 / 7)
    assert s.start_error_ms == 50.0  # (100 + 0) / 2
    assert s.end_error_ms == 50.0    # (0 + 100) / 2
    assert s.start_error_frames == 1.25  # 50 ms at 25 fps (40 ms a frame)
    assert s.end_error_frames == 1.25
    # CER: "Hello world" 0/11, "two lines!" vs "Two lines" 2/9 -> 2/20
    assert s.cer == pytest.approx(2 / 20)
    # loose: case and spaces ignored: "twolines!" vs "twolines" 1/8; "helloworld" 0/10
    assert s.cer_loose == pytest.approx(1 / 18)
    assert [c.text for c in s.missed] == ["missed"]
    assert [c.text for c in s.extra] == ["noise", "late"]
    assert [c.text for c in s.phantom] == ["noise"]  # "late" overlaps "missed": not phantom
    assert (s.split, s.merged) == ([], [])
    summary = s.summary()
    assert {k: summary[k] for k in ("phantom", "missed", "split", "merged", "extra")} == {
        "phantom": 1, "missed": 1, "split": 0, "merged": 0, "extra": 2}
    details = s.details()
    assert [m["edits"] for m in details["misread"]] == [2]
    assert details["phantom_captions"] == [{"start_ms": 2000, "end_ms": 2400, "text": "noise"}]


def test_no_frame_rate_no_frame_errors():
    s = scoring.score([Cue(0, 1000, "a")], [Cue(40, 1000, "a")])
    assert s.start_error_ms == 40 and s.start_error_frames is None


def test_one_to_one_matching():
    # Two outputs over one reference: only one may match; the better one does.
    refs = [Cue(0, 1000, "a")]
    hyps = [Cue(0, 600, "a"), Cue(0, 950, "a")]
    s = scoring.score(refs, hyps)
    assert s.matched == 1 and s.pairs[0][1] == Cue(0, 950, "a")
    assert s.precision == 0.5 and s.recall == 1.0
    # each output lies (almost) wholly inside the reference: one caption in two pieces
    assert s.split == refs and s.phantom == [] and s.missed == []


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


def test_a_caption_split_in_three():
    refs = [Cue(0, 3000, "one caption, long"), Cue(4000, 5000, "next")]
    hyps = [Cue(0, 1000, "one caption"), Cue(1000, 2000, "one caption,"),
            Cue(2000, 3000, "one caption, long"), Cue(4000, 5000, "next")]
    s = scoring.score(refs, hyps)
    # no piece reaches IoU 0.5 (1/3 each): the caption is missed, its pieces are extra
    assert s.split == [refs[0]] and s.missed == [refs[0]]
    assert s.matched == 1 and len(s.extra) == 3 and s.phantom == [] and s.merged == []
    # cut in two, the longer piece still matches: split but not missed
    halves = scoring.score(refs[:1], [Cue(0, 2000, "a"), Cue(2000, 3000, "b")])
    assert halves.split == refs[:1] and halves.missed == [] and halves.matched == 1
    # a short overlap at the edge of a neighbour is no piece of it
    edge = scoring.score(refs[:1], [Cue(0, 3000, "a"), Cue(2800, 4000, "b")])
    assert edge.split == [] and edge.matched == 1


def test_captions_read_as_one_are_merged():
    refs = [Cue(0, 1000, "first"), Cue(1000, 2000, "second"), Cue(2000, 3000, "third")]
    hyps = [Cue(0, 2000, "first second"), Cue(2000, 3000, "third")]
    s = scoring.score(refs, hyps)
    assert s.merged == [hyps[0]] and s.split == []
    assert s.matched == 2  # IoU 0.5 with one of the two
    assert len(s.missed) == 1
    # covering one reference and a little of the next is no merge
    assert scoring.score(refs, [Cue(0, 1400, "first")]).merged == []


def test_touching_captions_overlap_nothing():
    refs = [Cue(1000, 2000, "a"), Cue(3000, 4000, "b")]
    hyps = [Cue(0, 1000, "x"), Cue(2000, 3000, "y"), Cue(4000, 4100, "z")]
    s = scoring.score(refs, hyps)
    assert s.phantom == hyps and s.matched == 0 and s.missed == refs
    assert s.split == [] and s.merged == []


def test_empty_reference_and_empty_output():
    empty = scoring.score([], [])
    assert (empty.precision, empty.recall, empty.f1) == (1.0, 1.0, 1.0)
    assert empty.cer is None and empty.start_error_ms is None
    assert empty.start_error_frames is None
    noisy = scoring.score([], [Cue(0, 1000, "NEWS 24"), Cue(2000, 2500, "+")])
    assert (noisy.precision, noisy.recall, noisy.f1) == (0.0, 1.0, 0.0)
    assert len(noisy.extra) == 2 and len(noisy.phantom) == 2
    silent = scoring.score([Cue(0, 1000, "a"), Cue(1000, 2000, "b")], [], fps=30)
    assert (silent.precision, silent.recall, silent.f1) == (1.0, 0.0, 0.0)
    assert len(silent.missed) == 2 and silent.phantom == [] and silent.split == []
    assert silent.cer is None and silent.end_error_frames is None


def test_scores_add_up_over_videos():
    a = scoring.score([Cue(0, 1000, "abcd")], [Cue(40, 1000, "abcx")], fps=25)
    b = scoring.score([], [Cue(0, 1000, "x")])
    c = scoring.score([Cue(0, 1000, "z")], [Cue(0, 1100, "z")])  # no frame rate known
    total = a + b + c
    assert (total.refs, total.hyps, total.matched) == (2, 3, 2)
    assert total.precision == pytest.approx(2 / 3) and total.recall == 1.0
    assert total.cer == pytest.approx(1 / 5)
    assert len(total.phantom) == 1
    assert total.start_error_ms == 20 and total.end_error_ms == 50
    assert total.start_error_frames == 1.0 and total.end_error_frames == 0.0  # a only
