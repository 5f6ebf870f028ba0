"""``vabatch layout``, ``vabatch annotate labels`` and ``vabatch train layout``: the command
line of the layout stage (parse, call, print)."""

from __future__ import annotations

import sys
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

annotate_app = typer.Typer(help="Human annotations: export and import labels.",
                           no_args_is_help=True)
labels_app = typer.Typer(help="Box labels (caption / noise) of one video, as CSV or JSON.",
                         no_args_is_help=True)
train_app = typer.Typer(help="Train models from human annotations.", no_args_is_help=True)
annotate_app.add_typer(labels_app, name="labels")


def register(app: typer.Typer) -> None:
    """Add ``layout``, ``annotate`` and ``train`` to ``app``."""
    app.command("layout")(reports_errors(layout))
    app.add_typer(annotate_app, name="annotate")
    app.add_typer(train_app, name="train")


def _label_format(path: Path | None, label_format: str | None) -> str:
    chosen = label_format or (path.suffix.lstrip(".").lower() if path else "csv")
    if chosen not in ("csv", "json"):
        raise typer.BadParameter("label format is csv or json (--format)")
    return chosen


def _one_video(data: Path | None, video: str) -> tuple[Path, Path]:
    from vabatch.dataset import resolve_data_root, select_video_dirs

    data_root = resolve_data_root(data)
    [video_dir] = select_video_dirs(data_root, [video])
    return data_root, video_dir


def layout(
    videos: VideosArgument = None,
    data: DataOption = None,
    out_png: Annotated[Path | None, typer.Option(
        "--out", help="With `layout show VIDEO`: the PNG to write.")] = None,
    frame: Annotated[int | None, typer.Option(
        "--frame", help="With `layout show`: the frame to draw (default: the most telling).")]
    = None,
    force: Annotated[bool, typer.Option("--force", help="Analyse again even if unchanged.")]
    = False,
    at: Annotated[str | None, typer.Option(
        "--at", metavar="top|middle|bottom|auto",
        help="Where the captions are, if you know better than the rules (e.g. a headline "
             "bar took the band): the band goes to the caption rows there, and later runs "
             "keep it. 'auto' lets the rules choose again.")] = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    cluster: ClusterOption = None,
    retries: RetriesOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Find the caption band from the OCR boxes and label them (`layout show VIDEO --out
    FILE.png` draws one frame with the band and the labelled boxes)."""
    from vabatch.dataset import resolve_data_root, select_video_dirs
    from vabatch.engine import LayoutOptions, result_or_failed
    from vabatch.engine_cli import run_on_engine
    from vabatch.stages.layout import ANCHORS, LayoutStageResult, render_layout

    if videos and videos[0] == "show":
        if len(videos) != 2 or out_png is None:
            raise typer.BadParameter("usage: vabatch layout show VIDEO --out FILE.png")
        _, video_dir = _one_video(data, videos[1])
        written = render_layout(video_dir, out_png, frame)
        err.print(f"wrote {written}")
        return
    if at is not None and at not in (*ANCHORS, "auto"):
        raise typer.BadParameter(f"--at {at!r}: expected {', '.join(ANCHORS)} or auto")
    data_root = resolve_data_root(data)
    video_dirs = select_video_dirs(data_root, videos)
    if not video_dirs:
        err.print(f"no videos in {data_root} (add some with `vabatch ingest`)")
        return
    report = run_on_engine("layout", data_root, video_dirs, ["layout"],
                           {"layout": LayoutOptions(force, at)}, workers=workers,
                           scheduler=scheduler, cluster=cluster, retries=retries,
                           quiet=quiet or as_json, arguments={"force": force, "at": at})
    results: list[LayoutStageResult] = [result_or_failed(task) for task in report.tasks]
    if as_json:
        print_json([r.to_json() for r in results])
    else:
        table = Table(title=f"layout in {data_root}")
        for column in ("video id", "status", "band (l, t, r, b)", "anchor", "confidence",
                       "method", "caption / noise boxes", "note"):
            table.add_column(column, overflow="fold")
        for r in results:
            colour = {"failed": "red", "unchanged": "dim", "no-captions": "yellow"}.get(
                r.status, "green")
            band = f"{r.band.left}, {r.band.top}, {r.band.right}, {r.band.bottom}" \
                if r.band else "-"
            table.add_row(r.video_id, f"[{colour}]{r.status}[/{colour}]", band,
                          r.anchor or "-", f"{r.confidence:.2f}", r.method,
                          f"{r.caption_boxes} / {r.noise_boxes}", r.error or r.message)
        out.print(table)
        print_warnings(results)
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        err.print(f"[red]error:[/red] {r.error}", highlight=False)
    if failed:
        raise typer.Exit(1)


@labels_app.command("export")
@reports_errors
def labels_export(
    video: Annotated[str, typer.Argument(help="The video (id, prefix or source name).")],
    data: DataOption = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="File to write (default: stdout).")] = None,
    label_format: Annotated[str | None, typer.Option(
        "--format", help="csv or json (default: from --out's suffix, else csv).")] = None,
) -> None:
    """Every OCR box of VIDEO with its current label, for a person to edit."""
    from vabatch.stages.layout import export_labels

    chosen = _label_format(out_file, label_format)
    _, video_dir = _one_video(data, video)
    text = export_labels(video_dir, chosen)
    if out_file is None:
        sys.stdout.write(text)
    else:
        out_file.write_text(text, encoding="utf-8")
        err.print(f"wrote {out_file}")


@labels_app.command("import")
@reports_errors
def labels_import(
    video: Annotated[str, typer.Argument(help="The video (id, prefix or source name).")],
    labels_file: Annotated[Path, typer.Argument(help="CSV or JSON with frame_index, "
                                                     "box_index and label columns.")],
    data: DataOption = None,
    label_format: Annotated[str | None, typer.Option(
        "--format", help="csv or json (default: from the file's suffix).")] = None,
) -> None:
    """Store labels as human labels: no automatic step overwrites them."""
    from vabatch.errors import InputError
    from vabatch.stages.layout import import_labels, parse_labels

    chosen = _label_format(labels_file, label_format)
    if not labels_file.is_file():
        raise InputError(f"{labels_file}: no such file")
    labels = parse_labels(labels_file.read_text(encoding="utf-8"), chosen)
    _, video_dir = _one_video(data, video)
    count = import_labels(video_dir, labels)
    out.print(f"imported {count} human labels into {video_dir / 'layout.db'}")


@train_app.command("layout")
@reports_errors
def train_layout_command(
    videos: VideosArgument = None,
    data: DataOption = None,
    scope: Annotated[str, typer.Option(
        "--scope", help="video: store in the one video's layout.db; project: store at "
                        "<data>/models/box_classifier.json for all videos.")] = "project",
    as_json: JsonOption = False,
) -> None:
    """Train the caption/noise box classifier from human labels."""
    from vabatch.dataset import resolve_data_root, select_video_dirs
    from vabatch.stages.layout import train_layout

    if scope not in ("video", "project"):
        raise typer.BadParameter("--scope is video or project")
    data_root = resolve_data_root(data)
    result = train_layout(select_video_dirs(data_root, videos), data_root, scope)
    if as_json:
        print_json(vars(result))
        return
    accuracy = "n/a (too few labels)" if result.accuracy is None else f"{result.accuracy:.3f}"
    out.print(f"trained on {result.samples} labelled boxes of {result.videos} videos; "
              f"cross-validated accuracy {accuracy}, on the training boxes "
              f"{result.training_accuracy:.3f}; stored in {result.stored_in}")
