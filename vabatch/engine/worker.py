"""The worker side of the engine: run one job of any stage and report its outcome as data.

Workers keep what is costly to load (the OCR models) in :data:`StageContext.shared` across
the tasks they run: one dictionary per worker thread (Dask runs tasks in threads).
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from vabatch.db import KINDS, VideoDatabase
from vabatch.db.files import sidecars
from vabatch.engine.failures import failure_of
from vabatch.engine.model import Job
from vabatch.fsutil import remove_abandoned_temporaries, remove_own_temporaries
from vabatch.stages.base import ProgressCallback, StageContext

_THREAD_STATE = threading.local()


def _shared_objects() -> dict:
    shared = getattr(_THREAD_STATE, "shared", None)
    if shared is None:
        shared = _THREAD_STATE.shared = {}
    return shared


def settle_database(video_dir: Path, alias: str) -> None:
    """Fold back what a killed writer left beside the database ``alias`` of ``video_dir``.

    A WAL (or hot rollback journal) left by a SIGKILL holds committed (or to-be-undone)
    pages; until a writer opens the file, readers see the sidecars and `vabatch verify`
    reports them. A stage that finds itself up to date would not open it, so the engine
    does: one open for writing and close checkpoints and leaves a self-contained file.
    Temporary files of dead processes are deleted too.
    """
    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        return
    remove_abandoned_temporaries(video_dir)
    path = video_dir / KINDS[alias].file_name
    if path.exists() and sidecars(path):
        with VideoDatabase(video_dir, write=alias):
            pass


def run_job(job: Job, progress: ProgressCallback | None = None):
    """Run the stage of ``job``; return its result object or raise its error."""
    context = StageContext(Path(job.target), Path(job.data_root), progress, job.attempt,
                           _shared_objects())
    result = job.stage.run(context, job.options)
    if job.stage.database is not None and job.stage.on == "video":
        # After, not before: a stage that opens its database for writing folds a killed
        # writer's WAL in itself (and an extra open/close would change the file's header
        # bytes); only one that found itself up to date leaves such sidecars for us.
        settle_database(context.target, job.stage.database)
    return result


def worker_label() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_job(job: Job, progress: ProgressCallback | None = None) -> tuple:
    """Run ``job`` and return ``("ok", result, worker, pid)`` or ``("error", Failure, ...)``.

    Never raises an Exception: the outcome crosses to the main process as data, so a
    result or an error of any stage travels the same way over a pipe or through Dask.
    """
    try:
        result = run_job(job, progress)
    except Exception as error:  # noqa: BLE001 - classified and reported, never lost
        _remove_own_temporaries(Path(job.target))
        return ("error", failure_of(error, job.target), worker_label(), os.getpid())
    except KeyboardInterrupt:
        _remove_own_temporaries(Path(job.target))
        raise
    return ("ok", result, worker_label(), os.getpid())


def _remove_own_temporaries(target: Path) -> None:
    remove_own_temporaries(target if target.is_dir() else target.parent)
