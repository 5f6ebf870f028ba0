"""Benchmark: how long the review page (`vabatch annotate serve`) takes to show the band at
a frame far into a video: by seeking (frames named by the times the crop stage counted) and
by counting from the first frame, and whether both give the same bytes.

Makes a 1280x720 25 fps H.264 video (testsrc2, under bench/media/, not in git), times the
frame times as the crop stage records them, then the first band image at ``--frame`` (cold),
the 21 frames around it, and a frame 30 further on, both ways.

    python bench/review_band_bench.py [--seconds 60] [--frame 1400]
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import time
from pathlib import Path

from vabatch.media import decode_frames, open_capture
from vabatch.tools.annotate.review import BandFrames, VideoFacts

MEDIA = Path(__file__).resolve().parent / "media"


def make_video(seconds: int) -> Path:
    path = MEDIA / f"review_band_{seconds}s.mp4"
    if not path.exists():
        MEDIA.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size=1280x720:rate=25:duration={seconds}",
                        "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--frame", type=int, default=1400)
    args = parser.parse_args()
    source = make_video(args.seconds)
    times = {f.frame_index: f.timestamp_ms
             for f in decode_frames(open_capture(source), lambda index, ms: False)}
    facts = VideoFacts("bench", source.name, len(times), 25.0, 1280, 720, (0, 600, 1280, 700),
                       source, (), own_timestamps=True)
    images = {}
    for how, own in (("seek", True), ("count", False)):
        frames = BandFrames(MEDIA, dataclasses.replace(facts, own_timestamps=own))
        frames._times = {ms: index for index, ms in times.items()}  # as cropping.db holds them
        frames._ms_of = dict(times)
        started = time.perf_counter()
        frames.image(args.frame)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        images[how] = [frames.image(n) for n in range(args.frame - 10, args.frame + 11)]
        window = time.perf_counter() - started
        started = time.perf_counter()
        frames.image(args.frame + 30)
        ahead = time.perf_counter() - started
        print(f"{how}: frame {args.frame} cold {cold:.2f} s, the 21 frames around it "
              f"{window * 1000:.1f} ms, frame {args.frame + 30} {ahead * 1000:.0f} ms")
    print("same bytes:", images["seek"] == images["count"])


if __name__ == "__main__":
    main()
