"""Benchmark: plain `vabatch verify` (checksums included) against `cat` of the same files.

Builds, or reuses, a data root of at least --target-mb megabytes under bench/media/
(not in git): generated 1280x720 videos, each a different ffmpeg source, ingested with
every frame kept at JPEG quality 98 (video.db is what dominates a real data root). Then, in
the same run and alternating, with the page cache warmed by the first `cat` (dropping it
needs root):

  cat      every file under the data root > /dev/null
  verify   `python -m vabatch verify --data ROOT --json` (a fresh process, as a user runs it)

  checking `verify_videos()` timed inside its process (the same work without the start-up
           of Python and of the command line, which does not grow with the data)
  start-up `python -m vabatch verify --data MISSING`: everything the command loads and
           parses before it checks (it stops at the missing data root, exit 2)
  tiny     `python -m vabatch verify --data TINY --json`, TINY a data root of one 1-second
           video (under 1 MB, bench/media/verify-root-tiny): the command's fixed cost on
           the way to a pass (the start-up row stops at an error, which needs more of rich)

Python's bytecode: an installed package has its modules compiled (pip does it at install),
and Python caches the bytecode of any other at its first import, unless
PYTHONDONTWRITEBYTECODE is set (this machine sets it): then every start compiles vabatch's
own modules again, 0.03-0.06 s more start-up. --bytecode times the commands with the
bytecode cached, in a temporary PYTHONPYCACHEPREFIX (nothing is written into the tree);
the bench says which it measured.

Prints medians of wall time and of CPU time (user + system, from wait4: on a machine
shared with other work the wall time mostly measures waiting for a CPU), MB/s of each over
the bytes of the data root, and verify/cat (target >= 0.5).

    python bench/verify_bench.py [--target-mb 500] [--repeat 3] [--root DIR] [--bytecode]

--root: check an existing data root instead (e.g. another checkout's bench/media/verify-root).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEDIA = Path(__file__).resolve().parent / "media"
ROOT = MEDIA / "verify-root"
TINY = MEDIA / "verify-root-tiny"
# Distinct lavfi sources: each video gets its own content, so its own id.
SOURCES = ("testsrc2", "mandelbrot", "life=s=1280x720:mold=10:ratio=0.1:death_color=#C83232",
           "cellauto=s=1280x720:rule=110", "rgbtestsrc", "smptehdbars", "testsrc",
           "yuvtestsrc")


def make_video(path: Path, source: str, seconds: int) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    lavfi = source if "=" in source else f"{source}=size=1280x720:rate=25"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", lavfi, "-t",
                    str(seconds), "-r", "25", "-vf", "scale=1280:720", "-c:v", "libx264",
                    "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    return path


def data_bytes(root: Path) -> int:  # rglob: the root itself may be a symbolic link
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def build(target_mb: int, seconds: int) -> None:
    """Ingest generated videos until the data root holds ``target_mb`` MB."""
    for index, source in enumerate(SOURCES):
        if ROOT.exists() and data_bytes(ROOT) >= target_mb * 1e6:
            return
        video = make_video(MEDIA / f"verify-{index}.mp4", source, seconds)
        # Quality 98: frames of the size camera footage gives at 90 (~150 KB), from clean
        # generated pictures that compress better.
        subprocess.run([sys.executable, "-m", "vabatch", "ingest", "--every", "1",
                        "--quality", "98", "--quiet", "--data", str(ROOT), str(video)],
                       check=True)
    if data_bytes(ROOT) < target_mb * 1e6:
        raise SystemExit(f"only {data_bytes(ROOT) / 1e6:.0f} MB after {len(SOURCES)} videos: "
                         "raise --seconds")


def build_tiny() -> None:
    """The data root of the tiny row: one video of a second, ingested as by default."""
    if not TINY.exists():
        video = make_video(MEDIA / "verify-tiny.mp4", "testsrc", 1)
        subprocess.run([sys.executable, "-m", "vabatch", "ingest", "--quiet", "--data",
                        str(TINY), str(video)], check=True)


def files_of(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file())


def timed(command: list[str], stdout, stderr=None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds (user + system), exit status) of one process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return (time.perf_counter() - started, usage.ru_utime + usage.ru_stime,
            process.returncode)


def timed_cat(files: list[str]) -> tuple[float, float]:
    wall, cpu, code = timed(["cat", *files], subprocess.DEVNULL)
    if code:
        raise SystemExit("cat failed")
    return wall, cpu


def timed_verify(root: Path) -> tuple[float, float]:
    with tempfile.TemporaryFile("w+") as out:
        wall, cpu, code = timed([sys.executable, "-m", "vabatch", "verify", "--data",
                                 str(root), "--json"], out)
        out.seek(0)
        text = out.read()
    if code != 0 or not json.loads(text)["ok"]:
        raise SystemExit(f"verify found problems in the bench data root: {text[:2000]}")
    return wall, cpu


IN_PROCESS = """
import json, resource, sys, time
from pathlib import Path
from vabatch.tools.verify import verify_videos
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
wall, used = time.perf_counter(), cpu()
reports = verify_videos(Path(sys.argv[1]))
assert all(r.ok for r in reports), [r.to_json() for r in reports if not r.ok]
print(json.dumps([time.perf_counter() - wall, cpu() - used]))
"""


def timed_verify_work(root: Path) -> tuple[float, float]:
    """verify_videos() timed inside its process: the checking, without the start-up of
    Python and of the command line (typer, rich, pydantic, the verify command's module)."""
    done = subprocess.run([sys.executable, "-c", IN_PROCESS, str(root)], check=True,
                          capture_output=True, text=True)
    wall, cpu = json.loads(done.stdout)
    return wall, cpu


def timed_start_up(root: Path) -> tuple[float, float]:
    """The verify command up to the point where it would check: it stops at a data root
    that does not exist (one error line, exit 2)."""
    missing = root.parent / f"{root.name}-missing"
    assert not missing.exists()
    wall, cpu, code = timed([sys.executable, "-m", "vabatch", "verify", "--data",
                             str(missing)], subprocess.DEVNULL, subprocess.DEVNULL)
    if code != 2:
        raise SystemExit(f"verify of a missing data root exited {code}, expected 2")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-mb", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=45, help="length of each video")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", type=Path, help="an existing data root to check (nothing "
                        "is built)")
    parser.add_argument("--bytecode", action="store_true", help="time the commands with "
                        "their modules' bytecode cached, as an installed package has it")
    args = parser.parse_args()
    root = args.root or ROOT
    if args.root is None:
        build(args.target_mb, args.seconds)
    build_tiny()
    files = files_of(root)
    total = data_bytes(root)
    cache = cache_bytecode() if args.bytecode else None
    try:
        measure(root, files, total, args.repeat)
    finally:
        if cache is not None:
            shutil.rmtree(cache)


def cache_bytecode() -> str:
    """Let the timed processes (children of this one) cache their bytecode, in a temporary
    folder rather than beside the sources."""
    cache = tempfile.mkdtemp(prefix="verify-bench-pyc-")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = cache
    return cache


def bytecode_state() -> str:
    if os.environ.get("PYTHONPYCACHEPREFIX"):
        return f"bytecode cached in {os.environ['PYTHONPYCACHEPREFIX']}"
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return ("bytecode not written (PYTHONDONTWRITEBYTECODE is set): modules without "
                "a cached one are compiled at every start")
    return "bytecode cached beside the sources"


def measure(root: Path, files: list[str], total: int, repeat: int) -> None:
    """Time the five rows ``repeat`` times, alternating, and print them."""
    load_before = os.getloadavg()[0]
    timed_cat(files)  # warm the page cache: both then read from memory
    timed_start_up(root)  # and the command's own files (and its bytecode with --bytecode)
    runs: dict[str, list[tuple[float, float]]] = {"cat": [], "verify": [], "checking": [],
                                                  "start-up": [], "tiny": []}
    for _ in range(repeat):
        runs["cat"].append(timed_cat(files))
        runs["verify"].append(timed_verify(root))
        runs["checking"].append(timed_verify_work(root))
        runs["start-up"].append(timed_start_up(root))
        runs["tiny"].append(timed_verify(TINY))
    mb = total / 1e6
    videos = len(list(root.glob("videos/*/*/video.db")))
    print(f"data root: {root} ({mb:.0f} MB, {len(files)} files, {videos} videos); "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on "
          f"{os.cpu_count()} CPUs; {bytecode_state()}")
    medians = {}
    for name, measured in runs.items():
        wall = statistics.median(w for w, _ in measured)
        cpu = statistics.median(c for _, c in measured)
        medians[name] = (wall, cpu)
        rates = ("" if name in ("start-up", "tiny") else
                 f" = {mb / wall:.0f} MB/s; CPU {cpu:.2f} s = {mb / cpu:.0f} MB/s")
        print(f"{name:8s} wall {wall:.2f} s{rates or f'; CPU {cpu:.2f} s'}  (runs, wall: "
              f"{', '.join(f'{w:.2f}' for w, _ in measured)}; CPU: "
              f"{', '.join(f'{c:.2f}' for _, c in measured)})")
    cat_wall, cat_cpu = medians["cat"]
    for name, label in (("verify", "verify command"), ("checking", "its checking alone")):
        wall, cpu = medians[name]
        print(f"{label} / cat: {cat_wall / wall:.2f}x wall, {cat_cpu / cpu:.2f}x CPU"
              " (target >= 0.5x)")


if __name__ == "__main__":
    main()
