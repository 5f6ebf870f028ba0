"""vabatch.tools.export: timestamps, SRT and WebVTT text (pure formatting, no database)."""

from __future__ import annotations

import pytest

from vabatch.tools.export import ExportedCaption, timestamp, to_srt, to_vtt


def caption(start_ms: int, end_ms: int, text: str) -> ExportedCaption:
    return ExportedCaption(start_ms, end_ms, start_ms // 40, end_ms // 40, text, 0.9, "auto")


@pytest.mark.parametrize(("ms", "srt", "vtt"), [
    (0, "00:00:00,000", "00:00:00.000"),
    (999, "00:00:00,999", "00:00:00.999"),
    (61_001, "00:01:01,001", "00:01:01.001"),
    (3_723_004, "01:02:03,004", "01:02:03.004"),
    (360_000_000, "100:00:00,000", "100:00:00.000"),
])
def test_timestamp(ms, srt, vtt):
    assert timestamp(ms, ",") == srt
    assert timestamp(ms, ".") == vtt


def test_srt_numbers_cues_and_drops_blank_lines():
    captions = [caption(1000, 2500, "  Hello there  \n\n world"), caption(62_050, 63_000, "你好")]
    assert to_srt(captions) == (
        "1\n00:00:01,000 --> 00:00:02,500\nHello there\nworld\n\n"
        "2\n00:01:02,050 --> 00:01:03,000\n你好\n")
    assert to_srt([]) == ""


def test_vtt_escapes_markup_characters():
    captions = [caption(0, 1500, "Tom & Jerry <live>\n-> next"), caption(2000, 2500, "a\n\nb")]
    assert to_vtt(captions) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.500\nTom &amp; Jerry &lt;live&gt;\n-&gt; next\n\n"
        "00:00:02.000 --> 00:00:02.500\na\nb\n")
    assert to_vtt([]) == "WEBVTT\n\n"


def test_srt_leaves_markup_characters_alone():
    assert to_srt([caption(0, 1000, "Tom & Jerry <3")]).splitlines()[2] == "Tom & Jerry <3"
