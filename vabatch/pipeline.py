"""``vabatch run``: every missing or stale stage of each video, in order.

Each stage decides itself whether its database is up to date (it records what it was
made from), so running the pipeline again on unchanged data only checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from vabatch.errors import VabatchError

STAGES = ("ocr", "layout", "crop", "captions")


@dataclass
class PipelineResult:
    video_id: str
    stages: dict[str, str] = field(default_factory=dict)  # stage -> status
    captions: int = 0
    seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # the stages' (e.g. layout's)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict:
        return vars(self).copy()


class _Engines:
    """OCR engines loaded once per process and shared by the videos it runs."""

    def __init__(self) -> None:
        self.ocr = None
        self.captions = None


def run_video(video_dir: Path, data_root: Path, engines: _Engines | None = None,
              force: bool = False) -> PipelineResult:
    """Run ocr, layout, crop and captions on one video; stop at the first failure."""
    from vabatch.stages.captions import CaptionOptions, run_captions
    from vabatch.stages.crop import CropOptions, run_crop
    from vabatch.stages.layout import run_layout
    from vabatch.stages.ocr import OcrOptions, run_ocr

    started = time.monotonic()
    engines = engines or _Engines()
    result = PipelineResult(Path(video_dir).name)
    try:
        ocr_options = OcrOptions(force=force)
        engines.ocr = engines.ocr or ocr_options.make_engine()
        result.stages["ocr"] = run_ocr(video_dir, ocr_options, engines.ocr).status
        result.stages["layout"] = run_layout(video_dir, data_root, force).status
        result.stages["crop"] = run_crop(video_dir, CropOptions(force=force)).status
        caption_options = CaptionOptions(force=force)
        engines.captions = engines.captions or caption_options.make_engine()
        captions = run_captions(video_dir, caption_options, engines.captions)
        result.stages["captions"], result.captions = captions.status, captions.captions
    except VabatchError as error:
        result.error = str(error)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def stage_options(force: bool = False) -> dict:
    """The options of every stage of ``vabatch run``, as the engine's tasks carry them."""
    from vabatch.engine import LayoutOptions
    from vabatch.stages.captions import CaptionOptions
    from vabatch.stages.crop import CropOptions
    from vabatch.stages.ocr import OcrOptions

    return {"ocr": OcrOptions(force=force), "layout": LayoutOptions(force),
            "crop": CropOptions(force=force), "captions": CaptionOptions(force=force)}


def pipeline_result(tasks) -> PipelineResult:
    """One video's PipelineResult from its engine tasks (in stage order)."""
    result = PipelineResult(Path(tasks[0].target).name)
    for task in tasks:
        result.seconds += task.seconds
        if task.status == "done":
            result.stages[task.stage] = task.result_status
            if task.stage == "captions":
                result.captions = task.result.captions
            result.warnings += getattr(task.result, "warnings", [])
        elif result.error is None:  # the first failure; later stages were skipped
            result.error = task.error or f"{task.stage}: {task.status}"
    result.seconds = round(result.seconds, 3)
    return result


def pipeline_results(report) -> list[PipelineResult]:
    """PipelineResults of every video of an engine report, in the order of its videos."""
    by_video: dict[str, list] = {}
    for task in report.tasks:
        by_video.setdefault(str(task.target), []).append(task)
    return [pipeline_result(tasks) for tasks in by_video.values()]


def run_videos(video_dirs: list[Path], data_root: Path, workers: int | None = None,
               force: bool = False, on_result=None, settings=None) -> list[PipelineResult]:
    """Run the pipeline on many videos on the batch engine; results in order.

    ``workers`` processes at a time (default: the number of cores); stages of one video run
    in order, different videos side by side. ``on_result(PipelineResult)`` is called as
    each video ends. ``settings`` (vabatch.engine.EngineSettings) replaces ``workers``.
    """
    from vabatch.engine import EngineSettings, Observer, run_stages

    video_dirs = [Path(d) for d in video_dirs]
    pending = {str(d): len(STAGES) for d in video_dirs}
    finished: dict[str, list] = {str(d): [] for d in video_dirs}

    class _VideoEnds(Observer):
        def task_finished(self, task):
            key = str(task.target)
            finished[key].append(task)
            pending[key] -= 1
            if pending[key] == 0 and on_result:
                on_result(pipeline_result(sorted(finished[key], key=lambda t: t.number)))

    if settings is None:
        settings = EngineSettings(workers=workers, record=False, command="run")
    if on_result is not None:
        settings.observer = _chain(settings.observer, _VideoEnds())
    report = run_stages(video_dirs, STAGES, stage_options(force), data_root, settings)
    return pipeline_results(report)


def _chain(first, second):
    """One observer calling two (the live display, and a caller's per-video hook)."""
    from vabatch.engine import Observer

    if first is None:
        return second

    class _Both(Observer):
        def run_started(self, *args):
            first.run_started(*args)
            second.run_started(*args)

        def task_started(self, *args):
            first.task_started(*args)
            second.task_started(*args)

        def task_progress(self, *args):
            first.task_progress(*args)
            second.task_progress(*args)

        def task_retrying(self, *args):
            first.task_retrying(*args)
            second.task_retrying(*args)

        def task_finished(self, *args):
            first.task_finished(*args)
            second.task_finished(*args)

        def run_finished(self, *args):
            first.run_finished(*args)
            second.run_finished(*args)

    return _Both()
