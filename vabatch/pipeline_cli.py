"""``vabatch crop``, ``captions``, ``run`` and ``export``: parse, call, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vabatch.cli import (
    ClusterOption,
    DataOption,
    JsonOption,
    QuietOption,
    RetriesOption,
    SchedulerOption,
    VideosArgument,
    WorkersOption,
    err,
    out,
    print_json,
    print_warnings,
    reports_errors,
)

ForceOption = Annotated[bool, typer.Option("--force", help="Redo the work even if up to date.")]


def register(app: typer.Typer) -> None:
    """Add ``crop``, ``captions``, ``run`` and ``export`` to ``app``."""
    app.command("crop")(reports_errors(crop))
    app.command("captions")(reports_errors(captions))
    app.command("run")(reports_errors(run))
    app.command("export")(reports_errors(export))


def _selected(data: Path | None, videos: list[str] | None) -> tuple[Path, list[Path]]:
    from vabatch.dataset import resolve_data_root, select_video_dirs

    data_root = resolve_data_root(data)
    video_dirs = select_video_dirs(data_root, videos)
    if not video_dirs:
        err.print(f"no videos in {data_root} (add some with `vabatch ingest`)")
    return data_root, video_dirs


def _report(title: str, results, columns, row, as_json: bool) -> None:
    if as_json:
        print_json([r.to_json() for r in results])
    elif results:
        table = Table(title=title)
        for column in ("video id", "status", *columns, "seconds"):
            table.add_column(column, overflow="fold")
        for r in results:
            colour = {"failed": "red", "unchanged": "dim"}.get(r.status, "green")
            table.add_row(r.video_id, f"[{colour}]{r.status}[/{colour}]", *row(r),
                          f"{r.seconds:.1f}")
        out.print(table)
    failed = [r for r in results if not r.ok]
    for r in failed:
        err.print(f"[red]error:[/red] {r.error}", highlight=False)
    if failed:
        raise typer.Exit(1)


def crop(videos: VideosArgument = None, data: DataOption = None, force: ForceOption = False,
         workers: WorkersOption = None, scheduler: SchedulerOption = None,
         cluster: ClusterOption = None, retries: RetriesOption = None,
         as_json: JsonOption = False, quiet: QuietOption = False) -> None:
    """Cut the caption band out of every frame into cropping.db."""
    from vabatch.engine import result_or_failed
    from vabatch.engine_cli import run_on_engine
    from vabatch.stages.crop import CropOptions

    data_root, video_dirs = _selected(data, videos)
    report = run_on_engine("crop", data_root, video_dirs, ["crop"],
                           {"crop": CropOptions(force=force)}, workers=workers,
                           scheduler=scheduler, cluster=cluster, retries=retries,
                           quiet=quiet or as_json or not video_dirs, arguments={"force": force})
    results = [result_or_failed(task) for task in report.tasks]
    _report(f"crop in {data_root}", results, ("frames", "strips", "MB stored"),
            lambda r: (str(r.frames), str(r.strips), f"{r.bytes_stored / 1e6:.1f}"), as_json)


def captions(videos: VideosArgument = None, data: DataOption = None,
             force: ForceOption = False, workers: WorkersOption = None,
             scheduler: SchedulerOption = None, cluster: ClusterOption = None,
             retries: RetriesOption = None, as_json: JsonOption = False,
             quiet: QuietOption = False) -> None:
    """Find caption spans in the crop and read their text into captions.db."""
    from vabatch.engine import result_or_failed
    from vabatch.engine_cli import run_on_engine
    from vabatch.stages.captions import CaptionOptions

    data_root, video_dirs = _selected(data, videos)
    # Each worker process loads the OCR models once and keeps them for all its videos.
    report = run_on_engine("captions", data_root, video_dirs, ["captions"],
                           {"captions": CaptionOptions(force=force)}, workers=workers,
                           scheduler=scheduler, cluster=cluster, retries=retries,
                           quiet=quiet or as_json or not video_dirs, arguments={"force": force})
    results = [result_or_failed(task) for task in report.tasks]
    _report(f"captions in {data_root}", results, ("captions", "spans", "read", "human kept"),
            lambda r: (str(r.captions), str(r.spans), str(r.spans_read), str(r.human_kept)),
            as_json)


def run(videos: VideosArgument = None, data: DataOption = None, force: ForceOption = False,
        workers: WorkersOption = None, scheduler: SchedulerOption = None,
        cluster: ClusterOption = None, retries: RetriesOption = None,
        as_json: JsonOption = False, quiet: QuietOption = False) -> None:
    """Run every missing or stale stage (ocr, layout, crop, captions) of each video."""
    from vabatch.engine_cli import run_on_engine
    from vabatch.pipeline import STAGES, pipeline_results, stage_options

    data_root, video_dirs = _selected(data, videos)
    report = run_on_engine("run", data_root, video_dirs, list(STAGES), stage_options(force),
                           workers=workers, scheduler=scheduler, cluster=cluster,
                           retries=retries, quiet=quiet or as_json or not video_dirs,
                           arguments={"force": force})
    results = pipeline_results(report)
    if as_json:
        print_json([r.to_json() for r in results])
    elif results:
        table = Table(title=f"run in {data_root}")
        for column in ("video id", *STAGES, "captions", "seconds", "error"):
            table.add_column(column, overflow="fold")
        for r in results:
            table.add_row(r.video_id, *(r.stages.get(s, "-") for s in STAGES),
                          str(r.captions), f"{r.seconds:.1f}", r.error or "")
        out.print(table)
        print_warnings(results)
    failed = [r for r in results if not r.ok]
    for r in failed:
        err.print(f"[red]error:[/red] {r.video_id}: {r.error}", highlight=False)
    if failed:
        raise typer.Exit(1)


def export(
    export_format: Annotated[str, typer.Argument(metavar="srt|vtt|json",
                                                 help="Subtitle format.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the files.")],
    videos: Annotated[list[str] | None, typer.Option(
        "--video", help="Only these videos (repeatable); all by default.")] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write one subtitle file per video, named after its source file's stem."""
    from vabatch.export import FORMATS, export_videos

    if export_format not in FORMATS:
        raise typer.BadParameter(f"format is one of {', '.join(FORMATS)}")
    _, video_dirs = _selected(data, videos)
    written = export_videos(video_dirs, export_format, out_dir)
    if as_json:
        print_json([str(p) for p in written])
    else:
        out.print(f"wrote {len(written)} {export_format} files to {out_dir}")
