"""Benchmark: a collection of many small videos (300 by default), the figures of issue 15's
closing note that are not about query/search (those are in the query-search bench).

Builds a data root (under a temporary folder, or ``--keep DIR``) of ``--videos`` really
ingested videos (320x180, ``--seconds`` each, each with its own hue so every video id
differs; 4 sampled frames a second), then writes through ``VideoDatabase`` per video: an
``ocr_run`` naming the installed OCR engine and ``--boxes`` OCR boxes per frame, a
``layout_run`` and a label per box, a caption every 2 s (the stages themselves are not
what is measured). Then, in one process and the same run:

- dataset: ``cv2.imdecode`` of every stored frame, blobs already in memory (the floor),
  against ``FrameSamples`` iterated whole (row, boxes + labels, caption, decode), and
  without the decode;
- backup: ``vabatch backup`` (SQLite's online backup API, then verify; and without the
  verify) against ``cp -r`` + ``sync`` of the same files;
- info: ``collect_info`` in this process, its header pass against opening every database
  for its versions, and ``vabatch info --json`` as a command (Python start-up included).

    python bench/collection_bench.py [--videos 300] [--seconds 2] [--boxes 4] [--repeat 3]
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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vabatch.db import DATABASE_ORDER, KINDS, VideoDatabase  # noqa: E402
from vabatch.media import Sampling  # noqa: E402
from vabatch.stages.ingest import IngestOptions, ingest_file  # noqa: E402
from vabatch.tools.backup import backup  # noqa: E402
from vabatch.tools.dataset import FrameSamples  # noqa: E402
from vabatch.tools.info import (  # noqa: E402
    _scan_databases,
    _scan_records,
    collect_info,
    connection_header,
    installed_ocr_engine,
)


def build_one(base: Path, data: Path, number: int, seconds: float, boxes: int,
              engine: dict) -> str:
    """One ingested video with synthetic OCR, labels and captions; its video id."""
    video = base / "inputs" / f"v{number:04d}.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x180:rate=25,hue=h={number * 360 / 1000:.2f}",
                    "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(video)], check=True)
    result = ingest_file(video, data, IngestOptions(Sampling("fps", 4)))
    assert result.status == "ingested", result.error
    video_dir = Path(result.video_dir)
    video.unlink()  # the data root holds it (hard link or copy)
    with VideoDatabase(video_dir) as db:
        frames = [f for (f,) in db.execute("SELECT frame_index FROM video.full_frames")]
    with VideoDatabase(video_dir, write="fullOCR") as db, db.conn:
        db.execute("INSERT INTO fullOCR.ocr_run (id, engine, engine_version, parameters)"
                   " VALUES (1, ?, ?, ?)", (engine.get("name", "?"), engine.get("version", "?"),
                                           json.dumps({"engine": engine})))
        db.conn.executemany(
            "INSERT INTO fullOCR.full_frame_ocr (frame_index, box_index, text, confidence,"
            " x, y, width, height) VALUES (?, ?, ?, 0.9, ?, ?, 80, 16)",
            [(f, b, f"words {number} {f} {b}", 10 + b * 3, 140 + b * 8) for f in frames
             for b in range(boxes)])
    with VideoDatabase(video_dir, write="layout") as db, db.conn:
        db.execute("INSERT INTO layout.layout_run (id, inputs_sha256, method, tool_version)"
                   " VALUES (1, 'bench', 'rules', 'bench')")
        db.conn.executemany(
            "INSERT INTO layout.full_frame_box_labels (frame_index, box_index, label,"
            " label_source) VALUES (?, ?, ?, 'model')",
            [(f, b, "caption" if b == 0 else "noise") for f in frames for b in range(boxes)])
    last_frame = int(seconds * 25)
    with VideoDatabase(video_dir, write="captions") as db, db.conn:
        db.conn.executemany(
            "INSERT INTO captions.captions (start_frame_index, end_frame_index, start_ms,"
            " end_ms, text) VALUES (?, ?, ?, ?, ?)",
            [(s, min(s + 50, last_frame), s * 40, min(s + 50, last_frame) * 40,
              f"caption {number} at {s}") for s in range(0, last_frame, 50)])
    return video_dir.name


def build(base: Path, videos: int, seconds: float, boxes: int, workers: int) -> Path:
    data = base / "data"
    (base / "inputs").mkdir(parents=True, exist_ok=True)
    engine = installed_ocr_engine()
    build_one(base, data, 0, seconds, boxes, engine)  # the data root's folders, one writer
    with ProcessPoolExecutor(workers) as pool:
        ids = list(pool.map(build_one, *zip(*[(base, data, n, seconds, boxes, engine)
                                              for n in range(1, videos)], strict=True)))
    assert len(set(ids)) == videos - 1, "every video must have its own id"
    return data


LAST: list = [None]  # what the last timed action returned


def timed(action, repeat: int) -> tuple[float, list[float]]:
    """(median seconds, every run's seconds); the last result in ``LAST[0]``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        LAST[0] = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), [round(t, 3) for t in times]


def blobs_of(data: Path) -> list[bytes]:
    found = []
    for video_dir in sorted(data.glob("videos/*/*")):
        with VideoDatabase(video_dir, only=("video",)) as db:
            found += [b for (b,) in db.execute("SELECT image_data FROM video.full_frames"
                                               " ORDER BY frame_index")]
    return found


def bench_dataset(data: Path, repeat: int) -> None:
    import cv2
    import numpy as np

    blobs = blobs_of(data)
    count = len(blobs)
    floor, floor_t = timed(lambda: [cv2.imdecode(np.frombuffer(b, np.uint8), 1)
                                    for b in blobs], repeat)
    samples = FrameSamples(data)
    assert len(samples) == count, (len(samples), count)
    full, full_t = timed(lambda: [s for s in samples], repeat)
    raw = FrameSamples(data, decode=False)
    nodecode, nodecode_t = timed(lambda: [s for s in raw], repeat)
    print(f"dataset: {count} frames ({sum(map(len, blobs)) / count / 1024:.1f} KB JPEG each)")
    print(f"  cv2.imdecode only      {count / floor:8.0f} samples/s  runs {floor_t}")
    print(f"  FrameSamples           {count / full:8.0f} samples/s  runs {full_t}  "
          f"({floor / full:.2f}x of imdecode alone)")
    print(f"  FrameSamples no decode {count / nodecode:8.0f} samples/s  runs {nodecode_t}")


def bench_backup(data: Path, base: Path, repeat: int) -> None:
    size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    files = sum(1 for p in data.rglob("*") if p.is_file())
    target = base / "backup"
    checked, checked_t = timed(lambda: backup(data, target, force=True, link_videos=False),
                               repeat)
    checked_videos = LAST[0].reports
    assert len(checked_videos) == len(list(data.glob("videos/*/*"))), "every video verified"
    assert not [r for r in checked_videos if r.problems], "the backup must verify"
    bare, bare_t = timed(lambda: backup(data, target, force=True, link_videos=False,
                                        verify=False), repeat)
    copied, copy_t = timed(lambda: subprocess.run(
        ["sh", "-c", f"rm -rf '{base}/cp' && cp -r '{data}' '{base}/cp' && sync"],
        check=True), repeat)
    plain, plain_t = timed(lambda: subprocess.run(
        ["sh", "-c", f"rm -rf '{base}/cp' && cp -r '{data}' '{base}/cp'"], check=True), repeat)
    megabytes = size / 1e6
    print(f"backup: {megabytes:.1f} MB in {files} files")
    print(f"  vabatch backup         {megabytes / checked:8.1f} MB/s  runs {checked_t}"
          f"  (includes verify; {checked / copied:.2f}x the time of cp)")
    print(f"  backup without verify  {megabytes / bare:8.1f} MB/s  runs {bare_t}"
          f"  ({bare / copied:.2f}x the time of cp)")
    print(f"  cp -r + sync           {megabytes / copied:8.1f} MB/s  runs {copy_t}  (sync: "
          "every dirty page of the machine, as backup's syncfs)")
    print(f"  cp -r, no sync         {megabytes / plain:8.1f} MB/s  runs {plain_t}  (backup "
          f"without verify: {bare / plain:.2f}x the time)")


def versions_by_connection(video_dirs: list[Path]) -> int:
    """The baseline of the header pass: one read-only connection per database file."""
    opened = 0
    for video_dir in video_dirs:
        for alias in DATABASE_ORDER:
            path = video_dir / KINDS[alias].file_name
            if path.exists():
                path.stat()
                connection_header(path)
                opened += 1
    return opened


def bench_info(data: Path, repeat: int) -> None:
    from vabatch.dataroot import list_video_dirs

    video_dirs = list_video_dirs(data)
    whole, whole_t = timed(lambda: collect_info(data), repeat)
    headers, headers_t = timed(lambda: _scan_databases(video_dirs), repeat)
    files = versions_by_connection(video_dirs)
    connections, connections_t = timed(lambda: versions_by_connection(video_dirs), repeat)
    records, records_t = timed(lambda: _scan_records(video_dirs), repeat)
    command = [sys.executable, "-m", "vabatch", "info", "--json", "--data", str(data)]
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cli, cli_t = timed(lambda: subprocess.run(command, check=True, capture_output=True,
                                              env=environment), repeat)
    shown = collect_info(data)
    assert shown.videos == len(video_dirs)
    print(f"info: {len(video_dirs)} videos, {files} database files (warm page cache)")
    print(f"  collect_info (all)             {whole * 1000:8.1f} ms  runs {whole_t}")
    print(f"  sizes + versions, headers      {headers * 1000:8.1f} ms  runs {headers_t}")
    print(f"  versions, one connection each  {connections * 1000:8.1f} ms  runs "
          f"{connections_t}  (headers: {connections / headers:.1f}x faster)")
    print(f"  OCR/layout records             {records * 1000:8.1f} ms  runs {records_t}")
    print(f"  vabatch info --json            {cli * 1000:8.1f} ms  runs {cli_t}  (a new "
          "process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=2)
    parser.add_argument("--boxes", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="processes building the data")
    parser.add_argument("--keep", type=Path, help="build in (and keep) this new folder")
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    base = args.keep or Path(tempfile.mkdtemp(prefix="vabatch-collection-bench-"))
    try:
        started = time.perf_counter()
        data = (base / "data") if (base / "data").is_dir() else build(
            base, args.videos, args.seconds, args.boxes, args.workers)
        print(f"collection of {args.videos} videos ({args.seconds:g} s, 320x180, 4 frames/s, "
              f"{args.boxes} boxes a frame) ready in {time.perf_counter() - started:.1f} s "
              f"at {data}")
        bench_info(data, args.repeat)
        bench_dataset(data, args.repeat)
        bench_backup(data, base, args.repeat)
    finally:
        for leftover in ("backup", "cp"):
            shutil.rmtree(base / leftover, ignore_errors=True)
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
