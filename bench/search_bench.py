"""How fast ``vabatch search`` is on a large collection, against a plain Python loop.

    /work/main/.venv/bin/python bench/search_bench.py [--videos 300] [--rounds 5]

Builds ``--videos`` synthetic video directories (cached under bench/media/search/, which git
ignores): video.db, fullOCR.db and captions.db made through the real schema code
(``VideoDatabase(write=...)``: the FTS tables and their triggers are the product's), each
like an hour of video: 600 captions and 1,800 OCR frames of 3 boxes, half English, half
Chinese text. Then times, at 10 videos and at all of them, the median of ``--rounds`` per
query of ``search_videos`` (threads; and with one thread) and of the baseline: one
connection in one thread that ATTACHes each captions.db / fullOCR.db in turn, runs the
same SQL and DETACHes. Queries: an English word of 5 letters, one of 2, Chinese words of
1, 2 and 3 characters. Prints wall ms and CPU ms (user + system of every thread) per
query and the ratios search / baseline: on a busy machine CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import apsw  # noqa: E402

from vabatch.db import VideoDatabase  # noqa: E402
from vabatch.db.files import sqlite_uri  # noqa: E402
from vabatch.db.video_database import open_connection  # noqa: E402
from vabatch.tools.search import (  # noqa: E402
    TRIGRAM,
    fts_expression,
    parse_terms,
    search_videos,
)

MEDIA = HERE / "media" / "search"
CAPTIONS_PER_VIDEO = 600
OCR_FRAMES_PER_VIDEO = 1800
BOXES_PER_FRAME = 3
ENGLISH = ("harbour boat river town morning never thought about change winter nobody knew "
           "where ended she said everything would before came at go to in on of we he it "
           "light north dawn waiting market station train ticket window garden letter "
           "mother father doctor teacher story").split()
QUERIES = [("harbour", "English 7 letters"), ("at", "English 2 letters"),
           ("海", "Chinese 1 char"), ("海边", "Chinese 2 chars"), ("在海边", "Chinese 3 chars")]


def _chinese(rng: random.Random, length: int) -> str:
    common = "我们你他她在是的了不有这个上来到说要去会看好海边见面时候出人天心地"
    return "".join(rng.choice(common) for _ in range(length))


def _text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return " ".join(rng.choice(ENGLISH) for _ in range(rng.randint(3, 9))).capitalize()
    return _chinese(rng, rng.randint(4, 14))


def build_video(root: Path, number: int) -> Path:
    """One synthetic video directory (skipped when it is there already)."""
    video_id = f"{number:04x}" + "b" * 12
    video_dir = root / "videos" / video_id[:2] / video_id
    if (video_dir / "captions.db").is_file():
        return video_dir
    video_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(number)
    frames = [(i * 60, i * 2000) for i in range(OCR_FRAMES_PER_VIDEO)]  # 30 fps, OCR each 2 s
    with VideoDatabase(video_dir, write="video") as db, db.conn:
        db.execute("INSERT INTO video.video_metadata (id, source_name, content_sha256, width,"
                   " height, fps, frame_count, duration_ms, sampling_mode, sampling_value,"
                   " image_format, tool_version, ingested_at) VALUES (1, ?, ?, 640, 360, 30,"
                   " ?, ?, 'fps', 0.5, 'jpeg', 'bench', '2026-12-02T00:00:00Z')",
                   (f"episode{number:03d}.mp4", f"{number:064x}", len(frames) * 60,
                    len(frames) * 2000))
        db.conn.executemany("INSERT INTO video.full_frames (frame_index, timestamp_ms,"
                            " image_data, image_format, width, height)"
                            " VALUES (?, ?, x'00', 'jpeg', 1, 1)", frames)
    with VideoDatabase(video_dir, write="fullOCR") as db, db.conn:
        db.execute("INSERT INTO fullOCR.ocr_run VALUES (1, 'bench', '0', '{}')")
        db.conn.executemany("INSERT INTO fullOCR.ocr_frames VALUES (?, ?, NULL)",
                            [(f, BOXES_PER_FRAME) for f, _ in frames])
        rows = []
        for frame_index, _ in frames:
            caption = _text(rng)  # a caption stays on screen a few OCR frames
            rows += [(frame_index, 0, caption), (frame_index, 1, "VATV"),
                     (frame_index, 2, _text(rng))]
        db.conn.executemany("INSERT INTO fullOCR.full_frame_ocr (frame_index, box_index, text,"
                            " confidence, x, y, width, height) VALUES (?, ?, ?, 0.9, 0, 0,"
                            " 10, 10)", rows)
    with VideoDatabase(video_dir, write="captions") as db, db.conn:
        step = len(frames) * 60 // CAPTIONS_PER_VIDEO
        db.conn.executemany(
            "INSERT INTO captions.captions (start_frame_index, end_frame_index, start_ms,"
            " end_ms, text) VALUES (?, ?, ?, ?, ?)",
            [(i * step, (i + 1) * step, i * step * 100 // 3, (i + 1) * step * 100 // 3,
              _text(rng)) for i in range(CAPTIONS_PER_VIDEO)])
    return video_dir


def baseline(query: str, video_dirs: list[Path], place: str) -> int:
    """The plain loop: one connection, one thread, ATTACH each file, same SQL, DETACH."""
    terms = parse_terms(query)
    indexed = [t for t in terms if len(t) >= TRIGRAM]
    short = [t for t in terms if len(t) < TRIGRAM]
    alias, file_name = ("captions", "captions.db") if place == "captions" else (
        "fullOCR", "fullOCR.db")
    if indexed:
        table = "captions_fts" if place == "captions" else "full_frame_ocr_fts"
        sql = (f"SELECT rowid, text, bm25({table}) FROM {alias}.{table} WHERE {table} MATCH ?"
               + "".join(" AND instr(lower(text), ?)" for _ in short))
        bindings = (fts_expression(indexed), *short)
    else:
        table = "captions" if place == "captions" else "full_frame_ocr"
        sql = (f"SELECT rowid, text FROM {alias}.{table} WHERE 1"
               + "".join(" AND instr(lower(text), ?)" for _ in short))
        bindings = tuple(short)
    conn = open_connection("file::memory:?mode=memory")
    found = 0
    try:
        for video_dir in video_dirs:
            conn.execute(f"ATTACH DATABASE ? AS {alias}",
                         (sqlite_uri(video_dir / file_name, read_only=True),))
            found += len(conn.execute(sql, bindings).fetchall())
            conn.execute(f"DETACH DATABASE {alias}")
    finally:
        conn.close()
    return found


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
    return usage.ru_utime + usage.ru_stime


def timed(action, rounds: int) -> tuple[float, float, object]:
    """Median wall ms, median CPU ms (user + system, all threads) and the last value."""
    walls, cpus, value = [], [], None
    for _ in range(rounds):
        started, cpu = time.perf_counter(), _cpu_s()
        value = action()
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu_s() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    root = MEDIA / "data"
    started = time.perf_counter()
    video_dirs = [build_video(root, n) for n in range(args.videos)]
    print(f"{len(video_dirs)} synthetic videos in {root} (ready in "
          f"{time.perf_counter() - started:.1f} s); apsw {apsw.apsw_version()}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wall ms (CPU ms)")
    print(f"{'videos':>6} {'in':8} {'query':18} {'hits':>6} {'search':>15} "
          f"{'1 thread':>15} {'plain loop':>15} {'ratio':>6} {'cpu ratio':>9}")
    for count in sorted({min(10, len(video_dirs)), len(video_dirs)}):
        chosen = video_dirs[:count]
        for place in ("captions", "ocr"):
            for query, what in QUERIES:
                ms, cpu, result = timed(partial(search_videos, query, chosen, place=place,
                                                limit=20, workers=args.workers), args.rounds)
                one_ms, one_cpu, _ = timed(partial(search_videos, query, chosen, place=place,
                                                   limit=20, workers=1), args.rounds)
                loop_ms, loop_cpu, _ = timed(partial(baseline, query, chosen, place),
                                             args.rounds)
                assert not result.errors, result.errors
                print(f"{count:>6} {place:8} {what:18} {result.total_hits:>6} "
                      f"{ms:>7.1f} ({cpu:>5.0f}) {one_ms:>7.1f} ({one_cpu:>5.0f}) "
                      f"{loop_ms:>7.1f} ({loop_cpu:>5.0f}) {ms / loop_ms:>6.2f} "
                      f"{cpu / max(loop_cpu, 1e-3):>9.2f}", flush=True)


if __name__ == "__main__":
    main()
