"""Benchmark: `vabatch ingest` against plain `ffmpeg -f null` decoding of the same file.

Makes a 60 s 1280x720 30 fps H.264 video (under bench/media/, not in git), then, in the
same run and alternating, times `ffmpeg -i VIDEO -f null -` and `vabatch ingest VIDEO` at
the default sampling into a fresh data root. Prints medians, their ratio (target <= 1.3),
and video.db bytes per video-minute.

    python bench/ingest_bench.py [--repeat 3] [--seconds 60]
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

MEDIA = Path(__file__).resolve().parent / "media"


def make_video(path: Path, seconds: int) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Moving, detailed content with a caption-like text line, encoded as users' videos are.
    source = (f"testsrc2=size=1280x720:rate=30:duration={seconds},"
              "drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf:"
              "text='Caption line %{eif\\:floor(t/3)\\:d}':fontsize=44:fontcolor=white:"
              "borderw=3:x=(w-tw)/2:y=h-90")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source,
                    "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt",
                    "yuv420p", str(path)], check=True)
    return path


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    video = make_video(MEDIA / f"ingest-{args.seconds}s-720p30.mp4", args.seconds)
    ffmpeg_times, ingest_times, db_bytes = [], [], 0
    for _ in range(args.repeat):
        ffmpeg_times.append(timed(["ffmpeg", "-v", "error", "-i", str(video), "-f", "null",
                                   "-"]))
        data_root = Path(tempfile.mkdtemp(prefix="vabatch-bench-"))
        try:
            ingest_times.append(timed([sys.executable, "-m", "vabatch", "ingest", str(video),
                                       "--data", str(data_root), "--quiet"]))
            [db] = data_root.glob("videos/*/*/video.db")
            db_bytes = db.stat().st_size
        finally:
            shutil.rmtree(data_root)
    ffmpeg_s, ingest_s = statistics.median(ffmpeg_times), statistics.median(ingest_times)
    minutes = args.seconds / 60
    print(f"video: {video.name} ({video.stat().st_size / 1e6:.1f} MB, {args.seconds} s)")
    print(f"ffmpeg -f null  median {ffmpeg_s:6.2f} s  runs {[round(t, 2) for t in ffmpeg_times]}")
    print(f"vabatch ingest  median {ingest_s:6.2f} s  runs {[round(t, 2) for t in ingest_times]}"
          " (includes Python start-up)")
    ratio = ingest_s / ffmpeg_s
    print(f"ratio ingest / ffmpeg: {ratio:.2f}x  (target <= 1.3x: "
          f"{'met' if ratio <= 1.3 else 'NOT met'})")
    print(f"video.db: {db_bytes / 1e6:.2f} MB = {db_bytes / minutes / 1e6:.2f} MB per "
          "video-minute at the default sampling (1 fps, JPEG q90)")


if __name__ == "__main__":
    main()
