"""Migration throughput against ``cp`` of the same legacy file, in the same run.

    /work/venv/bin/python bench/migrate_bench.py [--megabytes 600] [--rounds 3]
    /work/venv/bin/python bench/migrate_bench.py --collection 16 [--workers 2]

Builds (once, cached under bench/media/, which git ignores) a legacy monolithic captions.db of
at least ``--megabytes``: JPEG frames of about 100 KB (real JPEGs from OpenCV, padded with
incompressible comment segments as camera frames are), 10 OCR boxes and labels per frame,
PNG caption crops, captions. Each round: ``cp`` the file into a fresh directory (timed), then
``vabatch migrate`` that directory as a subprocess (timed; includes interpreter start-up, the
proof hashing of both sides and the fsyncs). Prints MB/s of both and their ratio (medians).

Two cases: ``warm`` (the file is in the page cache, so ``cp`` is an in-kernel memory copy)
and ``cold`` (the input's pages are evicted with posix_fadvise before each timed step, as
for a collection larger than memory: 60.9 GB on a 23 GB machine).

``--collection N`` measures what the first user will run instead: N directories, each with
a copy of the legacy file (16 x 609 MB = 9.7 GB by default, more than the kernel lets a
writer keep unwritten: vm.dirty_ratio), ``cp -r`` of all of them against one ``vabatch
migrate --workers W`` of all of them. Inputs are evicted before each timed step and the
disk is synced (untimed) between steps, so neither pays for the other's writeback; ``cp``
is timed as a user sees it (it returns before its data is on disk), and with a final
``sync`` for comparison.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MEDIA = HERE / "media" / "migrate"
FRAME_BYTES = 100_000
BOXES_PER_FRAME = 10


def build_legacy(path: Path, megabytes: int) -> None:
    """A legacy file of about ``megabytes`` MB (reused when it is already there)."""
    sys.path.insert(0, str(REPO))
    from testkit.legacy import LEGACY_SCHEMA, frame_image, jpeg_bytes, png_bytes

    if path.exists() and path.stat().st_size >= megabytes * 1_000_000:
        return
    import apsw
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.unlink(missing_ok=True)
    conn = apsw.Connection(str(partial))
    conn.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF")
    for sql in LEGACY_SCHEMA.values():
        conn.execute(sql)
    frames = megabytes * 1_000_000 // (FRAME_BYTES + 8_000) + 1
    every, fps = 25, 25.0
    bases = [cv2.resize(frame_image(n), (1280, 720)) for n in range(8)]
    crops = [png_bytes(image[600:700, 100:1180]) for image in bases]
    with conn:
        conn.execute("INSERT INTO video_metadata VALUES (1, '/old/bench.mp4', NULL, 1280, 720,"
                     " ?, ?, ?, '2023-01-01')", (fps, frames * every, frames * every / fps))
        for number in range(frames):
            frame_index = number * every
            conn.execute("INSERT INTO full_frames VALUES (?, ?, ?, 1280, 720, '2023-01-01')",
                         (frame_index, frame_index / fps,
                          jpeg_bytes(bases[number % 8], pad_to=FRAME_BYTES)))
            conn.execute("INSERT INTO cropped_frames VALUES (?, ?, 100, 600, 1180, 700,"
                         " '2023-01-01')", (frame_index, crops[number % 8]))
            for box in range(BOXES_PER_FRAME):
                conn.execute("INSERT INTO full_frame_ocr (frame_index, box_index, text,"
                             " confidence, x, y, width, height) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (frame_index, box, f"word {number} {box}", 0.9, 10 * box, 600, 80,
                              30))
                conn.execute("INSERT INTO full_frame_box_labels (frame_index, box_index, label)"
                             " VALUES (?, ?, ?)", (frame_index, box, "caption" if box < 3
                                                   else "noise"))
            if number % 4 == 0:
                conn.execute("INSERT INTO captions (start_frame_index, end_frame_index, text)"
                             " VALUES (?, ?, ?)", (frame_index, frame_index + 4 * every,
                                                   f"caption {number}"))
        conn.execute("INSERT INTO box_classification_model VALUES (1, 'v1', ?, '2023', 100,"
                     " 0.9)", (os.urandom(200_000),))
        conn.execute("INSERT INTO video_layout_config VALUES (1, 100, 600, 1180, 700,"
                     " 'bottom', '2023')")
    conn.close()
    os.replace(partial, path)


def timed(command: list[str], env=None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def evict(path: Path) -> None:
    """Drop this one file's pages from the page cache (written pages are synced first)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cp_and_sync(source: Path, target: Path) -> None:
    subprocess.run(["cp", str(source), str(target)], check=True)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)  # what migrate must also do before its commit point
    finally:
        os.close(fd)


def measure(legacy: Path, rounds: int, cold: bool, env: dict) -> tuple[list, list, list]:
    cp_seconds, migrate_seconds, synced_seconds = [], [], []
    for _ in range(rounds):
        work = MEDIA / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        if cold:
            evict(legacy)
        cp_seconds.append(timed(["cp", str(legacy), str(work / "captions.db")]))
        if cold:
            evict(legacy)
        started = time.perf_counter()
        cp_and_sync(legacy, work / "synced.db")
        synced_seconds.append(time.perf_counter() - started)
        (work / "synced.db").unlink()
        if cold:
            evict(work / "captions.db")
        migrate_seconds.append(timed([sys.executable, "-m", "vabatch", "migrate", "-q",
                                      str(work)], env))
        listing = sorted(p.name for p in work.iterdir())
        assert "video.db" in listing and "captions.db.old" in listing, listing
    shutil.rmtree(MEDIA / "work", ignore_errors=True)
    return cp_seconds, migrate_seconds, synced_seconds


def measure_collection(legacy: Path, count: int, workers: int, rounds: int,
                       env: dict) -> None:
    """``cp -r`` of ``count`` legacy directories against one ``vabatch migrate`` of them."""
    size = legacy.stat().st_size * count
    root = MEDIA / "collection"
    print(f"collection: {count} directories x {legacy.stat().st_size / 1e6:.0f} MB = "
          f"{size / 1e9:.1f} GB; migrate --workers {workers}")
    print(f"{'round':5s} {'cp MB/s':>9s} {'migrate MB/s':>13s} {'ratio':>6s}"
          f" {'cp+sync MB/s':>13s} {'ratio':>6s}   seconds (cp / cp+sync / migrate)")
    results = []
    for number in range(1, rounds + 1):
        shutil.rmtree(root, ignore_errors=True)
        sources = [root / "legacy" / f"video{n:03d}" for n in range(count)]
        for directory in sources:  # untimed: the user's collection, on disk, not cached
            directory.mkdir(parents=True)
            shutil.copyfile(legacy, directory / "captions.db")
        subprocess.run(["sync"], check=True)
        for directory in sources:
            evict(directory / "captions.db")
        started = time.perf_counter()
        subprocess.run(["cp", "-r", str(root / "legacy"), str(root / "copied")], check=True)
        cp_seconds = time.perf_counter() - started
        subprocess.run(["sync"], check=True)
        synced_seconds = time.perf_counter() - started
        shutil.rmtree(root / "copied")
        subprocess.run(["sync"], check=True)
        for directory in sources:
            evict(directory / "captions.db")
        migrate_seconds = timed([sys.executable, "-m", "vabatch", "migrate", "-q",
                                 "--workers", str(workers), *map(str, sources)], env)
        assert all((d / "video.db").exists() and (d / "captions.db.old").exists()
                   for d in sources)
        cp_rate, synced_rate, migrate_rate = (size / seconds / 1e6 for seconds in
                                              (cp_seconds, synced_seconds, migrate_seconds))
        results.append((cp_rate, synced_rate, migrate_rate))
        print(f"{number:<5d} {cp_rate:9.0f} {migrate_rate:13.0f} {migrate_rate / cp_rate:5.2f}x"
              f" {synced_rate:13.0f} {migrate_rate / synced_rate:5.2f}x   "
              f"{cp_seconds:.1f} / {synced_seconds:.1f} / {migrate_seconds:.1f}")
    shutil.rmtree(root, ignore_errors=True)
    if rounds > 1:
        cp_rate, synced_rate, migrate_rate = (statistics.median(column)
                                              for column in zip(*results, strict=True))
        print(f"{'med':5s} {cp_rate:9.0f} {migrate_rate:13.0f} {migrate_rate / cp_rate:5.2f}x"
              f" {synced_rate:13.0f} {migrate_rate / synced_rate:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--collection", type=int, default=0, metavar="N",
                        help="N directories with a copy each, migrated in one command")
    parser.add_argument("--workers", type=int, default=2, help="with --collection")
    args = parser.parse_args()

    legacy = MEDIA / "legacy" / "captions.db"
    started = time.perf_counter()
    build_legacy(legacy, args.megabytes)
    size = legacy.stat().st_size
    print(f"legacy file: {size / 1e6:.0f} MB ({legacy}), ready in "
          f"{time.perf_counter() - started:.1f} s")
    env = os.environ | {"PYTHONPATH": str(REPO)}
    if args.collection:
        measure_collection(legacy, args.collection, args.workers, args.rounds, env)
        return
    print(f"{'case':5s} {'cp MB/s':>9s} {'migrate MB/s':>13s} {'ratio':>6s}"
          f" {'cp+fsync MB/s':>14s} {'ratio':>6s}   seconds per round (cp / migrate)")
    for case in ("warm", "cold"):
        if case == "warm":
            subprocess.run(["cat", str(legacy)], stdout=subprocess.DEVNULL, check=True)
        cp_seconds, migrate_seconds, synced_seconds = measure(legacy, args.rounds,
                                                              case == "cold", env)
        cp_rate = size / statistics.median(cp_seconds) / 1e6
        migrate_rate = size / statistics.median(migrate_seconds) / 1e6
        synced_rate = size / statistics.median(synced_seconds) / 1e6
        rounds = ", ".join(f"{c:.2f} / {m:.2f}"
                           for c, m in zip(cp_seconds, migrate_seconds, strict=True))
        print(f"{case:5s} {cp_rate:9.0f} {migrate_rate:13.0f} {migrate_rate / cp_rate:5.2f}x"
              f" {synced_rate:14.0f} {migrate_rate / synced_rate:5.2f}x   {rounds}")
    print("migrate times include interpreter start-up, both sides of the proof and fsync; "
          "target: ratio to cp >= 0.5x (cp+fsync, i.e. cp with migrate's durability, is shown "
          "for comparison only)")


if __name__ == "__main__":
    main()
