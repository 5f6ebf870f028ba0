"""``vabatch score``: the captions of the data root against reference SRT/VTT files; the work
is in ``vabatch.tools.score`` (through ``vabatch.api``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vabatch.cli.common import (
    DataOption,
    JsonOption,
    VideosArgument,
    err,
    out,
    print_json,
    selected_videos,
    table,
)
from vabatch.tools.score import DEFAULT_IOU

# Two tables, so that each fits a terminal 80 columns wide.
SCORE_COLUMNS = ("video", "ref", "out", "matched", "P", "R", "F1", "CER %", "CERl %")
ERROR_COLUMNS = ("video", "start ms (fr)", "end ms (fr)", "phantom", "missed", "split",
                 "merged")


def score(
    reference: Annotated[Path, typer.Argument(
        help="One .srt/.vtt file (for one video), or a folder of them named after the "
             "source videos (talk.mp4 -> talk.srt).", show_default=False)],
    videos: VideosArgument = None,
    data: DataOption = None,
    iou: Annotated[float, typer.Option(
        "--iou", help="Temporal IoU a caption needs with its reference to match (0 < IoU "
                      "<= 1).")] = DEFAULT_IOU,
    as_json: JsonOption = False,
) -> None:
    """Score the captions against reference subtitles: P, R, F1, CER, boundary errors,
    phantom / missed / split / merged captions (docs/score.md).

    Exit 0 whatever the scores; non-zero only on bad input.
    """
    from vabatch.api import score_videos

    _, video_dirs = selected_videos(data, videos, say_when_none=False)
    report = score_videos(reference, video_dirs, iou)
    if as_json:
        print_json(report.to_json())
        return
    scored = [(v.source_name or v.video_id, v.score) for v in report.scored]
    if len(scored) > 1:
        scored.append(("[bold]ALL[/bold]", report.overall))
    if scored:
        out.print(table(f"captions against {reference} (IoU >= {iou:g})", SCORE_COLUMNS,
                        [_score_row(name, s) for name, s in scored], overflow="fold"))
        out.print(table("mean boundary error over matches, in ms (frames); error counts",
                        ERROR_COLUMNS, [_error_row(name, s) for name, s in scored],
                        overflow="fold"))
    for video in report.videos:
        if video.score is None or video.note:
            name = f"{video.video_id} ({video.source_name})" if video.source_name else \
                video.video_id
            label = video.status if video.score is None else "note"
            err.print(f"[yellow]{label}:[/yellow] {name}: {video.note}", highlight=False)
    for path in report.unused_references:
        err.print(f"[yellow]unused reference:[/yellow] {path} matches no selected video",
                  highlight=False)


def _number(value: float | None, spec: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, spec)


def _score_row(name: str, s) -> tuple[str, ...]:
    return (name, str(s.refs), str(s.hyps), str(s.matched), f"{s.precision:.3f}",
            f"{s.recall:.3f}", f"{s.f1:.3f}", _number(s.cer, ".2f", 100),
            _number(s.cer_loose, ".2f", 100))


def _error_row(name: str, s) -> tuple[str, ...]:
    return (name, f"{_number(s.start_error_ms, '.0f')} ({_number(s.start_error_frames, '.2f')})",
            f"{_number(s.end_error_ms, '.0f')} ({_number(s.end_error_frames, '.2f')})",
            str(len(s.phantom)), str(len(s.missed)), str(len(s.split)), str(len(s.merged)))
