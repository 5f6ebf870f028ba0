"""The OCR engines side by side, in one run: recognition CER and speed on true caption line
boxes, detection speed, and what each reading trick is worth.

Makes (once, under bench/media/engines/, git-ignored) short videos in many caption looks
with testkit/corpus.py (libass, known SRT): English in sans, serif, small and thin, large
and thick, 360p heavily compressed (``--more``: boxed, dark on light, yellow italics);
Chinese in sans and serif, traditional characters, 360p, and bilingual. At a third and at
two thirds of each caption it renders the same subtitles alone over flat grey (libass, no
encoding), so the ink of every line is known:
its box is a *true* line box, found without either engine's detector.

Then, per engine (``ppocr6``, the default, and ``rapidocr``, PP-OCRv4, when its package is
installed: ``pip install --no-deps rapidocr-onnxruntime``):

* recognition only on the true boxes: CER (and ignoring spaces) and milliseconds per line,
  with the captions stage's readings (margin 0.2, second reading 0.35, strokes) and with
  each trick removed;
* the caption strip read as the captions stage reads it (detection at long side 960, then
  recognition): CER per strip, and the same with detection at 640;
* detection alone: milliseconds on a frame downscaled to 640 and on a caption strip.

Ratios are against the old engine measured in the same run. Numbers go to stdout and
bench/out/ocr_engines.json.

    .venv/bin/python bench/ocr_engines_bench.py            # 10 looks (--more: 13)
    .venv/bin/python bench/ocr_engines_bench.py --quick    # 3 looks
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.extract_corpus import make_all  # noqa: E402
from testkit import scoring  # noqa: E402
from testkit.corpus import (  # noqa: E402
    Caption,
    VideoSpec,
    _filters,
    make_video,
    random_captions,
    write_srt,
)
from vabatch.errors import VabatchError  # noqa: E402
from vabatch.ocr_engines import create_engine  # noqa: E402

MEDIA = Path(__file__).resolve().parent / "media" / "engines"
OUT = Path(__file__).resolve().parent / "out" / "ocr_engines.json"
YELLOW = "&H0000FFFF"
TRADITIONAL = ("今天天氣很好", "我們一起去公園", "你知道他在哪裡嗎", "這個問題很重要",
               "謝謝你的幫助", "城市的夜晚很安靜", "他每天都學習中文", "請再說一遍",
               "時間過得真快", "我們需要更多時間", "這裡的風景很美", "歡迎來到臺灣")
GREY = 128
INK = 40  # a pixel differing from the flat grey by more than this is caption ink
# The captions stage's readings (CaptionOptions) and the same without each trick.
CAPTIONS = {"line_padding": 0.2, "second_padding": 0.35, "stroke_reading": True}
VARIANTS = {
    "captions stage": CAPTIONS,
    "no strokes reading": {**CAPTIONS, "stroke_reading": False},
    "margin only": {"line_padding": 0.2, "second_padding": None, "stroke_reading": False},
    "nothing": {"line_padding": 0.0, "second_padding": None, "stroke_reading": False},
}


def looks(quick: bool, more_looks: bool = False) -> list[VideoSpec]:
    def spec(name, seed, language="en", **options):
        font = {"en": "DejaVu Sans"}.get(language, "Noto Sans CJK SC")
        captions = random_captions(20, seed, "zh" if language == "zh-hant" else language)
        if language == "zh-hant":
            captions = [Caption(c.start_ms, c.end_ms, TRADITIONAL[n % len(TRADITIONAL)])
                        for n, c in enumerate(captions)]
            font = "Noto Sans CJK TC"
        return VideoSpec(name, captions, 20, seed=seed, **{"font": font, **options})

    every = [
        spec("en-photo", 301, background="photo"),
        spec("zh-photo", 302, language="zh", background="photo"),
        spec("en-360p-crf34", 303, background="cuts", width=640, height=360, crf=34),
        spec("en-serif", 304, background="life", font="DejaVu Serif", bold=False),
        spec("en-small-thin", 305, background="photo", font_size=16, outline=1.0),
        spec("en-large-thick", 306, background="gradients", font_size=30, outline=4.0),
        spec("zh-serif", 310, language="zh", background="photo", font="Noto Serif CJK SC",
             bold=False),
        spec("zh-hant", 311, language="zh-hant", background="cuts"),
        spec("zh-360p-crf34", 312, language="zh", background="cuts", width=640, height=360,
             crf=34),
        spec("zh-en-bilingual", 313, language="zh+en", background="photo",
             second_line_size=16),
    ]
    more = [  # --more: three more English looks
        spec("en-boxed", 307, background="photo", boxed=True, outline=1.5),
        spec("en-dark-on-light", 308, background="bright", colour="&H00101010",
             outline_colour="&H00FFFFFF"),
        spec("en-italic-yellow", 309, background="cuts", italic_every=1, colour=YELLOW),
    ]
    return every[:3] if quick else every + (more if more_looks else [])


def _frames(command: list[str], width: int, height: int, count: int) -> list[np.ndarray]:
    raw = subprocess.run(command, check=True, capture_output=True).stdout
    size = width * height * 3
    return [np.frombuffer(raw[n * size:(n + 1) * size], np.uint8).reshape(height, width, 3)
            for n in range(min(count, len(raw) // size))]


def caption_frames(spec: VideoSpec, video: Path) -> list[tuple[Caption, np.ndarray, np.ndarray]]:
    """(caption, frame of the video, the subtitles alone over grey) at a third and at two
    thirds of each caption (two backgrounds under the same text)."""
    shown = [(c, round((c.start_ms + (c.end_ms - c.start_ms) * share) * spec.fps / 1000))
             for c in spec.captions for share in (1 / 3, 2 / 3)]
    numbers = [n for _, n in shown]
    select = "select='" + "+".join(f"eq(n\\,{n})" for n in numbers) + "'"
    raw = ["-vsync", "0", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
    real = _frames(["ffmpeg", "-v", "error", "-i", str(video), "-vf", select, *raw],
                   spec.width, spec.height, len(numbers))
    srt = write_srt(spec.captions, MEDIA / f"{spec.name}.ink.srt")
    subtitles = _filters(replace(spec, background="testsrc2"), srt)
    ink = _frames(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                   f"color=c=#808080:s={spec.width}x{spec.height}:r={spec.fps}"
                   f":d={spec.duration_s:.3f}", "-vf", f"{subtitles},{select}", *raw],
                  spec.width, spec.height, len(numbers))
    return [(c, f, i) for (c, _), f, i in zip(shown, real, ink, strict=True)]


def line_boxes(ink: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of each run of rows holding ink, top to bottom."""
    mask = (np.abs(ink.astype(np.int16) - GREY) > INK).any(axis=2)
    rows = mask.any(axis=1)
    boxes, top = [], None
    for y, on in enumerate([*rows, False]):
        if on and top is None:
            top = y
        elif not on and top is not None:
            columns = np.flatnonzero(mask[top:y].any(axis=0))
            boxes.append((int(columns[0]), top, int(columns[-1]) + 1, y))
            top = None
    return boxes


def quad(box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = box
    return np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)


def samples(specs: list[VideoSpec]) -> tuple[list, list, int]:
    """Lines (frame, box, text, look) and strips (strip, text, look), at a third and at two
    thirds of each caption; captions skipped where libass wrapped a line (more ink rows
    than text lines, or rows that touch: one box much taller than the look's lines)."""
    lines, strips, skipped = [], [], 0
    for spec in specs:
        video, _ = make_video(spec, MEDIA)
        shown = [(caption, frame, line_boxes(ink))
                 for caption, frame, ink in caption_frames(spec, video)]
        line_height = statistics.median(b[3] - b[1] for _, _, boxes in shown for b in boxes)
        for caption, frame, boxes in shown:
            texts = caption.text.split("\n")
            if len(boxes) != len(texts) or max(b[3] - b[1] for b in boxes) > 1.4 * line_height:
                skipped += 1
                continue
            for box, text in zip(boxes, texts, strict=True):
                lines.append((frame, box, text, spec.name))
            height = max(b[3] - b[1] for b in boxes)
            top = max(0, boxes[0][1] - height)
            bottom = min(spec.height, boxes[-1][3] + height)
            strips.append((np.ascontiguousarray(frame[top:bottom]), caption.text, spec.name))
    return lines, strips, skipped


def errors(hypothesis: str, reference: str) -> tuple[int, int, int, int]:
    """(edits, reference characters) as written and with spaces ignored."""
    hyp, ref = scoring.normalise(hypothesis), scoring.normalise(reference)
    loose_hyp, loose_ref = scoring.normalise_loose(hypothesis), scoring.normalise_loose(reference)
    return (scoring.levenshtein(hyp, ref), len(ref),
            scoring.levenshtein(loose_hyp, loose_ref), len(loose_ref))


def cer(rows: list[tuple[int, int, int, int]], looks_: list[str] | None = None,
        look: str | None = None) -> dict:
    picked = [r for n, r in enumerate(rows) if look is None or looks_[n] == look]
    edits, chars, loose_edits, loose_chars = (sum(column) for column in zip(*picked, strict=True))
    return {"cer": edits / chars, "cer_no_spaces": loose_edits / loose_chars,
            "lines": len(picked)}


def speeds(names: list[str], lines: list, strips: list, frame: np.ndarray) -> dict:
    """Milliseconds per recognition of a line cut (margin 0.2), per detection of a frame
    downscaled to 640 and of a caption strip at 960 (the stages' sizes), models warm. The
    engines take turns on every item, so a change in the machine's load hits both alike."""
    from vabatch.ocr_engines.line_reading import _cut_line, _pad_quad

    cuts = [_cut_line(f, _pad_quad(quad(box), 0.2)) for f, box, _, _ in lines]
    jobs = {
        "recognition_ms_per_line": (
            {name: create_engine(name)._recognise for name in names}, cuts),
        "detection_ms_frame_640": (
            {name: create_engine(name, detection_side=640).detect for name in names},
            [frame] * 9),
        "detection_ms_strip_960": (
            {name: create_engine(name, detection_side=960).detect for name in names},
            [strip for strip, _, _ in strips]),
    }
    report = {name: {} for name in names}
    for key, (calls, items) in jobs.items():
        times = {name: [] for name in names}
        for call in calls.values():
            call(items[0])  # load the models
        for item in items:
            for name, call in calls.items():
                started = time.perf_counter()
                call(item)
                times[name].append(time.perf_counter() - started)
        for name in names:
            report[name][key] = statistics.median(times[name]) * 1000
    return report


def measure(name: str, lines: list, strips: list) -> dict:
    """CER of the true line boxes with each set of readings, and of the strips."""
    looks_ = [line[3] for line in lines]
    report: dict = {"variants": {}, "strips": {}, "version": create_engine(name).version}
    for variant, options in VARIANTS.items():
        # min_confidence 0: a line read with low confidence still counts, as read.
        reader = create_engine(name, min_confidence=0.0, **options)
        started = time.perf_counter()
        rows = []
        for frame_, box, text, _ in lines:
            read = reader.read_lines(frame_, [quad(box)])
            rows.append(errors(read[0].text if read else "", text))
        seconds = time.perf_counter() - started
        report["variants"][variant] = {**cer(rows), "ms_per_line": seconds * 1000 / len(rows)}
        if variant == "captions stage":
            report["per_look"] = {look: cer(rows, looks_, look) for look in dict.fromkeys(looks_)}
    for side in (960, 640):
        reader = create_engine(name, detection_side=side, min_confidence=0.6, **CAPTIONS)
        started = time.perf_counter()
        rows = []
        for strip, text, _ in strips:
            read = reader.read(strip)
            rows.append(errors("\n".join(box.text for box in read), text))
        seconds = time.perf_counter() - started
        report["strips"][side] = {**cer(rows), "strips": len(rows),
                                  "ms_per_strip": seconds * 1000 / len(rows)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 looks")
    parser.add_argument("--more", action="store_true", help="3 more English looks")
    parser.add_argument("--engines", default="ppocr6,rapidocr")
    args = parser.parse_args()
    specs = looks(args.quick, args.more)
    make_all(specs, MEDIA, jobs=2)
    lines, strips, skipped = samples(specs)
    frame = next(f for f, *_ in lines if f.shape[1] == 1280)
    print(f"{len(lines)} true line boxes and {len(strips)} strips from "
          f"{len(specs)} looks ({skipped} captions skipped: wrapped)")
    results = {}
    for name in args.engines.split(","):
        try:
            create_engine(name).version  # noqa: B018 - the package must be there
        except VabatchError as error:
            print(f"{name}: skipped, {error}")
            continue
        results[name] = measure(name, lines, strips)
    for name, figures in speeds(list(results), lines, strips, frame).items():
        results[name].update(figures)
    base = results.get("rapidocr")
    for name, report in results.items():
        print(f"\n== {name} {report['version']}")
        for key in ("recognition_ms_per_line", "detection_ms_frame_640",
                    "detection_ms_strip_960"):
            ratio = f"  ({report[key] / base[key]:.2f}x rapidocr)" if base else ""
            print(f"{key:28s} {report[key]:8.1f}{ratio}")
        for variant, figures in report["variants"].items():
            ratio = (f"  ({figures['cer'] / base['variants'][variant]['cer']:.2f}x rapidocr)"
                     if base and base["variants"][variant]["cer"] else "")
            print(f"lines, {variant:22s} CER {figures['cer']:.2%} (no spaces "
                  f"{figures['cer_no_spaces']:.2%}), {figures['ms_per_line']:.0f} ms/line{ratio}")
        for side, figures in report["strips"].items():
            print(f"strips, detection at {side:4d}  CER {figures['cer']:.2%} (no spaces "
                  f"{figures['cer_no_spaces']:.2%}), {figures['ms_per_strip']:.0f} ms/strip")
        print("per look (captions stage):", ", ".join(
            f"{look} {f['cer']:.1%}" for look, f in report["per_look"].items()))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"lines": len(lines), "strips": len(strips),
                               "skipped": skipped, "engines": results}, indent=1))


if __name__ == "__main__":
    main()
