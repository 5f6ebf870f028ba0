"""Benchmark: dataset samples per second against plain ``cv2.imdecode`` of the same blobs,
``vabatch export dataset``, and ``vabatch backup`` MB/s against ``cp -r`` of the same files.

Builds a data root (under a temporary folder) of ``--videos`` ingested videos (640x360,
``--seconds`` each, 5 sampled frames a second), with ``--boxes`` OCR boxes per frame, a label
per box and a caption every 2 s written through VideoDatabase (the OCR stage itself is not
what is measured). Then, in one process and the same run:

- ``cv2.imdecode`` of every stored frame, blobs already in memory (the floor);
- ``FrameSamples`` iterated whole (read the row, boxes + labels, the caption, decode, RGB);
- ``FrameSamples(decode=False)`` (everything but the decode);
- ``export dataset`` of all frames; ``backup`` of the data root and ``cp -r`` of it.

    python bench/dataset_bench.py [--videos 8] [--seconds 30] [--boxes 6] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vabatch.db import VideoDatabase  # noqa: E402
from vabatch.media import Sampling  # noqa: E402
from vabatch.stages.ingest import IngestOptions, ingest_file  # noqa: E402
from vabatch.tools.backup import backup  # noqa: E402
from vabatch.tools.dataset import FrameSamples  # noqa: E402
from vabatch.tools.dataset_export import export_dataset  # noqa: E402

SOURCES = ("testsrc2", "smptebars", "rgbtestsrc", "mandelbrot", "testsrc", "smptehdbars")


def build(base: Path, videos: int, seconds: int, boxes: int) -> Path:
    data = base / "data"
    for number in range(videos):
        video = base / "inputs" / f"v{number}.mp4"
        video.parent.mkdir(parents=True, exist_ok=True)
        source = SOURCES[number % len(SOURCES)]
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"{source}=size=640x360:rate=25", "-t", str(seconds + number * 0.04),
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                        str(video)], check=True)
        video_dir = Path(ingest_file(video, data, IngestOptions(Sampling("fps", 5))).video_dir)
        with VideoDatabase(video_dir) as db:
            frames = [f for (f,) in db.execute("SELECT frame_index FROM video.full_frames")]
        with VideoDatabase(video_dir, write="fullOCR") as db, db.conn:
            db.conn.executemany(
                "INSERT INTO fullOCR.full_frame_ocr (frame_index, box_index, text, confidence,"
                " x, y, width, height) VALUES (?, ?, ?, 0.9, ?, ?, 120, 24)",
                [(f, b, f"words {f} {b}", 20 + b * 3, 300 + b * 10) for f in frames
                 for b in range(boxes)])
        with VideoDatabase(video_dir, write="layout") as db, db.conn:
            db.conn.executemany(
                "INSERT INTO layout.full_frame_box_labels (frame_index, box_index, label,"
                " label_source) VALUES (?, ?, ?, 'model')",
                [(f, b, "caption" if b == 0 else "noise") for f in frames
                 for b in range(boxes)])
        with VideoDatabase(video_dir, write="captions") as db, db.conn:
            db.conn.executemany(
                "INSERT INTO captions.captions (start_frame_index, end_frame_index, start_ms,"
                " end_ms, text) VALUES (?, ?, ?, ?, ?)",
                [(s, s + 50, s * 40, (s + 50) * 40, f"caption at {s}")
                 for s in range(0, seconds * 25, 50)])
    return data


def blobs_of(data: Path) -> list[bytes]:
    found = []
    for video_dir in sorted(data.glob("videos/*/*")):
        with VideoDatabase(video_dir) as db:
            found += [b for (b,) in db.execute("SELECT image_data FROM video.full_frames"
                                               " ORDER BY frame_index")]
    return found


def rate(action, count: int, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return count / statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--boxes", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    base = Path(tempfile.mkdtemp(prefix="vabatch-dataset-bench-"))
    try:
        data = build(base, args.videos, args.seconds, args.boxes)
        blobs = blobs_of(data)
        count = len(blobs)
        print(f"{args.videos} videos, {count} sampled frames (640x360 JPEG, "
              f"{sum(map(len, blobs)) / count / 1024:.1f} KB each), {args.boxes} boxes each")
        floor, floor_t = rate(lambda: [cv2.imdecode(np.frombuffer(b, np.uint8), 1)
                                       for b in blobs], count, args.repeat)
        samples = FrameSamples(data)
        full, full_t = rate(lambda: [s for s in samples], count, args.repeat)
        raw = FrameSamples(data, decode=False)
        nodecode, nodecode_t = rate(lambda: [s for s in raw], count, args.repeat)
        print(f"cv2.imdecode only        {floor:8.0f} samples/s  runs "
              f"{[round(t, 2) for t in floor_t]}")
        print(f"FrameSamples             {full:8.0f} samples/s  runs "
              f"{[round(t, 2) for t in full_t]}  ({full / floor:.2f}x of imdecode alone)")
        print(f"FrameSamples no decode   {nodecode:8.0f} samples/s  runs "
              f"{[round(t, 2) for t in nodecode_t]}")
        out = base / "export"
        exported, export_t = rate(lambda: export_dataset(data, out, force=True), count,
                                  args.repeat)
        print(f"export dataset           {exported:8.0f} samples/s  runs "
              f"{[round(t, 2) for t in export_t]}")
        size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
        backed, backup_t = rate(lambda: backup(data, base / "backup", force=True,
                                               link_videos=False), size / 1e6, args.repeat)
        bare, bare_t = rate(lambda: backup(data, base / "backup", force=True,
                                           link_videos=False, verify=False), size / 1e6,
                            args.repeat)
        copied, copy_t = rate(lambda: subprocess.run(
            ["sh", "-c", f"rm -rf '{base}/cp' && cp -r '{data}' '{base}/cp' && sync"],
            check=True), size / 1e6, args.repeat)
        print(f"backup (copying videos)  {backed:8.1f} MB/s  runs "
              f"{[round(t, 2) for t in backup_t]}  ({size / 1e6:.1f} MB; includes verify)")
        print(f"backup without verify    {bare:8.1f} MB/s  runs "
              f"{[round(t, 2) for t in bare_t]}")
        print(f"cp -r + sync             {copied:8.1f} MB/s  runs "
              f"{[round(t, 2) for t in copy_t]}  (backup: {copied / backed:.2f}x the time, "
              f"{copied / bare:.2f}x without its verify)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
