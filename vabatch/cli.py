"""The command line: parse options, call the library, print results. No work happens here."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from vabatch.errors import VabatchError

app = typer.Typer(
    name="vabatch",
    help="Turn videos with burned-in captions into a versioned dataset of SQLite databases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DataOption = Annotated[
    Path | None,
    typer.Option("--data", envvar="VABATCH_DATA", show_default="./data",
                 help="Data root holding videos/ (or set VABATCH_DATA)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]
VideosArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Video ids (or unique prefixes), directories or source names; "
                        "all videos when omitted.", show_default=False),
]
# The batch engine's options, shared by every stage command (see docs/engine.md).
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", "-w", min=1, show_default="number of cores",
    help="Worker processes (with --cluster local: Dask workers).")]
SchedulerOption = Annotated[str | None, typer.Option(
    "--scheduler", envvar="VABATCH_SCHEDULER", metavar="tcp://HOST:PORT",
    help="Run the tasks on this Dask distributed scheduler (shared filesystem needed).")]
ClusterOption = Annotated[str | None, typer.Option(
    "--cluster", metavar="local", help="'local': start a Dask LocalCluster for this run.")]
RetriesOption = Annotated[int | None, typer.Option(
    "--retries", min=0, show_default="3",
    help="Retries of a task after a transient error (locked database, I/O error, a worker "
         "that died), with exponential backoff.")]


def reports_errors(command):
    """Turn VabatchError (and stray OS errors) into one line on stderr and a non-zero exit."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except VabatchError as error:
            if os.environ.get("VABATCH_DEBUG"):
                raise
            err.print(f"[red]error:[/red] {error}", highlight=False)
            raise typer.Exit(error.exit_code) from None
        except OSError as error:
            if os.environ.get("VABATCH_DEBUG"):
                raise
            where = f"{error.filename}: " if error.filename else ""
            err.print(f"[red]error:[/red] {where}{error.strerror or error}", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/yellow]: finished work is kept; run again to resume")
            raise typer.Exit(130) from None

    return wrapper


def progress_display(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(), console=err, disable=quiet,
        transient=False,
    )


def human_bytes(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_warnings(results) -> None:
    """One line on stderr per warning of each result (``video_id``, ``warnings``)."""
    for result in results:
        for warning in getattr(result, "warnings", ()):
            err.print(f"[yellow]warning:[/yellow] {result.video_id}: {warning}",
                      highlight=False)


# -- ingest ----------------------------------------------------------------------------
@app.command()
@reports_errors
def ingest(
    inputs: Annotated[list[Path], typer.Argument(help="Video files or folders (recursed).",
                                                 show_default=False)],
    data: DataOption = None,
    every: Annotated[int | None, typer.Option(
        "--every", min=1, help="Keep every N-th frame.")] = None,
    fps: Annotated[float | None, typer.Option(
        "--fps", min=0.001, help="Keep F frames per second of video time [default: 1].")] = None,
    image_format: Annotated[str, typer.Option(
        "--format", help="Frame image format: jpeg or png.")] = "jpeg",
    quality: Annotated[int, typer.Option(
        "--quality", min=1, max=100, help="JPEG quality.")] = 90,
    force: Annotated[bool, typer.Option(
        "--force", help="Rebuild video.db even if the video is already ingested.")] = False,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    cluster: ClusterOption = None,
    retries: RetriesOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Store videos under their content id and sample their frames into video.db."""
    from vabatch.dataset import resolve_data_root
    from vabatch.media import DEFAULT_SAMPLING, Sampling
    from vabatch.stages.ingest import IngestOptions, expand_inputs, ingest_many

    if every is not None and fps is not None:
        raise typer.BadParameter("give --every or --fps, not both")
    sampling = (Sampling("every", every) if every is not None
                else Sampling("fps", fps) if fps is not None else DEFAULT_SAMPLING)
    if image_format not in ("jpeg", "png"):
        raise typer.BadParameter("--format is jpeg or png")
    options = IngestOptions(sampling, image_format, quality, force)
    data_root = resolve_data_root(data)
    sources = expand_inputs(inputs)
    if not sources:
        raise typer.BadParameter("no video files found in the given paths")

    from vabatch.engine_cli import run_on_engine

    results: list = []

    def run(settings):
        # ingest_many stays the stage's entry point (it also does the bookkeeping that
        # follows a batch); it runs the inputs on the engine with these settings.
        results.extend(ingest_many(sources, data_root, options, settings=settings))

    run_on_engine("ingest", data_root, sources, ["ingest"], {"ingest": options},
                  workers=workers, scheduler=scheduler, cluster=cluster, retries=retries,
                  quiet=quiet or as_json, run=run, arguments={
                      "sampling": [sampling.mode, sampling.value], "format": image_format,
                      "quality": quality, "force": force})

    if as_json:
        print_json([r.to_json() for r in results])
    else:
        table = Table(title=f"ingest into {data_root}")
        for column in ("input", "video id", "status", "frames", "sampled", "seconds", "error"):
            table.add_column(column, overflow="fold")
        for r in results:
            colour = {"failed": "red", "unchanged": "dim"}.get(r.status, "green")
            table.add_row(Path(r.input).name, r.video_id or "", f"[{colour}]{r.status}[/{colour}]",
                          str(r.frame_count or ""), str(r.frames_sampled or ""),
                          f"{r.seconds:.1f}", r.error or r.extra.get("note", ""))
        out.print(table)
    failed = sum(not r.ok for r in results)
    if failed:
        err.print(f"[red]{failed} of {len(results)} inputs failed[/red]")
        raise typer.Exit(1)


# -- status ----------------------------------------------------------------------------
@app.command()
@reports_errors
def status(
    videos: VideosArgument = None,
    data: DataOption = None,
    failed: Annotated[bool, typer.Option(
        "--failed", help="Instead: each (video, stage) whose latest run failed, and why "
                         "(from runs.db).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Videos x stages: done, stale, failed or missing, with rows and sizes."""
    from vabatch.dataset import resolve_data_root, select_video_dirs
    from vabatch.db import STAGE_ORDER
    from vabatch.status import collect_status

    data_root = resolve_data_root(data)
    if failed:
        from vabatch.engine_cli import print_failed

        names = [d.name for d in select_video_dirs(data_root, videos)] if videos else None
        print_failed(data_root, names, as_json)
        return
    statuses = collect_status(data_root, select_video_dirs(data_root, videos))
    if as_json:
        print_json([s.to_json() for s in statuses])
        return
    if not statuses:
        out.print(f"no videos in {data_root} (add some with `vabatch ingest`)")
        return
    table = Table(title=f"{len(statuses)} videos in {data_root}")
    table.add_column("video id")
    table.add_column("source")
    for alias in STAGE_ORDER:
        table.add_column(alias, justify="right")
    for s in statuses:
        cells = []
        for alias in STAGE_ORDER:
            db = s.databases[alias]
            colour = {"done": "green", "stale": "yellow", "missing": "dim",
                      "legacy": "cyan"}.get(db.summary, "red")
            cell = f"[{colour}]{db.summary}[/{colour}]"
            if db.rows is not None:
                cell += f" {db.rows} rows, {human_bytes(db.size_bytes)}"
            cells.append(cell)
        table.add_row(s.video_id, s.source_name or "", *cells)
    out.print(table)


# -- verify ----------------------------------------------------------------------------
@app.command()
@reports_errors
def verify(
    videos: VideosArgument = None,
    data: DataOption = None,
    deep: Annotated[bool, typer.Option("--deep", help="Also decode every stored image.")]
    = False,
    against_legacy: Annotated[bool, typer.Option(
        "--against-legacy", help="Also recompute the migration proof against captions.db.old "
                                 "(directories made by `vabatch migrate`).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check every database and the links between them; non-zero exit on any problem."""
    from vabatch.dataset import resolve_data_root, select_video_dirs
    from vabatch.verify import verify_videos

    data_root = resolve_data_root(data)
    reports = verify_videos(data_root, select_video_dirs(data_root, videos), deep,
                            against_legacy)
    problems = sum(len(r.problems) for r in reports)
    if as_json:
        print_json({"ok": problems == 0, "videos": [r.to_json() for r in reports]})
    else:
        table = Table(title=f"verify: {len(reports)} videos, {problems} problems")
        for column in ("video id", "checked", "result", "file", "problem"):
            table.add_column(column, overflow="fold")
        for r in reports:
            if r.ok:
                table.add_row(r.video_id, ", ".join(r.checked), "[green]ok[/green]", "", "")
            for p in r.problems:
                table.add_row(r.video_id, ", ".join(r.checked), "[red]problem[/red]",
                              Path(p.file).name, p.message)
        out.print(table)
    if problems:
        raise typer.Exit(1)


# -- demo ------------------------------------------------------------------------------
@app.command()
@reports_errors
def demo(data: DataOption = None) -> None:
    """Make the built-in sample video, run the whole pipeline on it, print its captions."""
    from vabatch.dataset import resolve_data_root, video_dir_for
    from vabatch.export import load_captions, to_srt
    from vabatch.media import sha256_of_file
    from vabatch.pipeline import run_videos
    from vabatch.sample import sample_video_path

    data_root = resolve_data_root(data)
    sample = sample_video_path(data_root)
    err.print(f"sample video: {sample}")
    ingest([sample], data=data_root, as_json=False, quiet=False)
    video_dir = video_dir_for(data_root, sha256_of_file(sample)[:16])
    [result] = run_videos([video_dir], data_root)
    if not result.ok:
        raise VabatchError(f"the pipeline failed on the sample: {result.error}")
    status(None, data=data_root, as_json=False)
    _, captions = load_captions(video_dir)
    out.print(f"[bold]captions found in the sample[/bold] ({len(captions)}):")
    out.print(to_srt(captions), highlight=False, markup=False)


# -- commands that live beside their library module ------------------------------------
# Each module defines ``register(app)`` and imports only from vabatch.cli at top level, so
# `vabatch --help` stays fast. Add a module here to add its commands.
COMMAND_MODULES: tuple[str, ...] = (
    "vabatch.ocr_cli", "vabatch.layout_cli", "vabatch.pipeline_cli", "vabatch.migrate_cli",
    "vabatch.engine_cli", "vabatch.dvc_cli",
)


def _register_command_modules() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_command_modules()


def main() -> None:
    """Console-script entry point."""
    app()
