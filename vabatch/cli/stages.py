"""The stage commands: ``ingest``, ``ocr``, ``layout``, ``crop``, ``captions`` and ``run``.

Each builds the stage's options (defaults from the library's option types), runs the
stage on the engine through ``vabatch.api`` with a live display, and prints the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vabatch.cli.common import (
    DataOption,
    ForceOption,
    VideosArgument,
    coloured,
    err,
    exit_if_failed,
    out,
    plural,
    print_json,
    print_warnings,
    selected_videos,
    table,
)
from vabatch.cli.display import EngineFlags, engine_options, on_engine
from vabatch.stages.ingest import IngestOptions
from vabatch.stages.ocr import RECORDED_SETTINGS as RECORDED_OCR_SETTINGS
from vabatch.stages.ocr import OcrOptions

OCR_DEFAULTS = OcrOptions()
INGEST_DEFAULTS = IngestOptions()
NO_FLAGS = EngineFlags()  # the defaults (the command line always passes its own)
STATUS_COLOURS = {"failed": "red", "unchanged": "dim"}


def _stage_results(name: str, data_root: Path, video_dirs: list[Path], options,
                   flags: EngineFlags, arguments: dict) -> list:
    """Run one stage on the videos with the live display; each video's result."""
    from vabatch import api

    report = on_engine(name, lambda settings: api.run_stages(
        video_dirs, [name], data_root, {name: options}, settings), flags, arguments,
        quiet=not video_dirs)
    return report.results()


def summary_line(stage: str, results) -> str:
    """'crop: 20 videos: 14 done, 6 no-source' (what --quiet prints instead of the table)."""
    counts: dict[str, int] = {}
    for r in results:
        status = r.status if hasattr(r, "status") else ("failed" if not r.ok else "done")
        counts[status] = counts.get(status, 0) + 1
    return f"{stage}: {plural(len(results), 'video')}: " + ", ".join(
        f"{n} {status}" for status, n in sorted(counts.items()))


def _print_results(title: str, results, columns, row, as_json: bool,
                   quiet: bool = False) -> None:
    """The results as JSON or as a table (status coloured; with --quiet one summary line),
    then the warnings and one line per failure."""
    if as_json:
        print_json([r.to_json() for r in results])
    elif quiet and results:
        out.print(summary_line(title.split()[0], results), highlight=False)
        print_warnings(results)
    elif results:
        out.print(table(title, ("video id", "status", *columns, "seconds"), [
            (r.video_id, coloured(r.status, STATUS_COLOURS), *row(r), f"{r.seconds:.1f}")
            for r in results], overflow="fold"))
        print_warnings(results)
    exit_if_failed([r for r in results if not r.ok], lambda r: r.error)


# -- ingest ----------------------------------------------------------------------------------
@engine_options
def ingest(
    inputs: Annotated[list[Path], typer.Argument(help="Video files or folders (recursed).",
                                                 show_default=False)],
    data: DataOption = None,
    every: Annotated[int | None, typer.Option(
        "--every", min=1, help="Keep every N-th frame.")] = None,
    fps: Annotated[float | None, typer.Option(
        "--fps", min=0.001, show_default=f"{INGEST_DEFAULTS.sampling.value:g}",
        help="Keep F frames per second of video time.")] = None,
    image_format: Annotated[str | None, typer.Option(
        "--format", show_default=INGEST_DEFAULTS.image_format,
        help="Frame image format: jpeg or png.")] = None,
    quality: Annotated[int | None, typer.Option(
        "--quality", min=1, max=100, show_default=str(INGEST_DEFAULTS.jpeg_quality),
        help="JPEG quality.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Rebuild video.db even if the video is already ingested.")] = False,
    flags: EngineFlags = NO_FLAGS,
) -> None:
    """Store videos under their content id and sample their frames into video.db.

    A setting not given keeps the value the video's video.db was made with (the default for
    a new video), so `--force` rebuilds a video as it was sampled."""
    from vabatch import api
    from vabatch.media import Sampling
    from vabatch.stages.ingest import RECORDED_SETTINGS, expand_inputs

    if every is not None and fps is not None:
        raise typer.BadParameter("give --every or --fps, not both")
    if image_format not in (None, "jpeg", "png"):
        raise typer.BadParameter("--format is jpeg or png")
    given = {"sampling": Sampling("every", every) if every is not None
             else Sampling("fps", fps) if fps is not None else None,
             "image_format": image_format, "jpeg_quality": quality}
    given = {name: value for name, value in given.items() if value is not None}
    keep = tuple(name for name in RECORDED_SETTINGS if name not in given)
    options = IngestOptions(force=force, keep=keep, **given)
    data_root = api.resolve_data_root(data)
    sources = expand_inputs(inputs)
    if not sources:
        raise typer.BadParameter("no video files found in the given paths")
    report = on_engine("ingest", lambda settings: api.ingest(sources, data_root, options,
                                                             settings), flags, {
        "sampling": [options.sampling.mode, options.sampling.value],
        "format": options.image_format, "quality": options.jpeg_quality, "force": force,
        "keep": list(keep)})
    results = report.results()
    if flags.as_json:
        print_json([r.to_json() for r in results])
    elif flags.quiet:
        out.print(summary_line("ingest", results), highlight=False)
        for r in results:  # what the table's last column would say
            if r.error or r.extra.get("note"):
                err.print(r.error or f"{Path(r.input).name}: {r.extra['note']}",
                          highlight=False)
    else:
        out.print(table(f"ingest into {data_root}", (
            "input", "video id", "status", "frames", "sampled", "seconds", "error"), [
            (Path(r.input).name, r.video_id or "", coloured(r.status, STATUS_COLOURS),
             str(r.frame_count or ""), str(r.frames_sampled or ""), f"{r.seconds:.1f}",
             r.error or r.extra.get("note", "")) for r in results], overflow="fold"))
    failed = sum(not r.ok for r in results)
    if failed:
        err.print(f"[red]{failed} of {len(results)} inputs failed[/red]")
        raise typer.Exit(1)


# -- ocr -------------------------------------------------------------------------------------
@engine_options
def ocr(
    videos: VideosArgument = None,
    data: DataOption = None,
    fps: Annotated[float | None, typer.Option(
        "--fps", min=0.0, show_default=f"{OCR_DEFAULTS.sampling_fps:g}",
        help="Frames read per second of video time, among the frames ingest stored; "
             "0 reads every stored frame.")] = None,
    detection_side: Annotated[int | None, typer.Option(
        "--detection-side", min=32, show_default=str(OCR_DEFAULTS.detection_side),
        help="Long side, in pixels, of the downscaled frame the text detector sees.")]
    = None,
    min_confidence: Annotated[float | None, typer.Option(
        "--min-confidence", min=0.0, max=1.0, show_default=f"{OCR_DEFAULTS.min_confidence:g}",
        help="Drop lines read with less confidence.")] = None,
    reuse_threshold: Annotated[int | None, typer.Option(
        "--reuse-threshold", min=0, max=255, show_default=str(OCR_DEFAULTS.reuse_threshold),
        help="A frame whose grey thumbnail differs from the last frame read by at most this "
             "many levels anywhere reuses that frame's boxes.")] = None,
    no_reuse: Annotated[bool, typer.Option(
        "--no-reuse", help="Read every selected frame, even (near-)identical ones.")] = False,
    steady_threshold: Annotated[int | None, typer.Option(
        "--steady-threshold", min=0, max=255, show_default=str(OCR_DEFAULTS.steady_threshold),
        help="A frame in which no text is found and whose picture moved is read again with "
             "every pixel that changed by more than this many levels since the stored frame "
             "before it greyed out (captions stay still over a busy moving scene).")] = None,
    no_steady: Annotated[bool, typer.Option(
        "--no-steady", help="Never read frames again for what stayed still.")] = False,
    threads: Annotated[int, typer.Option(
        "--threads", min=1, help="onnxruntime threads per video (1 is fastest on 2 cores).")]
    = OCR_DEFAULTS.threads,
    commit_every: Annotated[int | None, typer.Option(
        "--commit-every", min=1, hidden=True,
        help="Frames per transaction (a killed run resumes after the last one).")]
    = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Delete fullOCR.db and read everything again.")] = False,
    flags: EngineFlags = NO_FLAGS,
) -> None:
    """Read the text of sampled frames into fullOCR.db (resumes; skips unchanged work).

    A setting not given keeps the value the video's last OCR run used (the default for a
    video not read yet), so `vabatch run` later reads it the same way."""
    given = {"sampling_fps": None if fps is None else fps or None,  # 0: every stored frame
             "detection_side": detection_side, "min_confidence": min_confidence,
             "reuse_threshold": None if no_reuse else reuse_threshold,
             "steady_threshold": None if no_steady else steady_threshold,
             "frames_per_transaction": commit_every}
    named = {"sampling_fps": fps is not None, "reuse_threshold": no_reuse
             or reuse_threshold is not None, "steady_threshold": no_steady
             or steady_threshold is not None}  # the others: given when not None
    given = {name: value for name, value in given.items()
             if named.get(name, value is not None)}
    options = OcrOptions(threads=threads, force=force,
                         keep=tuple(n for n in RECORDED_OCR_SETTINGS if n not in given),
                         **given)
    data_root, video_dirs = selected_videos(data, videos)
    if not video_dirs:
        return
    results = _stage_results("ocr", data_root, video_dirs, options, flags,
                             {"options": repr(options)})
    if flags.as_json:
        print_json([r.to_json() for r in results])
    elif flags.quiet and results:
        out.print(summary_line("ocr", results), highlight=False)
    elif any(r.ok for r in results):
        out.print(table(f"ocr in {data_root}", (
            "video id", "status", "frames", "read", "reused", "steady", "boxes", "seconds"), [
            (r.video_id, coloured(r.status, STATUS_COLOURS), str(r.frames_selected),
             str(r.frames_read), str(r.frames_reused), str(r.frames_steady), str(r.boxes),
             f"{r.seconds:.1f}")
            for r in results]))
    exit_if_failed([r for r in results if not r.ok], lambda r: r.error)


# -- layout ----------------------------------------------------------------------------------
@engine_options
def layout(
    videos: VideosArgument = None,
    data: DataOption = None,
    force: Annotated[bool, typer.Option("--force", help="Analyse again even if unchanged.")]
    = False,
    at: Annotated[str | None, typer.Option(
        "--at", metavar="top|middle|bottom|auto",
        help="Where the captions are, if you know better than the rules (e.g. a headline "
             "bar took the band): the band goes to the caption rows there, and later runs "
             "keep it. 'auto' lets the rules choose again.")] = None,
    flags: EngineFlags = NO_FLAGS,
) -> None:
    """Find the caption band from the OCR boxes and label them (`layout show VIDEO --out
    FILE.png` draws one frame with the band and the labelled boxes)."""
    from vabatch.stages.layout import ANCHORS, LayoutOptions

    if at is not None and at not in (*ANCHORS, "auto"):
        raise typer.BadParameter(f"--at {at!r}: expected {', '.join(ANCHORS)} or auto")
    data_root, video_dirs = selected_videos(data, videos)
    if not video_dirs:
        return
    results = _stage_results("layout", data_root, video_dirs, LayoutOptions(force, at), flags,
                             {"force": force, "at": at})
    if flags.as_json:
        print_json([r.to_json() for r in results])
    elif flags.quiet:
        out.print(summary_line("layout", results), highlight=False)
        print_warnings(results)
    else:
        out.print(table(f"layout in {data_root}", (
            "video id", "status", "band (l, t, r, b)", "anchor", "confidence", "method",
            "caption / noise boxes", "note"), [_layout_row(r) for r in results],
            overflow="fold"))
        print_warnings(results)
    exit_if_failed([r for r in results if r.status == "failed"], lambda r: r.error)


def _layout_row(r) -> tuple[str, ...]:
    band = f"{r.band.left}, {r.band.top}, {r.band.right}, {r.band.bottom}" if r.band else "-"
    status = coloured(r.status, {**STATUS_COLOURS, "no-captions": "yellow"})
    confidence = "-" if r.confidence is None else f"{r.confidence:.2f}"
    return (r.video_id, status, band, r.anchor or "-", confidence, r.method,
            f"{r.caption_boxes} / {r.noise_boxes}", r.error or r.message)


def layout_show(
    video: Annotated[str, typer.Argument(help="The video (id, prefix, directory, video file "
                                              "or source name).", show_default=False)],
    out_png: Annotated[Path, typer.Option("--out", help="The PNG to write.",
                                          show_default=False)],
    frame: Annotated[int | None, typer.Option(
        "--frame", show_default="the frame with the most caption boxes",
        help="The stored frame to draw.")] = None,
    data: DataOption = None,
) -> None:
    """Draw one frame with the caption band (green) and the OCR boxes (caption blue, noise
    red) with their text; the legend goes under the frame."""
    from vabatch.api import render_layout
    from vabatch.cli.common import one_video

    _, video_dir = one_video(data, video)
    picture = render_layout(video_dir, out_png, frame)
    err.print(f"wrote {picture.path} (frame {picture.frame_index})", highlight=False)
    if picture.note:
        err.print(f"note: {picture.note}", highlight=False)


# -- crop, captions --------------------------------------------------------------------------
@engine_options
def crop(videos: VideosArgument = None, data: DataOption = None, force: ForceOption = False,
         flags: EngineFlags = NO_FLAGS) -> None:
    """Cut the caption band out of every frame into cropping.db."""
    from vabatch.stages.crop import CropOptions

    data_root, video_dirs = selected_videos(data, videos)
    results = _stage_results("crop", data_root, video_dirs, CropOptions(force=force), flags,
                             {"force": force})
    _print_results(f"crop in {data_root}", results, ("frames", "strips", "MB stored"),
                   lambda r: (str(r.frames), str(r.strips), f"{r.bytes_stored / 1e6:.1f}"),
                   flags.as_json, flags.quiet)


@engine_options
def captions(videos: VideosArgument = None, data: DataOption = None,
             force: ForceOption = False, flags: EngineFlags = NO_FLAGS) -> None:
    """Find caption spans in the crop and read their text into captions.db."""
    from vabatch.stages.captions import CaptionOptions

    data_root, video_dirs = selected_videos(data, videos)
    results = _stage_results("captions", data_root, video_dirs, CaptionOptions(force=force),
                             flags, {"force": force})
    _print_results(f"captions in {data_root}", results,
                   ("captions", "spans", "read", "not captions", "human kept"),
                   lambda r: (str(r.captions), str(r.spans), str(r.spans_read),
                              str(r.rejected), str(r.human_kept)), flags.as_json, flags.quiet)


# -- run -------------------------------------------------------------------------------------
@engine_options
def run(videos: VideosArgument = None, data: DataOption = None, force: ForceOption = False,
        flags: EngineFlags = NO_FLAGS) -> None:
    """Run every missing or stale stage (ocr, layout, crop, captions) of each video."""
    from vabatch import api
    from vabatch.stages.registry import PIPELINE

    data_root, video_dirs = selected_videos(data, videos)
    report = on_engine("run", lambda settings: api.run_pipeline(
        video_dirs, data_root, force, settings), flags, {"force": force},
        quiet=not video_dirs)
    results = api.pipeline_results(report)
    if flags.as_json:
        print_json([r.to_json() for r in results])
    elif flags.quiet and results:
        out.print(summary_line("run", results), highlight=False)
        print_warnings(results)
    elif results:
        out.print(table(f"run in {data_root}", (
            "video id", *PIPELINE, "auto captions", "human captions", "seconds", "error"), [
            (r.video_id, *(r.stages.get(s, "-") for s in PIPELINE), str(r.captions),
             str(r.human_captions), f"{r.seconds:.1f}", r.error or "") for r in results],
            overflow="fold"))
        print_warnings(results)
    exit_if_failed([r for r in results if not r.ok], lambda r: f"{r.video_id}: {r.error}")
