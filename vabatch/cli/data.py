"""Commands about the data as it is: ``status``, ``verify``, ``export``, ``runs``, ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vabatch.cli.common import (
    DataOption,
    JsonOption,
    VideosArgument,
    coloured,
    err,
    human_bytes,
    out,
    print_json,
    selected_videos,
    table,
)
from vabatch.errors import InputError, VabatchError

DATABASE_COLOURS = {"done": "green", "stale": "yellow", "missing": "dim", "legacy": "cyan"}
RUN_COLOURS = {"failed": "red", "interrupted": "yellow", "died": "red", "running": "cyan"}


# -- status ----------------------------------------------------------------------------------
def status(
    videos: VideosArgument = None,
    data: DataOption = None,
    failed: Annotated[bool, typer.Option(
        "--failed", help="Instead: each (video, stage) whose latest run failed, and why "
                         "(from runs.db).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Videos x stages: done, stale, failed or missing, with rows and sizes."""
    from vabatch.api import collect_status, resolve_data_root, select_video_dirs
    from vabatch.db import DATABASE_ORDER

    data_root = resolve_data_root(data)
    if failed:
        names = [d.name for d in select_video_dirs(data_root, videos)] if videos else None
        _print_failed(data_root, names, as_json)
        return
    statuses = collect_status(data_root, select_video_dirs(data_root, videos))
    if as_json:
        print_json([s.to_json() for s in statuses])
        return
    if not statuses:
        out.print(f"no videos in {data_root} (add some with `vabatch ingest`)")
        return
    shown = table(f"{len(statuses)} videos in {data_root}", ("video id", "source"), [])
    for alias in DATABASE_ORDER:
        shown.add_column(alias, justify="right")
    for s in statuses:
        cells = []
        for alias in DATABASE_ORDER:
            database = s.databases[alias]
            cell = coloured(database.summary, DATABASE_COLOURS, "red")
            if database.rows is not None:
                cell += f" {database.rows} rows, {human_bytes(database.size_bytes)}"
            cells.append(cell)
        shown.add_row(s.video_id, s.source_name or "", *cells)
    out.print(shown)


def _print_failed(data_root: Path, video_ids: list[str] | None, as_json: bool) -> None:
    """``vabatch status --failed``: each (video, stage) whose latest run failed, and why."""
    from vabatch.api import failed_tasks

    rows = failed_tasks(data_root, video_ids)
    if as_json:
        print_json([{k: v for k, v in r.items() if k != "traceback"} for r in rows])
        return
    if not rows:
        out.print(f"no failed tasks recorded in {data_root}")
        return
    out.print(table(f"{len(rows)} failed (video, stage) in {data_root}", (
        "video id", "stage", "run", "attempts", "kind", "error"), [
        (r["video_id"], r["stage"], str(r["run_id"]), str(r["attempts"]), r["error_kind"] or "",
         r["error"] or "") for r in rows], overflow="fold"))


# -- verify ----------------------------------------------------------------------------------
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
    from vabatch.api import verify_videos

    data_root, video_dirs = selected_videos(data, videos, say_when_none=False)
    reports = verify_videos(data_root, video_dirs if videos else None, deep, against_legacy)
    problems = sum(len(r.problems) for r in reports)
    if as_json:
        print_json({"ok": problems == 0, "videos": [r.to_json() for r in reports]})
    else:
        rows = []
        for r in reports:
            if r.ok:
                rows.append((r.video_id, ", ".join(r.checked), "[green]ok[/green]", "", ""))
            rows += [(r.video_id, ", ".join(r.checked), "[red]problem[/red]",
                      Path(p.file).name, p.message) for p in r.problems]
        out.print(table(f"verify: {len(reports)} videos, {problems} problems", (
            "video id", "checked", "result", "file", "problem"), rows, overflow="fold"))
        for r in reports:
            for note in r.notes:
                err.print(f"note: {r.video_id}: {note}", highlight=False)
    if problems:
        raise typer.Exit(1)


# -- export ----------------------------------------------------------------------------------
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
    from vabatch.api import EXPORT_FORMATS as FORMATS
    from vabatch.api import export_videos

    if export_format not in FORMATS:
        raise typer.BadParameter(f"format is one of {', '.join(FORMATS)}")
    _, video_dirs = selected_videos(data, videos)
    written = export_videos(video_dirs, export_format, out_dir)
    if as_json:
        print_json([str(p) for p in written])
    else:
        out.print(f"wrote {len(written)} {export_format} files to {out_dir}")


# -- runs ------------------------------------------------------------------------------------
def runs(
    run_id: Annotated[int | None, typer.Argument(
        help="Show the tasks and attempts of this run.", show_default=False)] = None,
    data: DataOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Runs to list.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The batch runs recorded in <data>/runs.db: when, what, how they ended."""
    from vabatch.api import list_runs, resolve_data_root

    data_root = resolve_data_root(data)
    if run_id is not None:
        _print_run(data_root, run_id, as_json)
        return
    listed = list_runs(data_root, limit)
    if as_json:
        print_json(listed)
        return
    if not listed:
        out.print(f"no runs recorded in {data_root}")
        return
    out.print(table(f"runs in {data_root / 'runs.db'}", (
        "run", "command", "started", "status", "done", "failed", "skipped", "tasks", "retries",
        "seconds", "backend"), [
        (str(r["run_id"]), r["command"], r["started_at"], coloured(r["status"], RUN_COLOURS),
         str(r["tasks_done"]), str(r["tasks_failed"]), str(r["tasks_skipped"]),
         str(r["tasks_total"]), str(r["retries"]), f"{r['seconds'] or 0:.1f}", r["backend"])
        for r in listed]))


def _print_run(data_root: Path, run_id: int, as_json: bool) -> None:
    from vabatch.api import run_tasks_of

    tasks = run_tasks_of(data_root, run_id)
    if not tasks:
        raise InputError(f"no run {run_id} in {data_root / 'runs.db'}")
    if as_json:
        print_json(tasks)
        return
    rows = []
    for t in tasks:
        status = t["status"] if t["status"] not in ("failed", "skipped", "done") else coloured(
            t["status"], {"failed": "red", "skipped": "yellow", "done": "green"})
        workers = ", ".join(sorted({a["worker"] or "" for a in t["attempt_list"]}))
        rows.append((t["video_id"], t["stage"], status, t["result_status"] or "",
                     str(t["attempts"]), f"{t['seconds'] or 0:.1f}", workers, t["error"] or ""))
    out.print(table(f"run {run_id}: {len(tasks)} tasks", (
        "video id", "stage", "status", "result", "attempts", "seconds", "workers", "error"),
        rows, overflow="fold"))


# -- demo ------------------------------------------------------------------------------------
def demo(data: DataOption = None) -> None:
    """Make the built-in sample video, run the whole pipeline on it, print its captions."""
    from vabatch import api
    from vabatch.cli.stages import ingest
    from vabatch.media import sha256_of_file
    from vabatch.sample import sample_video_path

    data_root = api.resolve_data_root(data)
    sample = sample_video_path(data_root)
    err.print(f"sample video: {sample}")
    ingest([sample], data=data_root, as_json=False, quiet=False)
    video_dir = api.video_dir_for(data_root, sha256_of_file(sample)[:16])
    result = api.run_video(video_dir, data_root)
    if not result.ok:
        raise VabatchError(f"the pipeline failed on the sample: {result.error}")
    status(None, data=data_root, as_json=False)
    _, captions = api.load_captions(video_dir)
    out.print(f"[bold]captions found in the sample[/bold] ({len(captions)}):")
    out.print(api.to_srt(captions), highlight=False, markup=False)
