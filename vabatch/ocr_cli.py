"""``vabatch ocr``: the command line of the OCR stage (parse, call, print)."""

from __future__ import annotations

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
    reports_errors,
)


def register(app: typer.Typer) -> None:
    """Add the ``ocr`` command to ``app``."""
    app.command("ocr")(reports_errors(ocr))


def ocr(
    videos: VideosArgument = None,
    data: DataOption = None,
    fps: Annotated[float, typer.Option(
        "--fps", min=0.0,
        help="Frames read per second of video time, among the frames ingest stored; "
             "0 reads every stored frame.")] = 0.5,
    detection_side: Annotated[int, typer.Option(
        "--detection-side", min=32,
        help="Long side, in pixels, of the downscaled frame the text detector sees.")] = 640,
    min_confidence: Annotated[float, typer.Option(
        "--min-confidence", min=0.0, max=1.0, help="Drop lines read with less confidence.")]
    = 0.5,
    reuse_threshold: Annotated[int, typer.Option(
        "--reuse-threshold", min=0, max=255,
        help="A frame whose grey thumbnail differs from the last frame read by at most this "
             "many levels anywhere reuses that frame's boxes.")] = 12,
    no_reuse: Annotated[bool, typer.Option(
        "--no-reuse", help="Read every selected frame, even (near-)identical ones.")] = False,
    threads: Annotated[int, typer.Option(
        "--threads", min=1, help="onnxruntime threads per video (1 is fastest on 2 cores).")]
    = 1,
    commit_every: Annotated[int, typer.Option(
        "--commit-every", min=1, hidden=True,
        help="Frames per transaction (a killed run resumes after the last one).")] = 16,
    force: Annotated[bool, typer.Option(
        "--force", help="Delete fullOCR.db and read everything again.")] = False,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    cluster: ClusterOption = None,
    retries: RetriesOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Read the text of sampled frames into fullOCR.db (resumes; skips unchanged work)."""
    from vabatch.dataset import resolve_data_root, select_video_dirs
    from vabatch.engine import result_or_failed
    from vabatch.engine_cli import run_on_engine
    from vabatch.stages.ocr import OcrOptions, OcrResult

    options = OcrOptions(
        sampling_fps=fps or None, detection_side=detection_side,
        min_confidence=min_confidence, reuse_threshold=None if no_reuse else reuse_threshold,
        threads=threads, force=force, frames_per_transaction=commit_every,
    )
    data_root = resolve_data_root(data)
    video_dirs = select_video_dirs(data_root, videos)
    if not video_dirs:
        err.print(f"no videos in {data_root} (add some with `vabatch ingest`)")
        return
    # Each worker process loads the OCR models once and keeps them for all its videos.
    report = run_on_engine("ocr", data_root, video_dirs, ["ocr"], {"ocr": options},
                           workers=workers, scheduler=scheduler, cluster=cluster,
                           retries=retries, quiet=quiet or as_json,
                           arguments={"options": repr(options)})
    results: list[OcrResult] = [result_or_failed(task) for task in report.tasks]

    if as_json:
        print_json([r.to_json() for r in results])
    elif any(r.ok for r in results):
        table = Table(title=f"ocr in {data_root}")
        for column in ("video id", "status", "frames", "read", "reused", "boxes", "seconds"):
            table.add_column(column)
        for r in results:
            colour = {"failed": "red", "unchanged": "dim"}.get(r.status, "green")
            table.add_row(r.video_id, f"[{colour}]{r.status}[/{colour}]", str(r.frames_selected),
                          str(r.frames_read), str(r.frames_reused), str(r.boxes),
                          f"{r.seconds:.1f}")
        out.print(table)
    failed = [r for r in results if not r.ok]
    for r in failed:
        err.print(f"[red]error:[/red] {r.error}", highlight=False)
    if failed:
        raise typer.Exit(1)
