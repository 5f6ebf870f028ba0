"""The library entry point: what the command line, the demo, the tests and the benchmarks call.

As sqlite-utils has ``db.py`` under a thin ``cli.py``: every operation a user can ask for is
a function here (or re-exported from here) that takes plain arguments and returns result
objects; nothing here prints. Stages only ever run through the batch engine
(``vabatch.engine``): worker processes by default, ``EngineSettings(backend='inprocess')``
for tests, the demo and debugging, or a Dask cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vabatch.dataroot import (
    list_video_dirs,
    remove_abandoned_staging,
    require_writable,
    resolve_data_root,
    select_video_dirs,
    video_dir_for,
)
from vabatch.engine import (
    EngineSettings,
    Observer,
    Observers,
    RunReport,
    Task,
    failed_tasks,
    list_runs,
    run_tasks,
    run_tasks_of,
    stage_tasks,
)
from vabatch.errors import InputError
from vabatch.stages.ingest import expand_inputs
from vabatch.stages.layout import (
    export_labels,
    import_labels,
    orphan_labels,
    parse_labels,
    render_layout,
    settle_orphan_labels,
    train_layout,
)
from vabatch.stages.ocr import RECORDED_SETTINGS as RECORDED_OCR_SETTINGS
from vabatch.stages.registry import PIPELINE, STAGES, get_stage
from vabatch.tools.annotate.edits import CaptionEditor, CaptionView, set_box_label
from vabatch.tools.annotate.subtitles import export_subtitles, import_subtitles
from vabatch.tools.backup import CopyResult
from vabatch.tools.backup import backup as backup_data
from vabatch.tools.backup import restore as restore_data
from vabatch.tools.boundaries import BoundaryTraining, video_samples
from vabatch.tools.boundaries import train as train_boundary_model
from vabatch.tools.dataset import CaptionSamples, FrameSamples, Sample, split_of
from vabatch.tools.dataset_export import DatasetExport, dataset_hash, export_dataset
from vabatch.tools.dvc import (
    ingest_missing,
    setup_tracking,
    sync_video_list,
    update_video_list,
)
from vabatch.tools.export import FORMATS as EXPORT_FORMATS
from vabatch.tools.export import export_videos, load_captions, timestamp, to_srt
from vabatch.tools.info import CollectionInfo, collect_info
from vabatch.tools.migrate import (
    PROOF_ALGORITHMS,
    directory_state,
    expand_arguments,
    find_legacy_dirs,
    migrate_many,
)
from vabatch.tools.query import run_query
from vabatch.tools.score import DEFAULT_IOU, ScoreReport, read_subtitles, score_videos
from vabatch.tools.search import make_snippet, parse_terms, search_videos
from vabatch.tools.status import collect_status
from vabatch.tools.verify import verify_videos

# Operations that are one library function each, named here so that callers need only
# this module: status, verify, export, DVC, migrate, people's box labels, the layout
# picture; scoring against reference subtitles; training samples, their export; backups.
__all__ = [
    "EXPORT_FORMATS", "PROOF_ALGORITHMS", "collect_status", "directory_state", "EngineSettings",
    "expand_arguments", "export_labels", "export_videos", "failed_tasks", "find_legacy_dirs",
    "import_labels", "ingest", "orphan_labels", "settle_orphan_labels",
    "ingest_missing", "list_runs", "list_video_dirs", "load_captions", "migrate_many",
    "parse_labels", "pipeline_options", "pipeline_results", "PipelineResult", "render_layout",
    "resolve_data_root", "run_pipeline", "run_stages", "run_tasks_of", "run_video", "RunReport",
    "select_video_dirs", "setup_tracking", "sync_video_list", "to_srt", "train_layout",
    "train_boundaries", "BoundaryTraining",
    "verify_videos", "video_dir_for", "run_query", "search_videos", "parse_terms",
    "make_snippet", "timestamp",
    "DEFAULT_IOU", "read_subtitles", "score_videos", "ScoreReport",
    "backup_data", "restore_data", "CopyResult", "CaptionSamples", "FrameSamples", "Sample",
    "split_of", "DatasetExport", "dataset_hash", "export_dataset",
    "CaptionEditor", "CaptionView", "export_subtitles", "import_subtitles", "set_box_label",
    "CollectionInfo", "collect_info",
]

IN_PROCESS = EngineSettings(backend="inprocess", record=False)


def run_stages(targets: Sequence[Path], stages: Sequence[str], data_root: Path,
               options: dict[str, Any] | None = None,
               settings: EngineSettings | None = None) -> RunReport:
    """Run the stages named ``stages`` (in this order) on every target, on the engine.

    ``options``: by stage name (a stage not named runs with its defaults). The report's
    tasks hold each result (``report.results()``, a failed result where a task failed).
    """
    definitions = [get_stage(name) for name in stages]
    if not targets:
        return RunReport(None, [], "none")
    require_writable(Path(data_root))
    return run_tasks(stage_tasks([Path(t) for t in targets], definitions, options or {}),
                     Path(data_root), settings)


# -- ingest --------------------------------------------------------------------------------
def ingest(inputs: Iterable[Path], data_root: Path, options=None,
           settings: EngineSettings | None = None) -> RunReport:
    """Store each input video under its content id and sample its frames into video.db.

    Folders are searched for video files. Afterwards the DVC video list of the project the
    data root belongs to (if any) is brought up to date.
    """
    data_root = Path(data_root)
    sources = expand_inputs(inputs)
    require_writable(data_root)
    remove_abandoned_staging(data_root)
    report = run_stages(sources, ["ingest"], data_root,
                        {"ingest": options} if options is not None else None, settings)
    update_video_list(data_root)  # DVC's dvc-videos.yaml, when the data root has one
    return report


# -- the pipeline ----------------------------------------------------------------------------
@dataclass
class PipelineResult:
    """What ``vabatch run`` did to one video: each stage's status, its captions."""

    video_id: str
    stages: dict[str, str] = field(default_factory=dict)  # stage -> status
    captions: int = 0  # automatic captions
    human_captions: int = 0  # captions people made or corrected (kept by every run)
    seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # the stages' (e.g. layout's)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict:
        return vars(self).copy()


def pipeline_options(force: bool = False) -> dict[str, Any]:
    """The options of every stage of ``vabatch run``: the defaults, with ``force``; OCR
    keeps the settings each video's last OCR run recorded (they persist until changed)."""
    options = {name: replace(STAGES[name].options(), force=force) for name in PIPELINE}
    options["ocr"] = replace(options["ocr"], keep=RECORDED_OCR_SETTINGS)
    return options


def pipeline_result(tasks: list[Task]) -> PipelineResult:
    """One video's PipelineResult from its engine tasks (in stage order)."""
    result = PipelineResult(Path(tasks[0].target).name)
    for task in tasks:
        result.seconds += task.seconds
        if task.status == "done":
            result.stages[task.stage_name] = task.result_status
            if hasattr(task.result, "captions"):
                result.captions = task.result.captions
                result.human_captions = getattr(task.result, "human_kept", 0)
            result.warnings += getattr(task.result, "warnings", [])
        elif result.error is None:  # the first failure; later stages were skipped
            result.error = task.error or f"{task.stage_name}: {task.status}"
    result.seconds = round(result.seconds, 3)
    return result


def pipeline_results(report: RunReport) -> list[PipelineResult]:
    """PipelineResults of every video of an engine report, in the order of its videos."""
    by_video: dict[str, list[Task]] = {}
    for task in report.tasks:
        by_video.setdefault(str(task.target), []).append(task)
    return [pipeline_result(tasks) for tasks in by_video.values()]


class _VideoEnds(Observer):
    """Calls ``on_result(PipelineResult)`` as each video's last stage ends."""

    def __init__(self, video_dirs: list[Path], on_result: Callable) -> None:
        self.pending = {str(d): len(PIPELINE) for d in video_dirs}
        self.finished: dict[str, list[Task]] = {str(d): [] for d in video_dirs}
        self.on_result = on_result

    def task_finished(self, task: Task) -> None:
        key = str(task.target)
        self.finished[key].append(task)
        self.pending[key] -= 1
        if self.pending[key] == 0:
            self.on_result(pipeline_result(sorted(self.finished[key], key=lambda t: t.number)))


def run_pipeline(video_dirs: Sequence[Path], data_root: Path, force: bool = False,
                 settings: EngineSettings | None = None,
                 on_result: Callable[[PipelineResult], None] | None = None) -> RunReport:
    """Every missing or stale stage of each video, in order (``vabatch run``).

    Stages of one video run in order, different videos side by side; each stage skips
    itself when up to date. ``on_result(PipelineResult)`` is called as each video ends;
    ``pipeline_results(report)`` gives them all, in order.
    """
    video_dirs = [Path(d) for d in video_dirs]
    settings = settings or EngineSettings(record=False, command="run")
    if on_result is not None:
        settings = replace(settings, observer=Observers(settings.observer,
                                                       _VideoEnds(video_dirs, on_result)))
    return run_stages(video_dirs, PIPELINE, data_root, pipeline_options(force), settings)


def run_video(video_dir: Path, data_root: Path, force: bool = False,
              settings: EngineSettings = IN_PROCESS) -> PipelineResult:
    """The pipeline on one video, in this process by default; its PipelineResult."""
    started = time.monotonic()
    report = run_pipeline([video_dir], data_root, force, settings)
    [result] = pipeline_results(report)
    result.seconds = round(time.monotonic() - started, 3)
    return result


# -- the caption-boundary model ----------------------------------------------------------
GENERATED_DIR = ("models", "boundaries", "generated")  # under the data root


def train_boundaries(data_root: Path, video_dirs: Sequence[Path] | None = None,
                     generated: int = 0, seed: int | None = None,
                     settings: EngineSettings | None = None) -> BoundaryTraining:
    """Train the caption-boundary model (``vabatch train boundaries``) on the captions
    people checked in ``video_dirs`` (default: every video of the data root) and on
    ``generated`` videos of random looks (``seed``), stored at the data root."""
    data_root = Path(data_root)
    require_writable(data_root)
    videos, skipped = [], []
    for video_dir in (list_video_dirs(data_root) if video_dirs is None else video_dirs):
        sample = video_samples(Path(video_dir), "human")
        if sample is None:
            skipped.append(f"{Path(video_dir).name}: no caption checked by a person, or no crop")
        else:
            videos.append(sample)
    if generated:
        made, skipped_generated = _generated_samples(data_root, generated, seed, settings)
        videos += made
        skipped += skipped_generated
    return train_boundary_model(videos, data_root, skipped)


def _generated_samples(data_root: Path, count: int, seed: int | None,
                       settings: EngineSettings | None) -> tuple[list, list[str]]:
    """Random looks (testkit/looks.py of the source tree) made, ingested and cropped in a
    data root of their own under ``models/boundaries/generated/seed-S`` (kept: a second
    training reuses them), each with the captions it was made with as the truth."""
    if seed is None:
        raise InputError("--generated needs --seed S (the random looks of that seed)")
    try:
        from testkit.corpus import make_video
        from testkit.looks import random_look
    except ImportError:
        raise InputError("--generated needs testkit/ of the vabatch source tree: run `python -m "
                         "vabatch train boundaries ...` from the root of a checkout (ffmpeg and "
                         "the fonts of bench/looks_setup.sh installed)") from None
    work = data_root.joinpath(*GENERATED_DIR, f"seed-{int(seed)}")
    media, root = work / "media", work / "root"
    media.mkdir(parents=True, exist_ok=True)
    specs = [random_look(int(seed), index) for index in range(count)]
    made = [make_video(spec, media)[0] for spec in specs]
    report = ingest(made, root, settings=settings)
    results = report.results()
    skipped = [f"generated {Path(r.input).name}: {r.error}" for r in results if not r.ok]
    dirs = {Path(r.input).resolve(): Path(r.video_dir) for r in results if r.video_dir}
    run_stages(list(dirs.values()), ["ocr", "layout", "crop"], root, None, settings)
    samples = []
    for spec, video in zip(specs, made, strict=True):
        video_dir = dirs.get(Path(video).resolve())
        cues = [(c.start_ms, c.end_ms) for c in spec.captions]
        sample = video_samples(video_dir, f"generated seed {seed}", cues) if video_dir \
            else None
        if sample is None:
            skipped.append(f"generated {spec.name}: not ingested or no band found")
        else:
            samples.append(sample)
    return samples, skipped
