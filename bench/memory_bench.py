"""Peak memory of every stage against video length: does a long video fit where a short one does?

    /work/venv/bin/python bench/memory_bench.py [--minutes 1,10]

Makes 1280x720 30 fps videos with burned-in captions of each length (testkit/corpus.py,
under bench/media/memory/, git-ignored), then per length, in a fresh data root: ``vabatch
ingest`` and each stage (ocr, layout, crop, captions, export) as its own process with
``--workers 1``. Each process's peak resident set size (its own and its workers', from
wait4) is printed per stage, with the ratio longest / shortest in the same run: a stage
whose memory follows the video's length shows a ratio near the length ratio, one that
streams stays near 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):
    sys.path.insert(0, str(HERE.parent))

from testkit.corpus import VideoSpec, make_video, random_captions  # noqa: E402

MEDIA = HERE / "media" / "memory"
VABATCH = [sys.executable, "-m", "vabatch"]
STAGES = ("ocr", "layout", "crop", "captions")


def peak_rss_mb(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB of the command and the children it waited for, wall seconds)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)}: exit {process.returncode}: "
                         f"{process.stderr.read().decode()[-400:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def measure(minutes: float) -> dict[str, tuple[float, float]]:
    seconds = int(minutes * 60)
    spec = VideoSpec(f"memory-{seconds}s", random_captions(seconds, seed=seconds), seconds,
                     background="gradients", seed=seconds)
    video, _ = make_video(spec, MEDIA)
    root = Path(tempfile.mkdtemp(prefix="vabatch-memory-"))
    try:
        common = ["--data", str(root), "--quiet"]
        results = {"ingest": peak_rss_mb([*VABATCH, "ingest", str(video), *common])}
        for stage in STAGES:
            results[stage] = peak_rss_mb([*VABATCH, stage, *common, "--workers", "1"])
        results["export"] = peak_rss_mb([*VABATCH, "export", "srt", "--out",
                                         str(root / "srt"), "--data", str(root)])
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="1,10", help="comma list of video lengths")
    args = parser.parse_args()
    lengths = sorted(float(m) for m in args.minutes.split(","))
    runs = {}
    for minutes in lengths:
        print(f"{minutes:g} min ...", flush=True)
        runs[minutes] = measure(minutes)
    shortest, longest = lengths[0], lengths[-1]
    header = "".join(f"{f'{m:g} min MB':>12s}{f'{m:g} min s':>11s}" for m in lengths)
    print(f"{'stage':9s}{header}{'ratio MB':>10s}")
    for stage in ("ingest", *STAGES, "export"):
        cells = "".join(f"{runs[m][stage][0]:12.0f}{runs[m][stage][1]:11.1f}" for m in lengths)
        ratio = runs[longest][stage][0] / runs[shortest][stage][0]
        print(f"{stage:9s}{cells}{ratio:10.2f}")
    print(f"length ratio {longest / shortest:g}x; peak RSS includes the interpreter, numpy, "
          "OpenCV and (ocr, captions) the OCR models")


if __name__ == "__main__":
    main()
