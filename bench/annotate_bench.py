"""How long people's caption edits take, and what they cost in DVC terms.

A synthetic video directory (ingested tiny video, ``--captions N`` automatic captions as the
captions stage writes them) gets each edit of the CaptionEditor in turn, then an SRT round
trip (export, unchanged import, an import with 10% of the cues edited). Prints the median
milliseconds per operation and the size of captions.db against video.db.

    PYTHONPATH=. python -m bench.annotate_bench [--captions 600] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import srt

from testkit.videos import make_video
from vabatch.db import VideoDatabase
from vabatch.media import Sampling
from vabatch.stages.ingest import IngestOptions, ingest_file
from vabatch.tools.annotate.edits import CaptionEditor
from vabatch.tools.annotate.subtitles import export_subtitles, import_subtitles

FPS = 25


def build(folder: Path, captions: int) -> Path:
    frames = captions * 20 + 20
    video = make_video(folder / "v.mp4", seconds=frames / FPS, size="160x90", fps=FPS)
    video_dir = Path(ingest_file(video, folder / "data",
                                 IngestOptions(Sampling("fps", 1.0))).video_dir)
    with VideoDatabase(video_dir, write="captions", require=("video",)) as db, db.conn:
        db.conn.executemany(
            "INSERT INTO captions.captions (start_frame_index, end_frame_index, start_ms,"
            " end_ms, text, confidence, agreement, readings, source) VALUES"
            " (?, ?, ?, ?, ?, 0.9, 1.0, 2, 'auto')",
            [(n * 20 + 2, n * 20 + 18, (n * 20 + 2) * 40, (n * 20 + 18) * 40,
              f"caption number {n}") for n in range(captions)])
    return video_dir


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--captions", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        video_dir = build(Path(folder), args.captions)
        editor = CaptionEditor(video_dir)
        ids = [c.caption_id for c in editor.captions()]
        results: dict[str, list[float]] = {}

        def record(name, action):
            results.setdefault(name, []).append(timed(action))

        for n in range(args.repeat):
            target = ids[n * 3]
            record("captions()", editor.captions)
            record("least_certain()", editor.least_certain)
            record("set_text", lambda t=target, n=n: editor.set_text(t, f"fixed {n}"))
            shown = editor.caption(target)
            record("set_bounds", lambda t=target, c=shown: editor.set_bounds(
                t, c.start_frame_index + 1, c.end_frame_index))
            record("split", lambda t=target, c=shown: editor.split(t, c.end_frame_index - 4))
            record("delete", lambda t=ids[n * 3 + 1]: editor.delete(t))
            record("undo", editor.undo)
        text = export_subtitles(video_dir, "srt")
        path = Path(folder) / "c.srt"
        path.write_text(text)
        record("export srt", lambda: export_subtitles(video_dir, "srt"))
        record("import unchanged", lambda: import_subtitles(video_dir, path))
        cues = list(srt.parse(text))
        for cue in cues[::10]:
            cue.content += " (edited)"
        path.write_text(srt.compose(cues))
        record(f"import {len(cues[::10])} edited cues", lambda: import_subtitles(video_dir,
                                                                                  path))
        sizes = {p.name: p.stat().st_size for p in video_dir.glob("*.db")}
    print(f"{args.captions} captions, {args.repeat} repeats; median ms per operation:")
    for name, values in results.items():
        print(f"  {name:<28} {statistics.median(values):8.1f}")
    print("database sizes (bytes): " + ", ".join(f"{k} {v}" for k, v in sorted(sizes.items())))


if __name__ == "__main__":
    main()
