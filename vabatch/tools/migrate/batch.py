"""Many directories at once: ``migrate_many`` runs migrations or rollbacks in a process pool.

Each directory is independent (its own lock, its own result); progress steps come back from
the workers through a queue. This is the part the batch engine is to replace.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from vabatch.tools.migrate.directory import migrate_directory
from vabatch.tools.migrate.rollback import rollback_directory
from vabatch.tools.migrate.state import MigrationResult, ProgressCallback


def migrate_many(
    directories: list[Path],
    *,
    rollback: bool = False,
    dry_run: bool = False,
    force: bool = False,
    workers: int = 1,
    on_progress: Callable[[int, str], None] | None = None,
    on_result: Callable[[int, MigrationResult], None] | None = None,
) -> list[MigrationResult]:
    """Migrate (or roll back) many directories, ``workers`` at a time; results in order."""
    results: list[MigrationResult | None] = [None] * len(directories)

    def finish(number: int, result: MigrationResult) -> None:
        results[number] = result
        if on_result:
            on_result(number, result)

    if workers <= 1 or len(directories) <= 1:
        for number, directory in enumerate(directories):
            callback = (lambda step, n=number: on_progress(n, step)) if on_progress else None
            finish(number, _one(directory, rollback, dry_run, callback, force))
        return results  # type: ignore[return-value]

    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        queue = manager.Queue()
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending = {pool.submit(_one_in_worker, directory, rollback, dry_run, queue, number,
                                   force):
                       number for number, directory in enumerate(directories)}
            while pending:
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(queue, on_progress)
                for future in done:
                    number = pending.pop(future)
                    try:
                        result = future.result()
                    except Exception as error:  # the worker process died
                        result = MigrationResult(str(directories[number]), "failed",
                                                 error=f"worker failed: {error}")
                    finish(number, result)
            _drain(queue, on_progress)
    return results  # type: ignore[return-value]


def _one(directory: Path, rollback: bool, dry_run: bool,
         progress: ProgressCallback | None, force: bool = False) -> MigrationResult:
    if rollback:
        return rollback_directory(directory, dry_run=dry_run, force=force, progress=progress)
    return migrate_directory(directory, dry_run=dry_run, progress=progress)


def _one_in_worker(directory, rollback, dry_run, queue, number, force) -> MigrationResult:
    return _one(directory, rollback, dry_run, lambda step: queue.put((number, step)), force)


def _drain(queue, on_progress) -> None:
    while True:
        try:
            number, step = queue.get_nowait()
        except Exception:
            return
        if on_progress:
            on_progress(number, step)
