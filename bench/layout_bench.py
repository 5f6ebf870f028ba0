"""Layout accuracy: vabatch's caption band and box labels against known ground truth.

Makes (once, under bench/media/layout/, git-ignored) a set of generated 1280x720 videos
that the tests do not use: captions at the bottom and at the top, English and Chinese,
several backgrounds (photo, gradients, mandelbrot, life, bright), with a static logo, a
moving ticker, scene text, and one video without captions (testkit/corpus.py, read-only).

The known caption box: the video's own SRT, burned in with the very ``subtitles`` filter
and ``force_style`` that corpus.py used for the video, onto ffmpeg's ``color=black``
source; every pixel the captions touch in any frame is a caption pixel. The outline and
shadow are black in the videos, so this render recolours them (``OutlineColour``,
``BackColour``; colours only, the geometry is libass's own) to count their pixels too.

Runs ``vabatch ingest``, ``vabatch ocr`` and ``vabatch layout`` (CLI, defaults) in a fresh
data root and reports, per video and overall:

* band IoU with the known caption box, and with that box widened to the full frame width
  (vabatch's bands are full-width by design and keep headroom for a second line);
* containment: the share of known caption pixels inside vabatch's band (must be 1.0);
* distractors in the band: OCR boxes that are not caption text and overlap the band;
* box labels (``layout.full_frame_box_labels``) against ground truth (a box is a caption
  when its text is (most of) one caption line): accuracy, caption precision and recall;
* the video without captions must get no band.

Prints a table, writes bench/out/layout.json and the "Layout" section of
docs/benchmarks.md (other sections are kept).

    /work/venv/bin/python bench/layout_bench.py [--keep-data DIR] [--no-docs]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from testkit import corpus  # noqa: E402  (read-only use: specs, rendering, style)
from testkit.corpus import VideoSpec, random_captions  # noqa: E402

MEDIA = BENCH_DIR / "media" / "layout"
OUT_JSON = BENCH_DIR / "out" / "layout.json"
DOCS = ROOT / "docs" / "benchmarks.md"
CJK_FONT = "Noto Sans CJK SC"
INK_THRESHOLD = 16  # grey levels above the black background that count as a caption pixel


# -- the videos ----------------------------------------------------------------------------
def benchmark_specs() -> list[tuple[str, VideoSpec]]:
    """(short name, spec) of every benchmark video: seeds 301-311, none used by the tests."""
    def spec(short: str, seed: int, seconds: float, language: str = "en",
             two_line_share: float = 0.3, **options) -> tuple[str, VideoSpec]:
        captions = options.pop("captions", None)
        if captions is None:
            captions = random_captions(seconds, seed, language, two_line_share=two_line_share,
                                       gap_share=0.4)
        if language == "zh":
            options.setdefault("font", CJK_FONT)
        made = VideoSpec(short, captions, seconds, seed=seed, **options)
        # The file name carries a digest of the spec: a changed spec is a new video.
        digest = hashlib.sha256(repr(made).encode()).hexdigest()[:8]
        return short, dataclasses.replace(made, name=f"lb-{short}-{digest}")

    return [
        spec("en-bottom-photo", 301, 30, background="photo"),
        spec("en-top-gradients", 302, 24, background="gradients", position="top"),
        spec("zh-bottom-mandelbrot", 303, 30, "zh", background="mandelbrot"),
        spec("zh-top-photo", 304, 26, "zh", background="photo", position="top"),
        spec("en-bottom-life-logo", 305, 32, background="life", logo=True),
        spec("en-bottom-bright-ticker", 306, 36, background="bright", ticker=True),
        spec("en-bottom-photo-scene-logo", 307, 28, background="photo", scene_text=True,
             logo=True),
        spec("zh-bottom-gradients-ticker-logo", 308, 34, "zh", background="gradients",
             ticker=True, logo=True),
        spec("en-top-bright-logo", 309, 22, background="bright", position="top", logo=True),
        spec("en-bottom-mandelbrot-all", 310, 40, two_line_share=0.6, font_size=18,
             background="mandelbrot", logo=True, ticker=True, scene_text=True),
        spec("none-photo-distractors", 311, 20, captions=[], background="photo", logo=True,
             ticker=True, scene_text=True),
    ]


# -- the known caption box -------------------------------------------------------------------
def subtitles_filter(spec: VideoSpec, srt: Path) -> str | None:
    """The ``subtitles`` filter corpus.py burned into ``spec``'s video (None: no captions).

    It is the last filter of corpus's chain; its force_style holds the style logic
    (font, size, outline, alignment, margins), which must be the same here.
    """
    chain = corpus._filters(spec, srt)
    start = chain.find("subtitles=filename=")
    return None if start < 0 else chain[start:]


def visible_outline(subtitles: str) -> str:
    """The same filter with outline and shadow drawn in grey instead of black: colours
    only, so libass places every pixel exactly where it did in the video."""
    style = re.sub(r"OutlineColour=&H[0-9A-Fa-f]+", "OutlineColour=&H00A0A0A0", subtitles)
    if "BackColour=" in style:
        return re.sub(r"BackColour=&H[0-9A-Fa-f]+", "BackColour=&H00606060", style)
    return style.replace("force_style='", "force_style='BackColour=&H00606060,", 1)


def known_caption_mask(spec: VideoSpec, srt: Path) -> np.ndarray:
    """Every pixel the captions touch in any frame, rendered on black (cached in MEDIA)."""
    cache = MEDIA / f"{spec.name}.known.npz"
    if cache.exists():
        return np.load(cache)["mask"]
    mask = np.zeros((spec.height, spec.width), bool)
    subtitles = subtitles_filter(spec, srt)
    if subtitles is not None:
        command = ["ffmpeg", "-v", "error", "-f", "lavfi", "-t", f"{spec.duration_s:.3f}",
                   "-i", f"color=c=black:size={spec.width}x{spec.height}:rate={spec.fps}",
                   "-vf", f"{visible_outline(subtitles)},format=gray", "-f", "rawvideo",
                   "-pix_fmt", "gray", "-"]
        frame_bytes = spec.width * spec.height
        brightest = np.zeros((spec.height, spec.width), np.uint8)
        background = None
        with subprocess.Popen(command, stdout=subprocess.PIPE) as process:
            while chunk := process.stdout.read(frame_bytes * 32):
                frames = np.frombuffer(chunk, np.uint8).reshape(-1, spec.height, spec.width)
                if background is None:  # black in "gray" may be 0 or 16 (limited range)
                    background = int(np.median(frames[0]))
                np.maximum(brightest, frames.max(axis=0), out=brightest)
        if process.returncode:
            raise RuntimeError(f"ffmpeg failed rendering the known band of {spec.name}")
        mask = brightest > (background or 0) + INK_THRESHOLD
    temporary = cache.with_suffix(".partial.npz")
    np.savez_compressed(temporary, mask=mask)
    os.replace(temporary, cache)
    return mask


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom), half-open, of the mask's pixels; None when empty."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def iou(first: tuple[int, int, int, int], second: tuple[int, int, int, int]) -> float:
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    inter = max(0, width) * max(0, height)
    area = (first[2] - first[0]) * (first[3] - first[1]) + \
        (second[2] - second[0]) * (second[3] - second[1]) - inter
    return inter / area if area else 0.0


# -- ground truth of a box (the rule of tests/test_layout.py's is_caption_text) -------------
def normalise_text(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


def caption_lines(spec: VideoSpec) -> list[str]:
    return [normalise_text(line) for c in spec.captions for line in c.text.split("\n")]


def is_caption_text(text: str, lines: list[str]) -> bool:
    """A box is a caption when its text is (most of) one of the burned-in caption lines."""
    found = normalise_text(text)
    return len(found) >= 3 and any(
        SequenceMatcher(None, found, line).ratio() >= 0.7 or (len(found) >= 6 and found in line)
        for line in lines)


# -- running vabatch ----------------------------------------------------------------------
def vabatch(*arguments: str) -> tuple[list, float]:
    """Run one vabatch command with --json; its parsed output and wall seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vabatch", *arguments, "--json"],
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"vabatch {arguments[0]} failed ({done.returncode}):\n"
                           f"{done.stderr.strip()}")
    return json.loads(done.stdout), seconds


def read_results(video_dir: Path) -> tuple[str, list[tuple], tuple | None, dict]:
    """source name, OCR boxes with labels, band row, and frames read, of one video."""
    from vabatch.db import VideoDatabase

    with VideoDatabase(video_dir, require=("video", "fullOCR", "layout")) as db:
        source = db.execute("SELECT source_name FROM video.video_metadata").fetchall()[0][0]
        boxes = db.execute(
            "SELECT o.frame_index, o.box_index, o.text, o.x, o.y, o.width, o.height, l.label"
            " FROM fullOCR.full_frame_ocr o LEFT JOIN layout.full_frame_box_labels l"
            " USING (frame_index, box_index) ORDER BY o.frame_index, o.box_index").fetchall()
        band = db.execute("SELECT crop_left, crop_top, crop_right, crop_bottom, anchor_type"
                          " FROM layout.video_layout_config").fetchall()
        frames = {
            "stored": db.execute("SELECT count(*) FROM video.full_frames").fetchall()[0][0],
            "ocr": db.execute("SELECT count(*) FROM fullOCR.ocr_frames").fetchall()[0][0],
        }
    return source, boxes, (band[0] if band else None), frames


def overlaps(band: tuple[int, int, int, int], x: int, y: int, width: int, height: int) -> bool:
    return x < band[2] and x + width > band[0] and y < band[3] and y + height > band[1]


def evaluate(short: str, spec: VideoSpec, mask: np.ndarray, boxes: list[tuple],
             band_row: tuple | None, frames: dict) -> dict:
    """Every figure of one video."""
    lines = caption_lines(spec)
    known = mask_box(mask)
    band = tuple(band_row[:4]) if band_row else None
    report: dict = {
        "video": short, "file": f"{spec.name}.mp4", "seconds": spec.duration_s,
        "background": spec.background, "position": spec.position if spec.captions else None,
        "language": "zh" if spec.font == CJK_FONT else "en",
        "distractors": [d for d in ("logo", "ticker", "scene_text", "clock")
                        if getattr(spec, d)],
        "captions": len(spec.captions), "frames_stored": frames["stored"],
        "frames_ocr": frames["ocr"], "known_box": known, "band": band,
        "anchor": band_row[4] if band_row else None,
    }
    if known is not None and band is not None:
        widened = (0, known[1], spec.width, known[3])
        inside = mask[band[1]:band[3], band[0]:band[2]].sum()
        report |= {"iou_known": round(iou(band, known), 4),
                   "iou_full_width": round(iou(band, widened), 4),
                   "containment": round(float(inside / mask.sum()), 4)}
    else:
        report |= {"iou_known": None, "iou_full_width": None,
                   "containment": None if known is None else 0.0}
    report["band_expected"] = known is not None
    report["band_ok"] = (band is not None) == (known is not None) and (
        known is None or report["containment"] == 1.0)

    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "unlabelled": 0}
    distractors_in_band, wrong = [], []
    for frame_index, box_index, text, x, y, width, height, label in boxes:
        truth = "caption" if is_caption_text(text, lines) else "noise"
        if label is None:  # no label at all: wrong either way, and never a caption claim
            counts["unlabelled"] += 1
            counts["fn"] += truth == "caption"
        else:
            counts[{("caption", "caption"): "tp", ("noise", "caption"): "fp",
                    ("caption", "noise"): "fn", ("noise", "noise"): "tn"}[truth, label]] += 1
        if label != truth:
            wrong.append({"frame": frame_index, "box": box_index, "text": text,
                          "xywh": [x, y, width, height], "truth": truth, "label": label})
        if truth == "noise" and band is not None and overlaps(band, x, y, width, height):
            distractors_in_band.append({"frame": frame_index, "box": box_index, "text": text,
                                        "xywh": [x, y, width, height]})
    total = len(boxes)
    correct = counts["tp"] + counts["tn"]
    report |= {
        "boxes": total, "caption_boxes_truth": counts["tp"] + counts["fn"], **counts,
        "accuracy": round(correct / total, 4) if total else None,
        "caption_precision": ratio(counts["tp"], counts["tp"] + counts["fp"]),
        "caption_recall": ratio(counts["tp"], counts["tp"] + counts["fn"]),
        "distractor_boxes_in_band": len(distractors_in_band),
        "distractor_texts_in_band": sorted({d["text"] for d in distractors_in_band}),
        "wrong_labels": wrong[:40],
        "wrong_label_count": len(wrong),
    }
    return report


def ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def overall(reports: list[dict]) -> dict:
    """Pooled box counts; band figures averaged over the videos that have captions."""
    sums = {k: sum(r[k] for r in reports) for k in ("tp", "fp", "fn", "tn", "unlabelled",
                                                     "boxes")}
    with_captions = [r for r in reports if r["band_expected"]]

    def mean(key: str) -> float | None:
        values = [r[key] for r in with_captions if r[key] is not None]
        return round(float(np.mean(values)), 4) if values else None

    return {
        "videos": len(reports), "videos_with_captions": len(with_captions),
        "bands_found": sum(r["band"] is not None for r in with_captions),
        "iou_known_mean": mean("iou_known"), "iou_full_width_mean": mean("iou_full_width"),
        "iou_full_width_min": min((r["iou_full_width"] for r in with_captions
                                   if r["iou_full_width"] is not None), default=None),
        "containment_min": min((r["containment"] for r in with_captions
                                if r["containment"] is not None), default=None),
        "videos_with_distractor_in_band": sum(r["distractor_boxes_in_band"] > 0
                                              for r in reports),
        "no_caption_videos_without_band": sum(r["band"] is None for r in reports
                                              if not r["band_expected"]),
        "no_caption_videos": sum(not r["band_expected"] for r in reports),
        **sums,
        "accuracy": ratio(sums["tp"] + sums["tn"], sums["boxes"]),
        "caption_precision": ratio(sums["tp"], sums["tp"] + sums["fp"]),
        "caption_recall": ratio(sums["tp"], sums["tp"] + sums["fn"]),
        "accuracy_mean_per_video": round(float(np.mean(
            [r["accuracy"] for r in reports if r["accuracy"] is not None])), 4),
    }


# -- output --------------------------------------------------------------------------------
def fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table_rows(reports: list[dict], summary: dict) -> list[list[str]]:
    rows = []
    for r in reports:
        band = "none" if r["band"] is None else ",".join(map(str, r["band"]))
        known = "none" if r["known_box"] is None else ",".join(map(str, r["known_box"]))
        rows.append([r["video"], "+".join(r["distractors"]) or "-", known, band,
                     fmt(r["iou_known"]), fmt(r["iou_full_width"]),
                     fmt(r["containment"]), str(r["distractor_boxes_in_band"]), str(r["boxes"]),
                     fmt(r["accuracy"]), fmt(r["caption_precision"]),
                     fmt(r["caption_recall"])])
    rows.append(["overall", "", "", f"{summary['bands_found']}/{summary['videos_with_captions']}"
                 f" found, {summary['no_caption_videos_without_band']}/"
                 f"{summary['no_caption_videos']} none",
                 fmt(summary["iou_known_mean"]), fmt(summary["iou_full_width_mean"]),
                 fmt(summary["containment_min"]) + " min",
                 f"{summary['videos_with_distractor_in_band']} videos", str(summary["boxes"]),
                 fmt(summary["accuracy"]), fmt(summary["caption_precision"]),
                 fmt(summary["caption_recall"])])
    return rows


HEADERS = ["video", "distractors", "known box l,t,r,b", "vabatch band l,t,r,b", "IoU known",
           "IoU full-width", "contain", "distr. in band", "boxes", "label acc", "cap prec",
           "cap recall"]


def problem_lines(reports: list[dict]) -> list[str]:
    """One line per video where the layout went wrong, naming the boxes involved."""
    lines = []
    for r in reports:
        problems = []
        if not r["band_ok"]:
            problems.append("band missing" if r["band"] is None and r["band_expected"]
                            else "band found where there are no captions"
                            if r["band"] is not None and not r["band_expected"]
                            else f"band cuts captions (containment {r['containment']})")
        if r["distractor_boxes_in_band"]:
            problems.append(f"{r['distractor_boxes_in_band']} distractor boxes overlap the band"
                            f" ({', '.join(r['distractor_texts_in_band'][:4])})")
        if r["wrong_label_count"]:
            problems.append(f"{r['wrong_label_count']} wrong labels, e.g. " + "; ".join(
                f"{w['text']!r} {w['truth']} labelled {w['label']} at x,y,w,h {w['xywh']}"
                for w in r["wrong_labels"][:3]))
        if problems:
            lines.append(f"{r['video']}: " + " | ".join(problems))
    return lines


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS))]
    for number, row in enumerate([HEADERS, *rows]):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if number == 0 or number == len(rows) - 1:
            print("  ".join("-" * width for width in widths))


def markdown_section(rows: list[list[str]], result: dict) -> str:
    summary = result["overall"]
    lines = [
        "## Layout",
        "",
        "`bench/layout_bench.py`: vabatch's caption band and box labels against known ground",
        "truth, on generated videos the tests do not use (testkit/corpus.py, seeds 301-311):",
        f"{summary['videos']} videos, 1280x720, 20-40 s, captions at the bottom and at the top,",
        "English and Chinese (Noto Sans CJK SC), photo / gradients / mandelbrot / life /",
        "bright backgrounds, a static logo, a moving ticker, scene text, and one video",
        "without captions. Ingest, OCR and layout run through the CLI with their defaults",
        f"(1 fps stored, OCR at 0.5 fps: {sum(r['frames_ocr'] for r in result['videos'])} OCR'd",
        "frames in all) in a fresh data root.",
        "",
        "- **Known caption box**: the video's SRT burned in with the same `subtitles` filter",
        "  and `force_style` onto ffmpeg's `color=black`, outline and shadow recoloured so they",
        "  count; the bounding box of every pixel the captions touch in any frame.",
        "- **IoU known**: the band against that box. vabatch's bands are full-width by design",
        "  (they reach the frame edges or the nearest other text, and keep headroom for a",
        "  second line), so a low value is expected; **IoU full-width** compares with the",
        "  known box widened to the frame width. **contain**: the share of known caption",
        "  pixels inside the band (must be 1.000). **distr. in band**: OCR boxes that are not",
        "  caption text and overlap the band.",
        "- **Box labels**: `layout.full_frame_box_labels` against ground truth (a box is a",
        "  caption when its text is (most of) one caption line, the rule of",
        "  tests/test_layout.py); accuracy over all boxes, caption precision and recall.",
        "- In `en-top-bright-logo` the corpus's top-right logo shares the rows of the first",
        "  top caption line, and the longest lines are drawn over it: there, a band that",
        "  holds every caption pixel cannot avoid the logo entirely.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    problems = problem_lines(result["videos"])
    lines += ["", "Problems found:" if problems else "Problems found: none."]
    lines += [f"- {line}" for line in problems]
    lines += [
        "",
        f"Overall: box-label accuracy {fmt(summary['accuracy'])} ({summary['boxes']} boxes; "
        f"mean per video {fmt(summary['accuracy_mean_per_video'])}), caption precision "
        f"{fmt(summary['caption_precision'])}, recall {fmt(summary['caption_recall'])}; "
        f"band IoU with the known box {fmt(summary['iou_known_mean'])} (mean), with the "
        f"full-width box {fmt(summary['iou_full_width_mean'])} (mean), containment "
        f"{fmt(summary['containment_min'])} (min).",
        "",
        f"Measured {result['measured_at']} on {result['machine']}; reproduce with "
        "`/work/venv/bin/python bench/layout_bench.py` (figures in bench/out/layout.json).",
        "",
    ]
    return "\n".join(lines)


def write_docs_section(section: str) -> None:
    """Replace the "## Layout" section of docs/benchmarks.md, or append it; keep the rest."""
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Layout\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    temporary = DOCS.with_suffix(".md.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, DOCS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-data", type=Path, help="use (and keep) this fresh data root")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()

    specs = benchmark_specs()
    MEDIA.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    videos, masks = {}, {}
    for short, spec in specs:
        video, srt = corpus.make_video(spec, MEDIA)
        videos[video.name] = (short, spec)
        masks[short] = known_caption_mask(spec, srt)
    print(f"media ready in {time.perf_counter() - started:.0f} s ({MEDIA})", flush=True)

    if args.keep_data:
        if args.keep_data.exists() and any(args.keep_data.iterdir()):
            parser.error(f"{args.keep_data} is not empty: the data root must be fresh")
        data_root = args.keep_data
        data_root.mkdir(parents=True, exist_ok=True)
    else:
        data_root = Path(tempfile.mkdtemp(prefix="vabatch-layout-bench-"))
    try:
        data = ["--data", str(data_root)]
        ingested, ingest_s = vabatch("ingest", *[str(MEDIA / name) for name in videos], *data)
        _, ocr_s = vabatch("ocr", *data)
        laid_out, layout_s = vabatch("layout", *data)
        print(f"vabatch ingest {ingest_s:.0f} s, ocr {ocr_s:.0f} s, layout {layout_s:.1f} s",
              flush=True)
        stage_by_id = {r["video_id"]: r for r in laid_out}
        reports = []
        for entry in ingested:
            video_dir = Path(entry["video_dir"])
            source, boxes, band_row, frames = read_results(video_dir)
            short, spec = videos[source]
            report = evaluate(short, spec, masks[short], boxes, band_row, frames)
            stage = stage_by_id.get(video_dir.name, {})
            report |= {"video_id": video_dir.name, "layout_status": stage.get("status"),
                       "layout_message": stage.get("message"),
                       "layout_confidence": stage.get("confidence")}
            reports.append(report)
    finally:
        if not args.keep_data:
            shutil.rmtree(data_root, ignore_errors=True)
    order = [short for short, _ in specs]
    reports.sort(key=lambda r: order.index(r["video"]))

    summary = overall(reports)
    result = {
        "measured_at": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}",
        "command": "/work/venv/bin/python bench/layout_bench.py",
        "settings": {"ingest": "defaults (1 fps, JPEG q90)", "ocr": "defaults (0.5 fps, "
                     "RapidOCR, detection side 640)", "layout": "defaults (rules)",
                     "ink_threshold": INK_THRESHOLD},
        "seconds": {"ingest": round(ingest_s, 1), "ocr": round(ocr_s, 1),
                    "layout": round(layout_s, 1)},
        "overall": summary,
        "videos": reports,
    }
    rows = table_rows(reports, summary)
    print()
    print_table(rows)
    print()
    for line in problem_lines(reports):
        print(line)
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    print(f"\nwrote {OUT_JSON.relative_to(ROOT)}")
    if not args.no_docs:
        write_docs_section(markdown_section(rows, result))
        print(f"wrote the Layout section of {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
