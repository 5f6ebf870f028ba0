"""testkit/looks.py with ffmpeg: a random look, cut to a few seconds at a small size, renders
to a video of exactly its declared frames, with the reference SRT that was burned in."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess

import pytest

from testkit import scoring
from testkit.corpus import Caption, VideoSpec, frame_ms, make_video
from testkit.looks import BACKGROUNDS, random_look

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def _short(spec, seconds: float = 3.0):
    """The look cut to its first ``seconds`` and scaled to about 320 pixels wide."""
    frames = round(seconds * spec.fps)
    end_ms = frame_ms(frames, spec.fps)
    captions = [c for c in spec.captions if c.end_ms <= end_ms]
    width, height = (320, 180) if spec.width >= spec.height else (180, 320)
    return dataclasses.replace(spec, captions=captions, frames=frames,
                               duration_s=frames / spec.fps, width=width, height=height)


def _frame_count(video) -> int:
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                            "-show_entries", "stream=nb_read_frames", "-of", "json", str(video)],
                           capture_output=True, text=True, check=True)
    return int(json.loads(probe.stdout)["streams"][0]["nb_read_frames"])


def _first_look(wanted) -> object:
    """The first look of development seed 1 that has ``wanted`` (fonts differ by machine,
    so the index of a look with a given property does too)."""
    return next(spec for spec in (random_look(1, i) for i in range(60)) if wanted(spec))


@pytest.mark.parametrize("wanted", [
    lambda s: s.background == "zoom" and not float(s.fps).is_integer(),
    lambda s: s.signs and s.background == "cuts" and s.extra["look"]["language"] != "en",
], ids=["zoom-29.97fps", "cuts-signs-chinese"])
def test_a_short_random_look_renders_its_frames_and_its_reference(tmp_path, wanted):
    spec = _short(_first_look(wanted))
    assert spec.captions
    video, srt = make_video(spec, tmp_path)
    assert _frame_count(video) == spec.frames
    reference = scoring.parse_srt(srt)
    assert [(c.start_ms, c.end_ms, c.text) for c in reference] == [
        (c.start_ms, c.end_ms, c.text) for c in spec.captions]


def _frame_hashes(video) -> list[str]:
    """The MD5 of every decoded frame (ffmpeg's framemd5 muxer)."""
    listing = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-f", "framemd5", "-"],
                             capture_output=True, text=True, check=True).stdout
    return [line.rsplit(",", 1)[1].strip() for line in listing.splitlines()
            if line and not line.startswith("#")]


@pytest.mark.parametrize("background", sorted(BACKGROUNDS))
def test_a_spec_renders_the_same_frames_on_every_run(tmp_path, background):
    # ffmpeg draws some defaults from the clock (gradients' colours, life's first grid):
    # the same spec then gave other pixels on each run, and other OCR readings.
    spec = VideoSpec("same", [Caption(0, 400, "We never thought about it")], 0.6,
                     width=192, height=108, fps=10, frames=6, background=background,
                     logo=True, seed=11)
    first, _ = make_video(spec, tmp_path / "first")
    second, _ = make_video(spec, tmp_path / "second")
    hashes = _frame_hashes(first)
    assert len(hashes) == spec.frames
    assert _frame_hashes(second) == hashes
