"""``vabatch migrate``: the command; the work is in ``vabatch.tools.migrate`` (through
``vabatch.api``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vabatch.cli.common import (
    DataOption,
    JsonOption,
    QuietOption,
    err,
    human_bytes,
    out,
    plural,
    print_json,
    progress_display,
)

STATUS_COLOURS = {"failed": "red", "unchanged": "dim", "skipped": "dim",
                  "would migrate": "cyan", "would roll back": "cyan", "would resume": "cyan"}


def migrate(
    legacy_dirs: Annotated[list[Path] | None, typer.Argument(
        help="Legacy directories, or folders to search at any depth for them (e.g. the "
             "ROOT of a ROOT/<hash>/<video_id>/captions.db tree); when omitted, every "
             "legacy (or interrupted) directory under the data root's videos/.",
        show_default=False)] = None,
    data: DataOption = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would happen; write nothing.")] = False,
    rollback: Annotated[bool, typer.Option(
        "--rollback", help="Restore the legacy captions.db byte for byte and remove "
                           "what migrate added (also its copy in the data root). Refused "
                           "when the split databases changed since the migration, unless "
                           "--force.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="With --rollback: roll back even if the split databases changed "
                        "since the migration (that work is lost).")] = False,
    workers: Annotated[int, typer.Option(
        "--workers", "-w", min=1, help="Directories migrated in parallel.")] = 1,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Convert legacy monolithic captions.db directories to split databases, with proof,
    and add them to the data root.

    Each directory is converted in place (the original kept as captions.db.old; every
    legacy table's row count and content hash checked against the rows it became before
    anything is switched), then appears in the data root (--data) as
    videos/<shard>/<video id>/, made of hard links to the migrated files.
    """
    from vabatch.api import migrate_many, resolve_data_root

    if force and not rollback:
        raise typer.BadParameter("--force only applies to --rollback")
    data_root = resolve_data_root(data)
    directories, not_found = _directories(legacy_dirs, data_root, rollback)
    results = []
    if directories:
        with progress_display(quiet or as_json) as progress:
            view = _ProgressView(progress, directories, "rollback" if rollback else "migrate")
            results = migrate_many(directories, rollback=rollback, dry_run=dry_run,
                                   force=force, data_root=data_root, workers=workers,
                                   on_progress=view.on_progress, on_result=view.on_result)
    _report(results, not_found, as_json, data_root, rollback)


def _directories(legacy_dirs: list[Path] | None, data_root: Path, rollback: bool):
    """(the directories to work on, a failed result per argument holding none): each
    argument is a legacy directory or a folder searched at any depth; without arguments,
    the data root's videos/ folder is searched."""
    from vabatch.api import expand_arguments, find_legacy_dirs
    from vabatch.dataroot import videos_root

    if legacy_dirs:
        return expand_arguments(legacy_dirs, rollback)
    if rollback:
        raise typer.BadParameter("--rollback needs the directories to roll back")
    root = videos_root(data_root)
    found = find_legacy_dirs(root) if root.is_dir() else []
    if not found:
        err.print(f"error: no legacy directories under {root} (name a legacy tree: "
                  "vabatch migrate ROOT)", highlight=False)
        raise typer.Exit(1)
    return found, []


class _ProgressView:
    """One bar for the whole run (with the legacy MB/s so far), and a line per directory
    at work showing the step it has reached."""

    def __init__(self, progress, directories: list[Path], title: str) -> None:
        self.progress = progress
        self.directories = directories
        self.overall = progress.add_task(title, total=len(directories), rate="")
        self.steps: dict[int, int] = {}  # directory number -> its task
        self.moved = 0  # legacy bytes of the directories done

    def on_progress(self, number: int, step: str) -> None:
        if number not in self.steps:
            self.steps[number] = self.progress.add_task(
                f"  {self.directories[number].name}", total=None, rate=step)
        else:
            self.progress.update(self.steps[number], rate=step)

    def on_result(self, number: int, result) -> None:
        if number in self.steps:
            self.progress.remove_task(self.steps.pop(number))
        self.moved += result.legacy_bytes
        elapsed = self.progress.tasks[self.overall].elapsed or 0
        rate = f"{self.moved / elapsed / 1e6:.0f} MB/s" if elapsed > 0 else ""
        self.progress.update(self.overall, advance=1, rate=rate)


def _report(results, not_found, as_json: bool, data_root: Path, rollback: bool) -> None:
    """Print the results, every error and the counts; exit 1 when a directory failed or an
    argument held no directory to work on."""
    if as_json:
        print_json([r.to_json() for r in not_found + results])
    elif results:
        _print_results(results)
    failed = [r for r in results if not r.ok]
    for result in not_found + failed:
        err.print(f"[red]error:[/red] {result.error}", highlight=False)
    if not as_json:
        out.print(counts_line(results, data_root, rollback), highlight=False)
    if failed:
        err.print(f"[red]{len(failed)} of {plural(len(results), 'directory', 'directories')}"
                  " failed[/red]")
    if failed or not_found:
        raise typer.Exit(1)


def counts_line(results, data_root: Path, rollback: bool) -> str:
    """'found 21 directories: 20 migrated, 1 unchanged, 0 skipped, 0 failed; ...'."""
    counts: dict[str, int] = {}
    for r in results:
        key = {"resumed": "migrated"}.get(r.status, r.status)
        counts[key] = counts.get(key, 0) + 1
    found = len(results)
    main = ("rolled back",) if rollback else ("migrated",)
    shown = [*main, "unchanged", "skipped", "failed"]
    shown += [k for k in counts if k not in shown]
    line = (f"found {plural(found, 'directory', 'directories')}: "
            + ", ".join(f"{counts.get(k, 0)} {k}" for k in shown))
    placed = sum(1 for r in results if r.data_dir and r.ok)
    if placed and not rollback:
        line += f"; {placed} in the data root {data_root}"
    return line


def _file_of(new_table: str) -> str:
    from vabatch.db import KINDS

    return KINDS[new_table.partition(".")[0]].file_name


def _print_results(results) -> None:
    """A proof table per directory that has one, then a summary of all."""
    for r in results:
        if not r.proofs or r.status == "failed" and not any(p.new_sha256 for p in r.proofs):
            continue
        _print_proofs(r)
    _print_summary(results)


def _print_proofs(r) -> None:
    """One directory: each legacy table beside the rows it became, then its notes."""
    from rich.table import Table

    from vabatch.api import PROOF_ALGORITHMS

    table = Table(title=f"{r.directory}: {r.status}", title_justify="left")
    table.add_column("legacy table", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("into", no_wrap=True)  # the table keeps its name in the new file
    table.add_column("rows", justify="right", no_wrap=True)
    hashed = [p for p in r.proofs if p.new_sha256]
    table.add_column(f"hash ({PROOF_ALGORITHMS[hashed[0].version]})" if hashed else "hash",
                     no_wrap=True)
    table.add_column("proof", no_wrap=True)
    for p in r.proofs:
        legacy_rows = "absent" if p.legacy_rows is None else str(p.legacy_rows)
        legacy_sha = (p.legacy_sha256 or "").rpartition(":")[2][:12]
        if not p.new_sha256:  # a dry run: only the legacy side is known
            table.add_row(p.legacy_table, legacy_rows, _file_of(p.new_table), "", "", "")
            continue
        new_sha = p.new_sha256.rpartition(":")[2][:12]
        if p.ok:
            shown, verdict = (legacy_sha or new_sha), "[green]equal[/green]"
        else:
            shown, verdict = f"{legacy_sha} / {new_sha}", "[red]DIFFERS[/red]"
        table.add_row(p.legacy_table, legacy_rows, _file_of(p.new_table), str(p.new_rows),
                      shown, verdict)
    out.print(table)
    if r.source_status:
        out.print(f"  source video: {r.source_status}", highlight=False)
    for note in r.notes:
        out.print(f"  note: {note}", highlight=False)


def _print_summary(results) -> None:
    """A row per directory: status, legacy size, time, rate, files added, error."""
    from rich.table import Table

    summary = Table(title=f"migrate: {plural(len(results), 'directory', 'directories')}")
    for column in ("directory", "status", "video id", "legacy size", "seconds", "MB/s",
                   "files", "error"):
        summary.add_column(column, overflow="fold")
    for r in results:
        colour = STATUS_COLOURS.get(r.status, "green")
        rate = (f"{r.legacy_bytes / r.seconds / 1e6:.0f}"
                if r.seconds and r.status in ("migrated", "rolled back") else "")
        summary.add_row(Path(r.directory).name, f"[{colour}]{r.status}[/{colour}]",
                        r.video_id or "", human_bytes(r.legacy_bytes) if r.legacy_bytes else "",
                        f"{r.seconds:.1f}", rate, ", ".join(r.created), r.error or "")
    out.print(summary)
