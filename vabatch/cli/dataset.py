"""Commands that copy the data out: ``export dataset`` (training samples as files),
``backup`` and ``restore`` (consistent copies of the data root)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vabatch.cli.common import (
    DataOption,
    JsonOption,
    QuietOption,
    VideosArgument,
    err,
    human_bytes,
    out,
    plural,
    print_json,
    progress_display,
)

FractionsOption = Annotated[str, typer.Option(
    "--fractions", metavar="TRAIN,VALIDATION,TEST",
    help="Shares of the videos in each split (by video: a hash of its id and the seed).")]


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"--fractions {text!r}: three numbers, e.g. 0.8,0.1,0.1") \
            from None


class _Progress:
    """A progress bar that appears with the first file: checks that fail at once (a
    non-empty destination, say) print their one error line alone."""

    def __init__(self, description: str, quiet: bool) -> None:
        self.description, self.quiet = description, quiet
        self.display = None
        self.task = None

    def update(self, completed: int | None = None, total: int | None = None) -> None:
        if self.display is None:
            self.display = progress_display(self.quiet)
            self.display.start()
            self.task = self.display.add_task(self.description, total=total, rate="")
        if completed is None:
            self.display.update(self.task, advance=1)
        else:
            self.display.update(self.task, completed=completed, total=total)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.display is not None:
            self.display.stop()


# -- export dataset ----------------------------------------------------------------------
def export_dataset(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to create (must be empty "
                                                        "or absent, unless --force).")],
    videos: VideosArgument = None,
    kind: Annotated[str, typer.Option(
        "--kind", metavar="frames|captions",
        help="frames: every sampled frame; captions: one band strip per caption.")]
    = "frames",
    split: Annotated[str | None, typer.Option(
        "--split", metavar="train|validation|test", help="Only the videos of this split.")]
    = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split by video.")] = 0,
    fractions: FractionsOption = "0.8,0.1,0.1",
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --out.")]
    = False,
    data: DataOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Training samples as files: the stored images, manifest.jsonl (one sample a line: video,
    frame, time, boxes, labels, caption, split) and dataset.json with the content hash."""
    from vabatch.api import export_dataset as run_export
    from vabatch.api import resolve_data_root

    data_root = resolve_data_root(data)
    with _Progress("export dataset", quiet or as_json) as progress:
        result = run_export(data_root, out_dir, videos, kind, split, seed,
                            _fractions(fractions), force, progress.update)
    if as_json:
        print_json(result.to_json())
    for skipped in result.skipped:
        err.print(f"warning: {skipped['video_id']}: no samples: {skipped['reason']}",
                  highlight=False)
    if not as_json:
        splits = ", ".join(f"{name} {count}" for name, count in result.splits.items())
        out.print(f"wrote {plural(result.samples, 'sample')} of "
                  f"{plural(result.videos, 'video')} ({splits or 'none'}) to {result.out_dir}"
                  f"; content hash {result.content_hash}", highlight=False)
    if result.samples == 0:
        err.print("error: no samples written (see the warnings)", highlight=False)
        raise typer.Exit(1)


# -- backup / restore --------------------------------------------------------------------
def backup(
    destination: Annotated[Path, typer.Argument(
        metavar="DEST", help="Folder to create (must be empty or absent, unless --force).")],
    videos: VideosArgument = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty DEST.")]
    = False,
    copy_videos: Annotated[bool, typer.Option(
        "--copy-videos", help="Copy the source videos instead of hard-linking them.")]
    = False,
    data: DataOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """A consistent copy of the data root (or the named videos), made with SQLite's online
    backup API (safe while stages run), then checked as `vabatch verify` does."""
    from vabatch.api import backup_data, resolve_data_root

    data_root = resolve_data_root(data)
    with _Progress("backup (files)", quiet or as_json) as progress:
        result = backup_data(data_root, destination, videos, force, not copy_videos,
                             lambda path: progress.update())
    _report_copy(result, "backed up", as_json)


def restore(
    backup_dir: Annotated[Path, typer.Argument(metavar="BACKUP",
                                               help="A folder made by `vabatch backup`.")],
    videos: VideosArgument = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace videos (and data-root files) the data root has already.")]
    = False,
    data: DataOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Copy the videos of a backup back into the data root (--data), then verify them."""
    from vabatch.api import resolve_data_root, restore_data

    data_root = resolve_data_root(data)
    with _Progress("restore (files)", quiet or as_json) as progress:
        result = restore_data(backup_dir, data_root, videos, force,
                              lambda path: progress.update())
    _report_copy(result, "restored", as_json)


def _report_copy(result, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(result.to_json())
    for skipped in result.skipped:
        err.print(f"warning: not copied: {skipped['path']}: {skipped['reason']}",
                  highlight=False)
    for note in result.notes:
        err.print(f"note: {note}", highlight=False)
    for report in result.reports:
        for problem in report.problems:
            err.print(f"error: {report.video_id}: {Path(problem.file).name}: "
                      f"{problem.message}", highlight=False)
    if not as_json:
        verified = ("verify: ok" if not result.problems else
                    f"verify: {plural(result.problems, 'problem')}")
        out.print(f"{verb} {plural(len(result.videos), 'video')} to {result.destination} "
                  f"({result.databases} databases with SQLite's backup API, "
                  f"{result.linked} files linked, {result.copied} copied, "
                  f"{human_bytes(result.bytes)}, {result.seconds:.1f} s); {verified}",
                  highlight=False)
    if result.problems:
        raise typer.Exit(1)
