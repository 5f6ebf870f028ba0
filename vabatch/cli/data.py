"""Commands about the data as it is: ``status``, ``verify``, ``export``, ``runs``, ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vabatch.cli.common import (
    DataOption,
    JsonOption,
    QuietOption,
    VideosArgument,
    coloured,
    err,
    human_bytes,
    out,
    plural,
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
    from vabatch.db import DATABASE_ORDER, KINDS

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
    shown = table(f"{plural(len(statuses), 'video')} in {data_root}", ("video id", "source"), [])
    for alias in DATABASE_ORDER:
        shown.add_column(alias, justify="right")
    for s in statuses:
        cells = []
        for alias in DATABASE_ORDER:
            database = s.databases[alias]
            cell = coloured(database.summary, DATABASE_COLOURS, "red")
            if database.rows is not None:
                cell += f" {plural(database.rows, 'row')}, {human_bytes(database.size_bytes)}"
            if database.side_rows:
                cell += f" ({database.side_rows} {KINDS[alias].side_table[1]})"
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
    from vabatch.tools.verify import verify_videos  # not vabatch.api: it loads every stage

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
        out.print(table(f"verify: {plural(len(reports), 'video')}, {plural(problems, 'problem')}", (
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
    videos: VideosArgument = None,
    video_option: Annotated[list[str] | None, typer.Option(
        "--video", hidden=True, help="Deprecated: name the videos as arguments.")] = None,
    flat: Annotated[bool, typer.Option(
        "--flat", help="All files in --out itself, instead of the folders the videos were "
                       "ingested from (relative to their common root).")] = False,
    data: DataOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Write one subtitle file per video, named after its source file's stem, in the
    folders the videos came from; every caption not written is reported with its reason.
    (Training samples as files: `vabatch export dataset --help`.)"""
    from vabatch.api import EXPORT_FORMATS as FORMATS
    from vabatch.api import export_videos

    if export_format not in FORMATS:
        raise typer.BadParameter(f"format is one of {', '.join(FORMATS)}")
    if video_option:
        err.print("warning: --video is deprecated: name the videos as arguments "
                  f"(vabatch export {export_format} VIDEO... --out DIR)", highlight=False)
    data_root, video_dirs = selected_videos(data, [*(videos or []), *(video_option or [])]
                                            or None, say_when_none=False)
    if not video_dirs:
        raise InputError(f"no videos in {data_root} (add some with `vabatch ingest`)")
    results = export_videos(video_dirs, export_format, out_dir, mirror=not flat)
    if as_json:
        print_json([r.to_json() for r in results])
    _report_export(results, export_format, out_dir, quiet or as_json)


def _report_export(results, export_format: str, out_dir: Path, quiet: bool) -> None:
    """Every caption not written (stderr), a summary line, and the exit status: 1 when a
    video with captions got none written, or when no video has captions yet."""
    for r in results:
        for dropped in r.dropped:
            err.print(f"warning: {r.video_id} ({r.source_name}): caption {dropped.caption_id} "
                      f"not written: {dropped.reason}", highlight=False)
    written = [r for r in results if r.path]
    missing = [r for r in results if r.status == "missing"]
    empty = [r for r in results if r.status == "empty"]
    dropped = sum(len(r.dropped) for r in results)
    if not quiet and written:  # nothing written: the error below says why
        line = f"wrote {plural(len(written), export_format + ' file')} to {out_dir}"
        extras = []
        if dropped:
            extras.append(f"{plural(dropped, 'caption')} not written (see the warnings)")
        if empty:
            extras.append(f"{plural(len(empty), 'video')} without captions "
                          f"({', '.join(r.source_name or r.video_id for r in empty[:3])}"
                          f"{', ...' if len(empty) > 3 else ''}): the captions stage found "
                          "none; empty files written")
        if missing and written:
            extras.append(f"{plural(len(missing), 'video')} without captions.db yet "
                          f"(missing stage: {_stages(missing)}): run `vabatch run`")
        out.print(line + ("; " + "; ".join(extras) if extras else ""), highlight=False)
    failed = [r for r in results if not r.ok]
    for r in failed:
        named = f" ({r.source_name})" if r.source_name else ""
        err.print(f"error: {r.video_id}{named}: {r.note}", highlight=False)
    if not written and (missing or not failed):
        err.print("error: no video has captions yet "
                  f"({plural(len(missing), 'video')} {'lacks' if len(missing) == 1 else 'lack'}"
                  f" captions.db; missing stage: {_stages(missing)}): run `vabatch run` "
                  "first", highlight=False)
    if failed or not written:
        raise typer.Exit(1)


def _stages(results) -> str:
    """'ocr (3 videos), captions (1 video)': the missing stages and how many lack each."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.missing_stage or "?"] = counts.get(r.missing_stage or "?", 0) + 1
    return ", ".join(f"{stage} ({plural(n, 'video')})" for stage, n in counts.items())


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
    out.print(table(f"run {run_id}: {plural(len(tasks), 'task')}", (
        "video id", "stage", "status", "result", "attempts", "seconds", "workers", "error"),
        rows, overflow="fold"))


# -- demo ------------------------------------------------------------------------------------
def demo(data: DataOption = None) -> None:
    """Make the built-in sample video, run the whole pipeline on it, print its captions."""
    from vabatch import api
    from vabatch.cli.display import EngineFlags, on_engine
    from vabatch.cli.stages import ingest
    from vabatch.media import sha256_of_file
    from vabatch.sample import sample_video_path

    data_root = api.resolve_data_root(data)
    sample = sample_video_path(data_root)
    err.print(f"sample video: {sample}")
    ingest([sample], data=data_root, as_json=False, quiet=False)
    video_dir = api.video_dir_for(data_root, sha256_of_file(sample)[:16])
    # Through the engine like `vabatch run`: the live display, and the run in runs.db.
    report = on_engine("run", lambda settings: api.run_pipeline(
        [video_dir], data_root, False, settings), EngineFlags(), {"force": False,
                                                               "videos": [video_dir.name]})
    [result] = api.pipeline_results(report)
    if not result.ok:
        raise VabatchError(f"the pipeline failed on the sample: {result.error}")
    status(None, data=data_root, as_json=False)
    _, captions = api.load_captions(video_dir)
    out.print(f"[bold]captions found in the sample[/bold] ({len(captions)}):")
    out.print(api.to_srt(captions), highlight=False, markup=False)
