"""The corpus of ``bench/extract_bench.py``: burned-in captions in many looks.

Videos are 1280x720 unless named otherwise, made by testkit/corpus.py (SRT burned in with
ffmpeg's ``subtitles`` filter, i.e. libass) under bench/media/extract/ (git-ignored), once,
and reused.
Captions come from ``corpus.random_captions``: some two-line, some back to back, some with
gaps. ``python bench/extract_corpus.py`` only makes the media.

The random looks (``--random N --seed S`` of the bench, testkit/looks.py) are made under
bench/media/random/seed-S/ (git-ignored), each video with its spec as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testkit.corpus import VideoSpec, make_video, random_captions  # noqa: E402
from testkit.looks import random_look  # noqa: E402

MEDIA = Path(__file__).resolve().parent / "media" / "extract"
RANDOM_MEDIA = Path(__file__).resolve().parent / "media" / "random"
YELLOW = "&H0000FFFF"  # ASS &HAABBGGRR


def _spec(name: str, seconds: float, seed: int, language: str = "en",
          captions: dict | None = None, **options) -> VideoSpec:
    """``captions``: options of ``random_captions`` (durations, words per line)."""
    font = "Noto Sans CJK SC" if language.startswith("zh") else options.pop("font", "DejaVu Sans")
    return VideoSpec(name, random_captions(seconds, seed, language, **(captions or {})),
                     seconds, font=font, seed=seed, **options)


def full_corpus() -> list[VideoSpec]:
    """32 videos, 25-45 s each (16.58 video-minutes)."""
    return [
        _spec("en-photo-white", 45, 101, background="photo"),
        _spec("en-mandelbrot-yellow-25fps", 40, 102, background="mandelbrot", colour=YELLOW,
              fps=25),
        _spec("en-life-serif", 35, 103, background="life", font="DejaVu Serif", bold=False),
        _spec("en-small-thin", 35, 104, background="photo", font_size=16, outline=1.0),
        _spec("en-large-thick", 35, 105, background="gradients", font_size=30, outline=4.0),
        _spec("en-bright-white", 35, 106, background="bright"),
        _spec("en-top", 35, 107, background="photo", position="top"),
        _spec("zh-photo", 40, 108, language="zh", background="photo"),
        _spec("en-logo-ticker", 40, 109, background="photo", logo=True, ticker=True),
        _spec("en-scene-clock", 35, 110, background="gradients", scene_text=True, clock=True),
        VideoSpec("none-photo-logo", [], 30, background="photo", logo=True, scene_text=True,
                  seed=111),
        # Looks users meet beyond outlined text: an opaque box behind the text (TV), fades,
        # a vertical video with centred captions, dark text on a light outline, 1080p 24 fps
        # (where long lines wrap into three).
        _spec("en-boxed", 25, 112, background="photo", boxed=True, outline=1.5),
        _spec("zh-boxed", 25, 113, language="zh", background="gradients", boxed=True,
              outline=1.5),
        _spec("en-fade", 25, 114, background="photo", fade_ms=250),
        _spec("en-vertical-middle", 25, 115, background="photo", width=720, height=1280,
              position="middle", font_size=16),
        _spec("en-dark-on-light", 25, 116, background="bright", colour="&H00101010",
              outline_colour="&H00FFFFFF"),
        _spec("en-1080p-24fps", 25, 117, background="photo", width=1920, height=1080, fps=24),
        # Real footage: hard cuts (and dark scenes) under a caption that stays, heavy
        # compression at low resolution, text with only a drop shadow, a translucent box.
        _spec("en-cuts", 35, 118, background="cuts"),
        _spec("zh-cuts-fast", 30, 119, language="zh", background="cuts", cut_every_s=0.9),
        _spec("en-360p-crf34", 30, 120, background="cuts", width=640, height=360, crf=34),
        _spec("en-shadow-only", 30, 121, background="cuts", outline=0, shadow=2.0),
        _spec("en-translucent-box", 25, 122, background="cuts", boxed=True, outline=1.5,
              outline_colour="&H80000000"),
        # Bilingual subtitles, common on Chinese video: a Chinese line over a smaller
        # English one, every caption two lines.
        _spec("zh-en-bilingual", 30, 123, language="zh+en", background="photo",
              second_line_size=16),
        # Speaker colours of subtitles for the deaf: green, magenta, cyan, yellow, white.
        _spec("en-sdh-colours", 30, 124, background="cuts",
              caption_colours=("#00FF00", "#FF00FF", "#00FFFF", "#FFFF00", "#FFFFFF")),
        # Italics, as subtitles set songs and voices off screen: slanted serif, every other
        # caption, over hard cuts; and every caption in bold oblique sans.
        _spec("en-italic-serif", 30, 125, background="cuts", font="DejaVu Serif", bold=False,
              italic_every=2),
        _spec("en-italic", 25, 126, background="photo", italic_every=1),
        # Quick dialogue: one or two words shown for 0.3-0.9 s ("No.", "Wait!").
        _spec("en-short-quick", 25, 127, background="cuts",
              captions={"min_ms": 300, "max_ms": 900, "min_words": 1, "max_words": 2}),
        # Every fourth caption moved to the top of the frame, as broadcast captions move out
        # of the way of on-screen text. A known loss: the data contract has one band per
        # video, and layout gives it to the bottom, where most captions are.
        _spec("en-moved-top", 30, 128, background="photo", moved_every=4),
        # A score counter on every frame and few captions (one in three of the usual): before
        # 0.2.2 the counter took the band and every caption was lost.
        _spec("en-sparse-scoreboard", 30, 129, background="cuts", clock=True,
              captions={"keep_every": 3}),
        # A news headline bar at the top (new words every 3 s, on every frame) over the
        # captions, and the same with half the captions: before 0.2.2 the bar took the band.
        _spec("en-news-headline", 30, 130, background="photo", headline=True),
        _spec("en-news-headline-sparse", 30, 131, background="cuts", headline=True,
              captions={"keep_every": 2}),
        # Short-form video: each line revealed a word at a time, 0.3-0.6 s per word.
        _spec("en-word-by-word", 30, 132, background="photo",
              captions={"word_by_word": True}),
    ]


def quick_corpus() -> list[VideoSpec]:
    """3 short videos for a smoke run."""
    return [
        _spec("quick-en-photo", 15, 201, background="photo"),
        _spec("quick-zh-gradients", 15, 202, language="zh", background="gradients"),
        VideoSpec("quick-none", [], 10, background="life", logo=True, seed=203),
    ]


def make_all(specs: list[VideoSpec], media: Path = MEDIA, jobs: int = 2) -> list[tuple[Path, Path]]:
    """Render every spec (skipping those already made), ``jobs`` ffmpeg processes at once."""
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(lambda spec: make_video(spec, media), specs))


def random_corpus(seed: int, count: int) -> list[VideoSpec]:
    """``count`` random looks of ``seed`` (testkit/looks.py)."""
    return [random_look(seed, index) for index in range(count)]


def _nice() -> None:
    os.nice(10)


def make_random_all(specs: list[VideoSpec], media: Path, jobs: int = 2
                    ) -> list[tuple[Path, Path]]:
    """Render random looks into ``media`` (``jobs`` niced processes), each with its spec as
    ``<name>.json``; a video whose stored spec differs from today's draw (other fonts
    installed, a changed generator) is made again."""
    media.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        record = media / f"{spec.name}.json"
        wanted = json.dumps(dataclasses.asdict(spec), ensure_ascii=False, indent=1)
        if record.exists() and record.read_text(encoding="utf-8") == wanted:
            continue
        for stale in (f"{spec.name}.mp4", f"{spec.name}.srt", f"{spec.name}.burn.srt",
                      f"{spec.name}-photo.png"):
            (media / stale).unlink(missing_ok=True)
        record.write_text(wanted, encoding="utf-8")
    with ProcessPoolExecutor(jobs, initializer=_nice) as pool:
        return list(pool.map(make_video, specs, [media] * len(specs)))


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    for video, _ in make_all(quick_corpus() if quick else full_corpus()):
        print(video)
