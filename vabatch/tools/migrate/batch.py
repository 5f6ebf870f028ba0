"""Many directories at once, on the batch engine: each directory is one task of the
``migrate`` kind (its own lock, its own result), run in this process for one worker and on
the engine's worker processes for more. Progress steps come back as the tasks' notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vabatch.engine import EngineSettings, Observer, RetryPolicy, Task, run_tasks, stage_tasks
from vabatch.errors import VabatchError
from vabatch.stages.base import Stage, StageContext
from vabatch.tools.migrate.directory import migrate_directory
from vabatch.tools.migrate.rollback import rollback_directory
from vabatch.tools.migrate.state import MigrationResult
from vabatch.tools.migrate.tree import place, placement_changes, remove_placement


@dataclass(frozen=True)
class MigrateOptions:
    """What to do to each directory."""

    rollback: bool = False
    dry_run: bool = False
    force: bool = False  # with rollback: even if the split databases changed since
    data_root: str | None = None  # where migrated directories are placed (None: nowhere)


def run_migrate(context: StageContext, options: MigrateOptions) -> MigrationResult:
    """Migrate (or roll back) the directory ``context.target``, and place it in (or take
    it out of) the data root."""
    progress = context.progress
    report = (lambda step: progress(0, 0, step)) if progress else None
    directory = Path(context.target)
    data_root = Path(options.data_root) if options.data_root else None
    if options.rollback:
        return _rollback(directory, data_root, options, report)
    result = migrate_directory(directory, dry_run=options.dry_run, progress=report)
    placeable = result.status in ("migrated", "resumed", "unchanged")
    if data_root is not None and not options.dry_run and placeable:
        if report:
            report("adding to the data root")
        try:
            place(directory, data_root, result)
        except (VabatchError, OSError) as error:
            result.status = "failed"
            result.error = str(error)
    return result


def _rollback(directory: Path, data_root: Path | None, options: MigrateOptions,
              report) -> MigrationResult:
    """Roll back a directory; its data-root copy goes too, unless work was done there
    since (then refused without ``force``)."""
    placed, changes = (placement_changes(directory, data_root) if data_root is not None
                       and directory.is_dir() else (None, []))
    if changes and not options.force:
        return MigrationResult.failed(directory, (
            f"{directory}: refused: its copy in the data root changed since the migration "
            f"({'; '.join(changes)}); --rollback --force discards that work"))
    result = rollback_directory(directory, dry_run=options.dry_run, force=options.force,
                                progress=report)
    if placed is None:
        return result
    if result.status == "rolled back":
        remove_placement(placed, data_root)
        result.notes.append(f"removed its copy in the data root, {placed}")
        result.notes.extend(f"discarded: {change}" for change in changes)
    elif result.status == "would roll back":
        result.notes.append(f"would remove its copy in the data root, {placed}")
    return result


# Not a pipeline stage (it is in no registry and writes whole directories), but a task the
# engine runs like one.
MIGRATE = Stage("migrate", None, MigrateOptions, MigrationResult, run_migrate,
                on="directory", in_run=False)


class _Callbacks(Observer):
    def __init__(self, on_progress, on_result) -> None:
        self.on_progress, self.on_result = on_progress, on_result

    def task_progress(self, task: Task, done: int, total: int, note: str = "") -> None:
        if self.on_progress and note:
            self.on_progress(task.number, note)

    def task_finished(self, task: Task) -> None:
        if self.on_result:
            self.on_result(task.number, task.result_or_failed())


def migrate_many(
    directories: list[Path],
    *,
    rollback: bool = False,
    dry_run: bool = False,
    force: bool = False,
    data_root: Path | None = None,
    workers: int = 1,
    on_progress: Callable[[int, str], None] | None = None,
    on_result: Callable[[int, MigrationResult], None] | None = None,
) -> list[MigrationResult]:
    """Migrate (or roll back) many directories, ``workers`` at a time; results in order.

    With ``data_root``, each migrated directory outside it is placed there (``tree.place``)
    and a rollback removes that copy. ``on_progress(number, step)`` and
    ``on_result(number, result)`` name a directory by its position in ``directories``.
    Nothing is retried (a failure says why and stays one) and no run is recorded.
    """
    directories = [Path(d) for d in directories]
    in_process = workers <= 1 or len(directories) <= 1
    settings = EngineSettings(workers=workers, backend="inprocess" if in_process else "local",
                              retry=RetryPolicy(max_attempts=1), record=False,
                              command="migrate", observer=_Callbacks(on_progress, on_result))
    tasks = stage_tasks(directories, [MIGRATE], {"migrate": MigrateOptions(
        rollback, dry_run, force, str(data_root) if data_root else None)})
    return run_tasks(tasks, Path.cwd(), settings).results()
