"""The batch engine's figures, each against a baseline measured in the same run.

1. Speed-up of `vabatch run` (ocr, layout, crop, captions) from 1 to 2 local workers over
   ``--videos`` captioned videos (default 8).
2. The same on a Dask LocalCluster of 1, then 2 worker processes.
3. The engine's own overhead per task: a no-op `vabatch run` over ``--noop-videos`` videos
   (default 300; every stage already up to date), against the same stage calls made in a
   plain loop in one process; and the bare scheduling cost of a probe stage that does
   nothing at all.

    python bench/engine_bench.py [--videos 8] [--noop-videos 300] [--work DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testkit.corpus import VideoSpec, make_video, random_captions  # noqa: E402


def _make_inputs(count: int, media: Path) -> list[Path]:
    specs = [VideoSpec(f"engine{n:02d}", random_captions(12, seed=n), 12, width=640,
                       height=360, fps=25, background="gradients", font_size=20, logo=True,
                       seed=n) for n in range(count)]
    return [make_video(spec, media)[0] for spec in specs]


def _ingest(videos: list[Path], root: Path) -> list[Path]:
    from vabatch.api import EngineSettings, ingest, list_video_dirs
    from vabatch.media import Sampling
    from vabatch.stages.ingest import IngestOptions

    results = ingest(videos, root, IngestOptions(Sampling("fps", 1.0)),
                     EngineSettings(workers=2, record=False)).results()
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return list_video_dirs(root)


def _timed_run(source: Path, work: Path, name: str, **engine) -> float:
    from vabatch.api import EngineSettings, list_video_dirs, pipeline_results, run_pipeline

    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(source, root)
    started = time.perf_counter()
    results = pipeline_results(run_pipeline(list_video_dirs(root), root,
                                            settings=EngineSettings(record=False, **engine)))
    seconds = time.perf_counter() - started
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    shutil.rmtree(root, ignore_errors=True)
    return seconds


def _cluster_run(source: Path, work: Path, name: str, workers: int) -> float:
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    try:
        return _timed_run(source, work, name, scheduler=cluster.scheduler_address)
    finally:
        cluster.close()


def _noop_root(done_dir: Path, root: Path, count: int) -> list[Path]:
    """``count`` copies of one finished video directory (hard links for the source)."""
    from vabatch.dataroot import video_dir_for

    dirs = []
    for number in range(count):
        video_id = f"{number:016x}"
        target = video_dir_for(root, video_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(done_dir, target, copy_function=_link_or_copy)
        dirs.append(target)
    return dirs


def _link_or_copy(source, destination):
    if source.endswith(".mp4"):
        os.link(source, destination)
    else:
        shutil.copy2(source, destination)


def _plain_loop(video_dirs: list[Path], root: Path) -> float:
    """The same stage functions called directly in this process, without the engine: the
    baseline (only a benchmark calls a stage outside the engine)."""
    from vabatch.stages.base import StageContext
    from vabatch.stages.registry import PIPELINE, STAGES

    shared: dict = {}
    started = time.perf_counter()
    for video_dir in video_dirs:
        for name in PIPELINE:
            stage = STAGES[name]
            result = stage.run(StageContext(video_dir, root, shared=shared), stage.options())
            assert result.status == "unchanged", result
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--noop-videos", type=int, default=300)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    from vabatch.api import (
        EngineSettings,
        list_video_dirs,
        pipeline_results,
        run_pipeline,
        run_stages,
    )
    from vabatch.stages.probe import ProbeOptions
    from vabatch.stages.registry import PIPELINE as STAGES

    work = args.work or Path(tempfile.mkdtemp(prefix="vabatch-engine-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}; {os.cpu_count()} cores")
    videos = _make_inputs(args.videos, work / "media")
    ingested = work / "ingested"
    if not ingested.exists():
        _ingest(videos, ingested)
    count = len(list_video_dirs(ingested))

    one = _timed_run(ingested, work, "w1", workers=1)
    two = _timed_run(ingested, work, "w2", workers=2)
    print(f"local   : {count} videos, 1 worker {one:6.1f} s, 2 workers {two:6.1f} s, "
          f"speed-up {one / two:.2f}x")
    if not args.skip_dask:
        dask_one = _cluster_run(ingested, work, "d1", 1)
        dask_two = _cluster_run(ingested, work, "d2", 2)
        print(f"dask    : {count} videos, 1 worker {dask_one:6.1f} s, 2 workers "
              f"{dask_two:6.1f} s, speed-up {dask_one / dask_two:.2f}x "
              f"(LocalCluster, processes)")

    # -- overhead on a no-op run ------------------------------------------------------------
    done = work / "done"
    shutil.rmtree(done, ignore_errors=True)
    shutil.copytree(ingested, done)
    first = list_video_dirs(done)[0]
    [result] = pipeline_results(run_pipeline([first], done,
                                             settings=EngineSettings(workers=1, record=False)))
    assert result.ok, result.error
    noop = work / "noop"
    shutil.rmtree(noop, ignore_errors=True)
    dirs = _noop_root(first, noop, args.noop_videos)
    tasks = len(dirs) * len(STAGES)
    baseline = _plain_loop(dirs, noop)
    for workers in (1, 2):
        started = time.perf_counter()
        results = pipeline_results(run_pipeline(dirs, noop, settings=EngineSettings(
            workers=workers, command="run")))
        seconds = time.perf_counter() - started
        assert all(set(r.stages.values()) == {"unchanged"} for r in results)
        overhead_ms = (seconds * workers - baseline) / tasks * 1000
        print(f"no-op   : {len(dirs)} videos x {len(STAGES)} stages = {tasks} tasks; plain "
              f"loop {baseline:5.2f} s; engine, {workers} worker(s), records on: "
              f"{seconds:5.2f} s wall -> {overhead_ms:.2f} ms engine overhead per task "
              f"(worker-seconds beyond the plain loop)")
    started = time.perf_counter()
    report = run_stages(dirs, ["probe"] * len(STAGES), noop, {"probe": ProbeOptions()},
                        EngineSettings(workers=2, command="probe"))
    seconds = time.perf_counter() - started
    assert report.ok
    print(f"probe   : {tasks} tasks that do nothing, 2 workers: {seconds:5.2f} s -> "
          f"{seconds / tasks * 1000:.2f} ms per task, end to end (spawn included)")


if __name__ == "__main__":
    main()
