"""``vabatch query`` (one read-only SQL statement in every video) and ``vabatch search``
(full-text search of caption or OCR text across all videos)."""

from __future__ import annotations

import csv
import re
import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from vabatch.cli.common import (
    DataOption,
    JsonOption,
    VideosArgument,
    err,
    out,
    plural,
    print_json,
    selected_videos,
    table,
)
from vabatch.errors import InputError

ThreadsOption = Annotated[int | None, typer.Option(
    "--workers", "-w", min=1, show_default="2 x cores, at most 8",
    help="Videos read side by side (threads).")]


def query(
    sql: Annotated[str, typer.Argument(metavar="SQL", help="One read-only SQL statement.")],
    videos: VideosArgument = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    as_json: JsonOption = False,
    limit: Annotated[int | None, typer.Option(
        "--limit", "-n", min=1, help="At most this many rows in all.")] = None,
    data: DataOption = None,
    workers: ThreadsOption = None,
) -> None:
    """Run one read-only SQL statement in every video's databases; one table of the rows,
    each with its video_id and source_name. See docs/query.md."""
    from vabatch.api import run_query

    if as_csv and as_json:
        raise InputError("choose one of --csv and --json")
    data_root, video_dirs = selected_videos(data, videos, say_when_none=not (as_csv or as_json))
    result = run_query(sql, video_dirs, data_root, limit=limit, workers=workers)
    if as_json:
        print_json(result.to_json())
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.to_json():
            writer.writerow(["" if v is None else v for v in row.values()])
    else:
        shown = table(f"{plural(len(result.rows), 'row')} from "
                      f"{plural(len(result.videos), 'video')}", result.columns, [
                          [escape(_cell(v)) for v in row] for row in result.rows],
                      overflow="fold")
        out.print(shown)
    if result.truncated:
        err.print(f"note: stopped at --limit {limit} rows", highlight=False)
    for note in result.notes:
        err.print(f"note: {escape(note)}", highlight=False)
    for video in result.skipped:
        err.print(f"skipped: {video.video_id}: {video.skipped}", highlight=False)
    for video in result.errors:
        err.print(f"[red]error:[/red] {video.video_id}: {escape(video.error)}", highlight=False)
    if result.errors:
        raise typer.Exit(1)


def _marked(text: str, terms: list[str]) -> Text:
    """The snippet of ``text`` with its matches in bold."""
    from vabatch.api import make_snippet

    shown = Text()
    for number, piece in enumerate(re.split("[\x02\x03]", make_snippet(
            text, terms, marks=("\x02", "\x03")))):
        shown.append(piece, style="bold yellow" if number % 2 else "")
    return shown


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"<blob {len(value)} bytes>"
    return str(value)


def search(
    text: Annotated[str, typer.Argument(metavar="TEXT", help=(
        "Words to find (all of them, any case); a \"quoted phrase\" as it stands."))],
    videos: VideosArgument = None,
    where: Annotated[str, typer.Option(
        "--in", metavar="captions|ocr", help="Caption text, or every OCR box.")] = "captions",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Hits to show.")] = 20,
    data: DataOption = None,
    workers: ThreadsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Full-text search across all videos: the best hits with video, source name, time
    range and a snippet. Finds words of any length, Chinese too. See docs/query.md."""
    from vabatch.api import parse_terms, search_videos, timestamp

    if where not in ("captions", "ocr"):
        raise typer.BadParameter("--in is captions or ocr")
    _, video_dirs = selected_videos(data, videos, say_when_none=not as_json)
    result = search_videos(text, video_dirs, place=where, limit=limit, workers=workers)
    if as_json:
        print_json(result.to_json())
    else:
        def when(ms):
            return "" if ms is None else timestamp(ms, ".")

        terms = parse_terms(text)
        rows = [(h.video_id, escape(h.source_name or ""),
                 f"{when(h.start_ms)} - {when(h.end_ms)}", _marked(h.text, terms))
                for h in result.hits]
        more = " (more with a higher --limit)" if result.total_hits > len(result.hits) else ""
        out.print(table(f"{plural(len(result.hits), 'hit')} for {escape(repr(text))} in "
                        f"{where} of {plural(result.videos_searched, 'video')}{more}",
                        ("video id", "source", "time", "text"), rows,
                        overflow="fold"))
    for video_id, why in result.skipped:
        err.print(f"skipped: {video_id}: {why}", highlight=False)
    for video_id, error in result.errors:
        err.print(f"[red]error:[/red] {video_id}: {escape(error)}", highlight=False)
    if result.errors:
        raise typer.Exit(1)
