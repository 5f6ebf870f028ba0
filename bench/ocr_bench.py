"""OCR speed and the redundancy skip, measured on real-looking 1280x720 videos.

Makes (once, under bench/media/, git-ignored) two 60 s videos whose captions change every
2-4 s, burned in with ffmpeg's ``subtitles`` filter: ``moving`` (a drifting gradient, a
scrolling textured panel, sensor noise) and ``static`` (the same captions over a still,
noisy picture: a talk or a slide). Ingests them with the default sampling (1 fps) and runs
``vabatch ocr`` with its defaults, with and without the redundancy skip, and reports:

* OCR frames per second (frames selected / wall seconds, models already loaded);
* the share of frames whose boxes were reused;
* seconds of OCR per minute of video;
* caption recall: the share of captions whose text is found (>= 0.8 similar, spaces and
  case ignored) in at least one OCR'd frame while the caption is on screen;
* the thumbnail differences that set the reuse threshold: the largest one between frames
  showing the same caption on a still picture (noise floor), and the smallest one between
  frames whose caption changed.

    /work/venv/bin/python bench/ocr_bench.py            # defaults, plus a small sweep
    /work/venv/bin/python bench/ocr_bench.py --quick    # defaults only
"""

from __future__ import annotations

import argparse
import difflib
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
MEDIA = BENCH_DIR / "media"
WIDTH, HEIGHT, FPS, DURATION_S = 1280, 720, 25, 60
ENGLISH = (
    "The quick brown fox jumps over the lazy dog", "We never thought about what comes next",
    "She said everything would change", "Nobody knew where the old road ended",
    "Our small boat drifted past green hills", "Please remember this moment forever",
    "His father built houses near the harbour", "They found another reason to stay",
    "Children laughed under bright summer clouds", "People walked through quiet streets",
)
CHINESE = (
    "我们今天去公园散步", "这是一个很好的问题", "明天早上八点见面", "他每天都学习中文",
    "天气越来越冷了", "请把门关上谢谢", "我不知道他在哪里", "这个城市非常漂亮",
    "我们一起吃晚饭吧", "时间过得真快啊",
)


def make_captions(seed: int = 7) -> list[tuple[int, int, str]]:
    """(start_ms, end_ms, text): a caption every 2-4 s, English and Chinese alternating."""
    rng = random.Random(seed)
    captions, now, number = [], 500, 0
    while now < DURATION_S * 1000 - 2500:
        length = rng.randint(2000, 4000)
        pool = ENGLISH if number % 2 == 0 else CHINESE
        captions.append((now, now + length, pool[(number // 2) % len(pool)]))
        now += length + rng.choice((0, 0, 0, 300, 600))
        number += 1
    return captions


def _srt_time(ms: int) -> str:
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def make_video(kind: str, captions: list[tuple[int, int, str]]) -> Path:
    """bench/media/<kind>.mp4, made with ffmpeg unless it exists."""
    path = MEDIA / f"{kind}.mp4"
    if path.exists():
        return path
    MEDIA.mkdir(parents=True, exist_ok=True)
    srt = MEDIA / f"{kind}.srt"
    srt.write_text("".join(f"{n}\n{_srt_time(s)} --> {_srt_time(e)}\n{text}\n\n"
                           for n, (s, e, text) in enumerate(captions, 1)), encoding="utf-8")
    style = "FontName=Noto Sans CJK SC,FontSize=22,Outline=2,Shadow=0"
    if kind == "moving":
        inputs = ["-f", "lavfi", "-i", f"gradients=s={WIDTH}x{HEIGHT}:r={FPS}:speed=0.015:n=4",
                  "-f", "lavfi", "-i", f"cellauto=s=320x180:rate={FPS}:rule=110,scale=480:270"]
        graph = "[0][1]overlay=x='mod(t*90,1600)-320':y=140,noise=alls=4:allf=t+u"
    else:
        inputs = ["-f", "lavfi", "-i", f"mandelbrot=s={WIDTH}x{HEIGHT}:r=1:end_scale=0.3",
                  "-f", "lavfi", "-i", f"color=black:s={WIDTH}x{HEIGHT}:r={FPS}"]
        graph = (f"[0]trim=end_frame=1,loop=-1:1,setpts=N/{FPS}/TB[still];[1][still]overlay,"
                 "noise=alls=4:allf=t+u")
    temporary = path.with_suffix(".tmp.mp4")
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *inputs, "-t", str(DURATION_S),
         "-filter_complex", f"{graph},subtitles={srt}:force_style='{style}'",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
         str(temporary)], check=True)
    temporary.rename(path)
    return path


def ingest(video: Path, data_root: Path) -> Path:
    from vabatch.stages.ingest import ingest_file

    result = ingest_file(video, data_root)
    if not result.ok:
        sys.exit(f"ingest failed: {result.error}")
    return Path(result.video_dir)


def _normal(text: str) -> str:
    return "".join(text.split()).lower()


def caption_recall(video_dir: Path, captions) -> tuple[float, int]:
    """(share of captions read in some OCR'd frame, captions with no OCR'd frame at all)."""
    from vabatch.db import VideoDatabase

    with VideoDatabase(video_dir, require=("fullOCR",)) as db:
        frames = db.execute(
            "SELECT f.frame_index, f.timestamp_ms FROM video.full_frames f"
            " JOIN fullOCR.ocr_frames o USING (frame_index)").fetchall()
        texts: dict[int, list[str]] = {}
        for frame_index, text in db.execute(
                "SELECT frame_index, text FROM fullOCR.full_frame_ocr").fetchall():
            texts.setdefault(frame_index, []).append(_normal(text))
    found = unseen = 0
    for start_ms, end_ms, caption in captions:
        shown = [f for f, t in frames if start_ms <= t < end_ms]
        unseen += not shown
        want = _normal(caption)
        if any(difflib.SequenceMatcher(None, want, got).ratio() >= 0.8
               for f in shown for got in texts.get(f, ())):
            found += 1
    return found / len(captions), unseen


def thumbnail_gaps(video_dir: Path, captions) -> tuple[int, int]:
    """(largest difference between frames with the same caption, smallest with another)."""
    from vabatch.db import VideoDatabase
    from vabatch.media import decode_image
    from vabatch.stages.ocr import frame_thumbnail, thumbnail_difference

    def caption_at(ms):
        return next((text for s, e, text in captions if s <= ms < e), None)

    with VideoDatabase(video_dir, require=("video",)) as db:
        rows = db.execute("SELECT timestamp_ms, image_data FROM video.full_frames"
                          " ORDER BY frame_index").fetchall()
    thumbs = [(caption_at(ms), frame_thumbnail(decode_image(data))) for ms, data in rows]
    same, changed = [0], [255]
    for (caption_a, a), (caption_b, b) in zip(thumbs[:-1], thumbs[1:], strict=True):
        (same if caption_a == caption_b else changed).append(thumbnail_difference(a, b))
    return max(same), min(changed)


def run(video_dir: Path, captions, **overrides) -> dict:
    from vabatch.stages.ocr import OcrOptions, run_ocr

    options = OcrOptions(force=True, **overrides)
    engine = options.make_engine()
    from vabatch.db import VideoDatabase
    from vabatch.media import decode_image

    # Warm up: the models load outside the timing, as they load once for a whole batch.
    with VideoDatabase(video_dir, require=("video",)) as db:
        engine.read(decode_image(db.execute(
            "SELECT image_data FROM video.full_frames LIMIT 1").fetchall()[0][0]))
    started = time.perf_counter()
    result = run_ocr(video_dir, options, engine)
    seconds = time.perf_counter() - started
    recall, unseen = caption_recall(video_dir, captions)
    return {
        "frames": result.frames_selected, "seconds": seconds,
        "frames_per_s": result.frames_selected / seconds,
        "skipped": result.frames_reused / max(1, result.frames_selected),
        "s_per_video_min": seconds / (DURATION_S / 60), "recall": recall, "unseen": unseen,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="defaults only, no sweep")
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        sys.exit("ffmpeg is needed to make the bench videos")
    from vabatch.stages.ocr import DEFAULT_DETECTION_SIDE, DEFAULT_SAMPLING_FPS

    captions = make_captions()
    data_root = MEDIA / "data"
    print(f"{len(captions)} captions over {DURATION_S} s, 1280x720 at {FPS} fps; "
          f"ingest at 1 fps; OCR defaults: --fps {DEFAULT_SAMPLING_FPS} "
          f"--detection-side {DEFAULT_DETECTION_SIDE}, 1 onnxruntime thread")
    header = (f"{'video':8} {'setting':34} {'frames':>6} {'fr/s':>6} {'skipped':>8} "
              f"{'s/video-min':>11} {'recall':>7} {'unseen':>6}")
    print(header)
    print("-" * len(header))
    for kind in ("moving", "static"):
        video_dir = ingest(make_video(kind, captions), data_root)
        settings = [("defaults (reuse on)", {}),
                    ("defaults, --no-reuse", {"reuse_threshold": None})]
        if not args.quick and kind == "static":
            settings += [("--fps 0 (every stored frame)", {"sampling_fps": None}),
                         ("--fps 0 --no-reuse", {"sampling_fps": None, "reuse_threshold": None})]
        if not args.quick and kind == "moving":
            settings += [
                ("--fps 0 (every stored frame)", {"sampling_fps": None}),
                ("--fps 0 --no-reuse", {"sampling_fps": None, "reuse_threshold": None}),
                ("--detection-side 480", {"detection_side": 480}),
                ("--detection-side 960", {"detection_side": 960}),
                ("--detection-side 1280", {"detection_side": 1280}),
            ]
        for label, overrides in settings:
            r = run(video_dir, captions, **overrides)
            print(f"{kind:8} {label:34} {r['frames']:6d} {r['frames_per_s']:6.1f} "
                  f"{r['skipped']:8.0%} {r['s_per_video_min']:11.1f} {r['recall']:7.0%} "
                  f"{r['unseen']:6d}")
        same, changed = thumbnail_gaps(video_dir, captions)
        print(f"{kind:8} thumbnail max difference: same caption <= {same}, "
              f"caption changed >= {changed} (grey levels)")


if __name__ == "__main__":
    main()
