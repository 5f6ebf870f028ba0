"""``vabatch annotate serve`` (the review page), ``vabatch annotate captions|labels
export|import`` and ``vabatch train layout``: people's captions (SRT/VTT) and box labels in
and out of captions.db and layout.db, and the box classifier trained on the labels."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vabatch.cli.common import (
    DataOption,
    JsonOption,
    VideosArgument,
    err,
    one_video,
    out,
    plural,
    print_json,
)


def _subtitle_format(path: Path | None, chosen: str | None) -> str:
    chosen = chosen or (path.suffix.lstrip(".").lower() if path else "srt")
    if chosen not in ("srt", "vtt"):
        raise typer.BadParameter("subtitle format is srt or vtt (--format, or the file's "
                                 "suffix)")
    return chosen


def captions_export(
    video: Annotated[str, typer.Argument(help="The video (id, prefix or source name).")],
    out_file: Annotated[Path | None, typer.Argument(
        help="File to write, .srt or .vtt (default: SRT on stdout).")] = None,
    data: DataOption = None,
    subtitle_format: Annotated[str | None, typer.Option(
        "--format", help="srt or vtt (default: from the file's suffix, else srt).")] = None,
) -> None:
    """VIDEO's captions as SRT or WebVTT, to correct in any subtitle editor."""
    from vabatch.api import export_subtitles

    chosen = _subtitle_format(out_file, subtitle_format)
    _, video_dir = one_video(data, video)
    text = export_subtitles(video_dir, chosen)
    _write_out(out_file, text)


def captions_import(
    video: Annotated[str, typer.Argument(help="The video (id, prefix or source name).")],
    subtitle_file: Annotated[Path, typer.Argument(help="The corrected .srt or .vtt file.")],
    checked: Annotated[bool, typer.Option(
        "--checked", help="You checked every caption of the file: the ones it leaves as "
        "they were become yours too (kept through re-runs, learnt by `train boundaries`)."
    )] = False,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record what differs between FILE and VIDEO's captions as human edits (text, times
    to the nearest frame, deleted and added captions); an unchanged file changes nothing
    (with --checked, it marks the captions checked)."""
    from vabatch.api import import_subtitles

    _, video_dir = one_video(data, video)
    result = import_subtitles(video_dir, subtitle_file, checked=checked)
    if as_json:
        print_json(result.to_json())
        return
    plan = result.plan
    if not result.written:
        out.print(f"{video_dir.name}: no differences ({plural(plan.unchanged, 'caption')} "
                  "as exported); captions.db unchanged", highlight=False)
    else:
        confirmed = f" ({len(plan.confirmed)} of them now checked by you)" \
            if checked else ""
        out.print(f"{video_dir.name}: {plural(len(plan.text), 'text')} changed, "
                  f"{plural(len(plan.bounds), 'caption')} moved, {len(plan.deleted)} deleted, "
                  f"{len(plan.added)} added, {plan.unchanged} unchanged{confirmed} (one "
                  "edit: undo takes it back)", highlight=False)
    for caption_id, reason in plan.not_exported:
        err.print(f"caption {caption_id} left alone: the export does not write it ({reason})",
                  highlight=False)


def _label_format(path: Path | None, label_format: str | None) -> str:
    chosen = label_format or (path.suffix.lstrip(".").lower() if path else "csv")
    if chosen not in ("csv", "json"):
        raise typer.BadParameter("label format is csv or json (--format)")
    return chosen


def labels_export(
    video: Annotated[str, typer.Argument(help="The video (id, prefix or source name).")],
    data: DataOption = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="File to write (default: stdout).")] = None,
    label_format: Annotated[str | None, typer.Option(
        "--format", help="csv or json (default: from --out's suffix, else csv).")] = None,
) -> None:
    """Every OCR box of VIDEO with its current label, for a person to edit."""
    from vabatch.api import export_labels

    chosen = _label_format(out_file, label_format)
    _, video_dir = one_video(data, video)
    text = export_labels(video_dir, chosen)
    _write_out(out_file, text)


def labels_import(
    video: Annotated[str, typer.Argument(help="The video (id, prefix or source name).")],
    labels_file: Annotated[Path, typer.Argument(help="CSV or JSON with frame_index, "
                                                     "box_index and label columns.")],
    data: DataOption = None,
    label_format: Annotated[str | None, typer.Option(
        "--format", help="csv or json (default: from the file's suffix).")] = None,
) -> None:
    """Store labels as human labels: no automatic step overwrites them."""
    from vabatch.api import import_labels, parse_labels
    from vabatch.errors import InputError

    chosen = _label_format(labels_file, label_format)
    if not labels_file.is_file():
        raise InputError(f"{labels_file}: no such file")
    labels = parse_labels(labels_file.read_text(encoding="utf-8"), chosen)
    _, video_dir = one_video(data, video)
    stored, same = import_labels(video_dir, labels)
    out.print(f"{video_dir.name}: {stored} of {len(labels)} labels differ from the stored "
              f"ones: stored as human labels in layout.db; {same} unchanged (a model label "
              "stays the model's)", highlight=False)


def labels_orphans(
    videos: VideosArgument = None,
    data: DataOption = None,
    accept: Annotated[bool, typer.Option(
        "--accept", help="Keep them, as a person's decision: verify then reports them as "
                         "notes, not problems.")] = False,
    drop: Annotated[bool, typer.Option("--drop", help="Delete them from layout.db.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Labels naming an OCR box the video's fullOCR.db does not have (e.g. kept by migrate
    from the old tool): list them, or settle them with --accept or --drop."""
    from vabatch.api import orphan_labels, settle_orphan_labels
    from vabatch.cli.common import plural, selected_videos

    if accept and drop:
        raise typer.BadParameter("give --accept or --drop, not both")
    _, video_dirs = selected_videos(data, videos)
    found = {}
    for video_dir in video_dirs:
        if (video_dir / "layout.db").exists() and (video_dir / "fullOCR.db").exists():
            orphans = orphan_labels(video_dir)
            if orphans:
                found[video_dir] = orphans
    settled = {d.name: settle_orphan_labels(d, accept) for d in found} if accept or drop \
        else {}
    if as_json:
        print_json({d.name: {"orphans": [{"frame_index": f, "box_index": b, "label": label,
                                          "label_source": source, "accepted": ok}
                                         for f, b, label, source, ok in orphans],
                             "settled": settled.get(d.name, 0)}
                    for d, orphans in found.items()})
        return
    for video_dir, orphans in found.items():
        accepted = sum(1 for *_, ok in orphans if ok)
        what = (f"{settled[video_dir.name]} accepted" if accept else
                f"{settled[video_dir.name]} dropped" if drop else
                f"{accepted} accepted before, {len(orphans) - accepted} to settle")
        out.print(f"{video_dir.name}: {plural(len(orphans), 'orphan label')}; {what}",
                  highlight=False)
    if not found:
        out.print(f"no orphan labels in {plural(len(video_dirs), 'video')}")


def train_layout_command(
    videos: VideosArgument = None,
    data: DataOption = None,
    scope: Annotated[str, typer.Option(
        "--scope", help="video: store in the one video's layout.db; project: store at "
                        "<data>/models/box_classifier.json for all videos.")] = "project",
    as_json: JsonOption = False,
) -> None:
    """Train the caption/noise box classifier from human labels."""
    from vabatch.api import resolve_data_root, select_video_dirs, train_layout

    if scope not in ("video", "project"):
        raise typer.BadParameter("--scope is video or project")
    data_root = resolve_data_root(data)
    result = train_layout(select_video_dirs(data_root, videos), data_root, scope)
    if as_json:
        print_json(vars(result))
        return
    accuracy = "n/a (too few labels)" if result.accuracy is None else f"{result.accuracy:.3f}"
    out.print(f"trained on {result.samples} labelled boxes of {plural(result.videos, 'video')}; "
              f"cross-validated accuracy {accuracy}, on the training boxes "
              f"{result.training_accuracy:.3f}; stored in {result.stored_in}")


def serve(
    videos: VideosArgument = None,
    data: DataOption = None,
    port: Annotated[int, typer.Option(
        "--port", help="Port to listen on (0: any free port).", min=0, max=65535)] = 8765,
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on. Keep 127.0.0.1 unless you know why: the "
                       "token is then the only guard.")] = "127.0.0.1",
) -> None:
    """The review page: correct captions and box labels in a browser, keyboard first.

    Serves VIDEO (all by default) until Ctrl+C; open the address it prints (it holds the token).
    """
    from vabatch.cli.common import selected_videos
    from vabatch.errors import InputError
    from vabatch.tools.annotate.server import serve as run_server

    _, video_dirs = selected_videos(data, videos, say_when_none=False)
    missing = [d.name for d in video_dirs if not (d / "video.db").exists()]
    if missing:
        raise InputError(f"{missing[0]}: no video.db (run `vabatch ingest` first)")
    if not video_dirs:
        raise InputError("no videos to review (add some with `vabatch ingest`)")

    def announce(url: str) -> None:
        out.print(f"review page: {url}", highlight=False, soft_wrap=True)
        out.print("stop with Ctrl+C", highlight=False)
        sys.stdout.flush()

    try:
        run_server(video_dirs, host, port, announce)
    except KeyboardInterrupt:  # Ctrl+C is how it ends; every edit was saved when made
        pass
    out.print("review page stopped; every edit was saved when it was made", highlight=False)


def train_boundaries_command(
    videos: VideosArgument = None,
    data: DataOption = None,
    generated: Annotated[int, typer.Option(
        "--generated", min=0, metavar="N",
        help="Also train on N generated videos of random looks with exact captions "
             "(needs the source tree's testkit/ and ffmpeg; kept under "
             "<data>/models/boundaries/generated/).")] = 0,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="The seed of the generated looks.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", "-w", min=1, help="Worker processes for the generated videos.")] = 2,
    as_json: JsonOption = False,
) -> None:
    """Train the caption-boundary model from captions people checked and/or generated
    videos; `vabatch captions` uses it from then on (docs/train.md)."""
    from vabatch.api import (
        EngineSettings,
        resolve_data_root,
        select_video_dirs,
        train_boundaries,
    )

    if generated and seed is None:
        raise typer.BadParameter("--generated needs --seed S")
    data_root = resolve_data_root(data)
    video_dirs = select_video_dirs(data_root, videos) if videos or data_root.is_dir() else []
    result = train_boundaries(data_root, video_dirs, generated, seed,
                              EngineSettings(workers=workers, record=False))
    if as_json:
        print_json(result.to_json())
        return
    for line in result.skipped:
        err.print(f"skipped {line}", highlight=False)
    sources = sorted({source for _, source in result.videos})
    figures = result.metrics
    held = "held-out videos" if figures.get("held_out") else "the training videos (one video)"
    out.print(f"trained on {plural(len(result.videos), 'video')} ({', '.join(sources)}), "
              f"{result.steps} frame steps, {result.boundaries} boundaries, in "
              f"{result.seconds:.1f} s ({result.cpu_seconds:.1f} CPU-s)", highlight=False)
    for who in ("model", "rules"):
        f = figures[who]
        out.print(f"  {who}: boundary precision {f['precision']:.3f}, recall "
                  f"{f['recall']:.3f}, F1 {f['f1']:.3f} on {held}", highlight=False)
    out.print(f"stored as version {result.version} in {result.stored_in}; `vabatch run` "
              "now redoes the captions with it", highlight=False)


def _write_out(out_file: Path | None, text: str) -> None:
    """``text`` to ``out_file`` (whole or not at all), or to stdout without one."""
    from vabatch.fsutil import atomic_write

    if out_file is None:
        sys.stdout.write(text)
    else:
        atomic_write(out_file, text)
        err.print(f"wrote {out_file}")
