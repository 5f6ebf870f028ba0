"""The batch engine: runs (target, stage) tasks in parallel, resumably, with retries.

Everything that runs a stage goes through :func:`run_tasks` (the library entry point,
``vabatch.api``, builds the tasks). A task is one stage of one target: a video directory,
or for ingest an input file, or for migrate a legacy directory. Where tasks run is a
backend (``engine/backends/``): worker processes of this machine (the default), this
process (tests, the demo), or a Dask cluster.

Resuming needs no bookkeeping here: each stage records what it was made from and skips
itself when up to date, and writes only inside transactions (or to temporary names renamed
into place), so a killed task leaves the old state or the new one. After each attempt the
worker *settles* the stage's database (see :func:`vabatch.engine.worker.settle_database`).

The parts, one module each: ``model`` (tasks, settings, the report, observers),
``failures`` (transient or permanent), ``worker`` (one job), ``scheduler`` (the loop),
``records`` (runs.db), ``backends/``.
"""

from vabatch.engine.failures import Failure, WorkerDied, failure_of, is_transient
from vabatch.engine.model import (
    EngineSettings,
    Job,
    Observer,
    Observers,
    RetryPolicy,
    RunReport,
    Task,
    available_cores,
    stage_tasks,
)
from vabatch.engine.records import failed_tasks, list_runs, run_tasks_of
from vabatch.engine.scheduler import run_tasks

__all__ = [
    "EngineSettings", "Failure", "Job", "Observer", "Observers", "RetryPolicy", "RunReport",
    "Task", "WorkerDied", "available_cores", "failed_tasks", "failure_of", "is_transient",
    "list_runs", "run_tasks", "run_tasks_of", "stage_tasks",
]
