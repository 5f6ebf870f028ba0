"""The batch engine: runs (video, stage) tasks in parallel, resumably, with retries.

Every stage command hands its work to :func:`run_tasks`. A task is one stage of one video
(for ingest: one input file). The tasks of one video run in stage order (a task starts
only when the one before it for the same video succeeded); different videos run side by
side on a *backend*:

- :class:`LocalBackend`: worker processes of this machine (``--workers``, default: the
  number of cores). Each worker loads the OCR models once and keeps them for every task it
  runs. Workers die with the main process (``PR_SET_PDEATHSIG``), so a killed run leaves no
  orphan writing behind its back.
- :class:`DaskBackend`: the same task function on a Dask distributed cluster
  (``--scheduler tcp://HOST:PORT``, or ``--cluster local`` for a LocalCluster); the
  workers reach the data through a shared filesystem.

Failures are classified (:func:`is_transient`): a locked database, an I/O error or a worker
process that died is retried with exponential backoff and jitter, up to
``RetryPolicy.max_attempts``; anything else (a corrupt input, a missing database, a bug)
fails the task at once, skips the later stages of that video only, and never holds the
other videos back.

Resuming needs no bookkeeping here: each stage records what it was made from and skips
itself when up to date, and writes only inside transactions (or to temporary names renamed
into place), so a killed task leaves the old state or the new one. After each attempt the
worker *settles* the stage's database: a killed writer may have left a WAL or a hot journal
beside it, which one open-for-writing folds back in (see :func:`settle_database`). It does so
after the stage, and only if the stage left such sidecars (it was up to date, so it never
opened its database for writing).

What happened is written to ``<data root>/runs.db`` (:class:`RunRecorder`) by the main
process only: runs, tasks, every attempt with its worker, timings and errors.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import apsw

from vabatch.errors import InputError, VabatchError

STAGE_ORDER = ("ingest", "ocr", "layout", "crop", "captions")
# The database each stage writes (the one a killed attempt may leave unsettled).
STAGE_DATABASE = {"ingest": "video", "ocr": "fullOCR", "layout": "layout",
                  "crop": "cropping", "captions": "captions"}
RUNS_FILE = "runs.db"
RUNS_APPLICATION_ID = 0x56427275  # "VBru"
PROGRESS_INTERVAL_S = 0.1  # a worker reports progress at most this often
RECORD_FLUSH_INTERVAL_S = 0.1  # runs.db commits at most this often (and at every end)


# -- options of the stages that have none of their own -------------------------------------
@dataclass(frozen=True)
class LayoutOptions:
    """Options of the layout stage as a task carries them."""

    force: bool = False
    at: str | None = None  # 'top', 'middle', 'bottom': a person's choice; 'auto' undoes it


@dataclass(frozen=True)
class ProbeOptions:
    """A stage that does (almost) nothing, for the engine's tests and benchmarks.

    ``transient_failures``: the first N attempts raise ``apsw.BusyError``;
    ``permanent``: every attempt raises InputError (``permanent_for``: only for targets of
    these names); ``sleep_s``: work time per task.
    """

    sleep_s: float = 0.0
    transient_failures: int = 0
    permanent: bool = False
    permanent_for: tuple[str, ...] = ()


@dataclass
class ProbeResult:
    """What the probe stage returns."""

    video_id: str
    status: str = "done"
    attempt: int = 0
    worker_pid: int = 0

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict:
        return asdict(self)


# -- what crosses to a worker and back ------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One attempt of one task, as sent to a worker (picklable, paths as strings)."""

    task_number: int
    attempt: int
    stage: str
    target: str  # the video directory, or for ingest the input file
    data_root: str
    options: Any


@dataclass(frozen=True)
class Failure:
    """Why an attempt failed, in a form that crosses process and machine boundaries."""

    error_type: str
    message: str
    transient: bool
    traceback: str = ""


class WorkerDied(Exception):
    """The worker process running a task died (killed, out of memory, crashed)."""


def is_transient(error: BaseException) -> bool:
    """Whether retrying ``error`` may succeed.

    Transient: a busy or locked database, an I/O error, a lost connection, a worker that
    died, anywhere in the exception's chain (stages wrap apsw errors in DatabaseError).
    Permanent: an InputError (a corrupt or missing input), a VabatchError without such a
    cause, a missing file or a permission problem, and any other exception (a bug).
    """
    if isinstance(error, InputError):
        return False
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 10:
        if isinstance(current, (WorkerDied, apsw.BusyError, apsw.LockedError, apsw.IOError,
                                TimeoutError, ConnectionError)):
            return True
        if isinstance(current, OSError) and not isinstance(current, (
                FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def failure_of(error: BaseException, target: str) -> Failure:
    """The :class:`Failure` describing ``error`` raised while working on ``target``."""
    if isinstance(error, VabatchError):
        message = str(error)
    elif isinstance(error, OSError) and not isinstance(error, ConnectionError):
        message = f"{error.filename or target}: {error.strerror or error}"
    else:
        message = f"{target}: {type(error).__name__}: {error}"
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return Failure(type(error).__name__, message, is_transient(error), trace[-8000:])


# -- running one job (inside a worker) ------------------------------------------------------
_THREAD_STATE = threading.local()  # OCR engines per worker thread (Dask runs tasks in threads)


def _cached_engine(stage: str, options) -> Any:
    """The OCR engine for ``options``, loaded once per worker thread and kept."""
    engines = getattr(_THREAD_STATE, "engines", None)
    if engines is None:
        engines = _THREAD_STATE.engines = {}
    key = (stage, repr(_without_force(options)))
    if key not in engines:
        engines[key] = options.make_engine()
    return engines[key]


def _without_force(options):
    from dataclasses import replace

    return replace(options, force=False) if hasattr(options, "force") else options


def settle_database(video_dir: Path, alias: str) -> None:
    """Fold back what a killed writer left beside the database ``alias`` of ``video_dir``.

    A WAL (or hot rollback journal) left by a SIGKILL holds committed (or to-be-undone)
    pages; until a writer opens the file, readers see the sidecars and `vabatch verify`
    reports them. A stage that finds itself up to date would not open it, so the engine
    does: one open for writing and close checkpoints and leaves a self-contained file.
    Temporary files of dead processes are deleted too.
    """
    from vabatch.db import KINDS, VideoDatabase
    from vabatch.db.files import sidecars
    from vabatch.fsutil import remove_abandoned_temporaries

    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        return
    remove_abandoned_temporaries(video_dir)
    path = video_dir / KINDS[alias].file_name
    if path.exists() and sidecars(path):
        with VideoDatabase(video_dir, write=alias):
            pass


def run_job(job: Job, progress: Callable[[int, int], None] | None = None):
    """Run the stage of ``job``; return its result object or raise its error."""
    target = Path(job.target)
    data_root = Path(job.data_root)
    stage = job.stage
    if stage == "ingest":
        from vabatch.dataset import remove_abandoned_staging
        from vabatch.stages.ingest import ingest_file

        remove_abandoned_staging(data_root)  # a killed earlier attempt's staging folder
        return ingest_file(target, data_root, job.options, progress, raise_errors=True)
    if stage == "probe":
        return _run_probe(job)
    result = _run_video_stage(job, target, data_root, progress)
    # After, not before: a stage that opens its database for writing folds a killed
    # writer's WAL in itself (and an extra open/close would change the file's header
    # bytes); only one that found itself up to date leaves such sidecars for us.
    settle_database(target, STAGE_DATABASE[stage])
    return result


def _run_video_stage(job: Job, target: Path, data_root: Path, progress):
    stage = job.stage
    if stage == "ocr":
        from vabatch.stages.ocr import run_ocr

        return run_ocr(target, job.options, _cached_engine("ocr", job.options), progress)
    if stage == "layout":
        from vabatch.stages.layout import run_layout

        return run_layout(target, data_root, job.options.force, job.options.at)
    if stage == "crop":
        from vabatch.stages.crop import run_crop

        return run_crop(target, job.options, progress)
    if stage == "captions":
        from vabatch.stages.captions import run_captions

        return run_captions(target, job.options, _cached_engine("captions", job.options))
    raise VabatchError(f"unknown stage {stage!r}")


def _run_probe(job: Job) -> ProbeResult:
    options: ProbeOptions = job.options
    if options.sleep_s:
        time.sleep(options.sleep_s)
    if job.attempt <= options.transient_failures:
        raise apsw.BusyError(f"probe: database is locked (attempt {job.attempt})")
    if options.permanent or Path(job.target).name in options.permanent_for:
        raise InputError(f"{job.target}: probe: a corrupt input")
    return ProbeResult(Path(job.target).name, "done", job.attempt, os.getpid())


def worker_label() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_job(job: Job, progress: Callable[[int, int], None] | None = None) -> tuple:
    """Run ``job`` and return ``("ok", result, worker, pid)`` or ``("error", Failure, ...)``.

    Never raises an Exception: the outcome crosses to the main process as data, so a
    result or an error of any stage travels the same way over a pipe or through Dask.
    """
    try:
        result = run_job(job, progress)
    except Exception as error:  # noqa: BLE001 - classified and reported, never lost
        remove_own_temporaries(Path(job.target))
        return ("error", failure_of(error, job.target), worker_label(), os.getpid())
    except KeyboardInterrupt:
        remove_own_temporaries(Path(job.target))
        raise
    return ("ok", result, worker_label(), os.getpid())


def remove_own_temporaries(target: Path) -> None:
    """Delete the temporary files this process left in ``target`` (a video directory) when
    its stage was interrupted, e.g. a new database stopped before its rename into place."""
    from vabatch.fsutil import process_tag

    directory = target if target.is_dir() else target.parent
    try:
        for leftover in directory.glob(f".*.{process_tag()}.tmp*"):
            leftover.unlink(missing_ok=True)
    except OSError:
        pass


# -- retry policy ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits ``base * 2**(n-1)`` (capped), scaled
    by a random factor in [0.5, 1], so workers that failed together do not retry together."""

    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)) \
            * rng.uniform(0.5, 1.0)


# -- tasks, observer, report ----------------------------------------------------------------
@dataclass
class Task:
    """One stage of one video, and what became of it."""

    number: int
    stage: str
    target: Path
    video_id: str
    options: Any = None
    after: int | None = None  # the task of the same video that must succeed first
    priority: int = 0  # lower runs first: earlier videos finish first
    status: str = "pending"  # pending running retrying done failed skipped interrupted
    attempts: int = 0
    result: Any = None
    failure: Failure | None = None
    worker: str | None = None
    worker_pid: int | None = None
    seconds: float = 0.0
    started: float = 0.0

    @property
    def error(self) -> str | None:
        return self.failure.message if self.failure else None

    @property
    def result_status(self) -> str | None:
        return getattr(self.result, "status", None)


class Observer:
    """Hooks the engine calls from the main process (the live display implements them)."""

    def run_started(self, run_id: int | None, tasks: list[Task], backend: str) -> None:
        """The run is about to submit its first task."""

    def task_started(self, task: Task) -> None:
        """An attempt of ``task`` was handed to a worker."""

    def task_progress(self, task: Task, done: int, total: int) -> None:
        """The worker running ``task`` reported progress."""

    def task_retrying(self, task: Task, failure: Failure, delay_s: float) -> None:
        """An attempt failed transiently; the next one starts in ``delay_s``."""

    def task_finished(self, task: Task) -> None:
        """``task`` reached its final status (done, failed or skipped)."""

    def run_finished(self, report: RunReport) -> None:
        """Every task reached its final status."""


@dataclass
class RunReport:
    """The tasks of one run, with their final state."""

    run_id: int | None
    tasks: list[Task]
    backend: str
    seconds: float = 0.0
    retries: int = 0

    def counts(self) -> dict[str, int]:
        """Tasks per final status."""
        counted: dict[str, int] = {}
        for task in self.tasks:
            counted[task.status] = counted.get(task.status, 0) + 1
        return counted

    @property
    def ok(self) -> bool:
        return all(t.status == "done" for t in self.tasks)


@dataclass
class EngineSettings:
    """How a run is executed: where, how many at a time, how failures are retried."""

    workers: int | None = None  # None: the number of cores (local) or of cluster threads
    scheduler: str | None = None  # tcp://HOST:PORT of a Dask scheduler
    cluster: str | None = None  # 'local': start a Dask LocalCluster for this run
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    record: bool = True  # write <data root>/runs.db
    command: str = ""
    arguments: dict = field(default_factory=dict)
    observer: Observer | None = None
    seed: int | None = None  # of the backoff jitter (tests)

    @property
    def worker_count(self) -> int:
        return self.workers or available_cores()


def available_cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def stage_tasks(targets: Sequence[Path], stages: Sequence[str],
                options: dict[str, Any]) -> list[Task]:
    """One task per (target, stage), each stage after the previous one of its target."""
    tasks: list[Task] = []
    for priority, target in enumerate(targets):
        previous = None
        for stage in stages:
            task = Task(len(tasks), stage, Path(target), Path(target).name, options.get(stage),
                        previous, priority)
            tasks.append(task)
            previous = task.number
    return tasks


def failed_result(stage: str, target: Path, error: str):
    """The stage's own result object for a task that failed (or was skipped)."""
    target = Path(target)
    if stage == "ingest":
        from vabatch.stages.ingest import IngestResult

        return IngestResult(input=str(target), status="failed", error=error)
    if stage == "ocr":
        from vabatch.stages.ocr import OcrResult

        return OcrResult(video_id=target.name, video_dir=str(target), status="failed",
                         error=error)
    if stage == "layout":
        from vabatch.stages.layout import LayoutStageResult

        return LayoutStageResult(target.name, "failed", error=error)
    if stage == "crop":
        from vabatch.stages.crop import CropResult

        return CropResult(target.name, "failed", error=error)
    if stage == "captions":
        from vabatch.stages.captions import CaptionResult

        return CaptionResult(target.name, "failed", error=error)
    return ProbeResult(target.name, "failed")


def result_or_failed(task: Task):
    """``task``'s result, or a failed result of its stage carrying its error."""
    if task.status == "done":
        return task.result
    return failed_result(task.stage, task.target, task.error or f"not run ({task.status})")


# -- run records ----------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _result_json(result) -> str | None:
    if result is None:
        return None
    data = result.to_json() if hasattr(result, "to_json") else (
        asdict(result) if is_dataclass(result) else result)
    return json.dumps(data, default=str, sort_keys=True)


def open_runs_database(data_root: Path, *, create: bool) -> apsw.Connection | None:
    """A connection to ``<data root>/runs.db`` (created with its schema when ``create``);
    None when it does not exist and ``create`` is false."""
    from vabatch.db.video_database import (
        is_hot_journal_error,
        open_connection,
        roll_back_hot_journal,
    )
    from vabatch.errors import DatabaseError

    path = Path(data_root) / RUNS_FILE
    if not path.exists() and not create:
        return None
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    from vabatch.db.files import sqlite_uri

    uri = sqlite_uri(path, read_only=not create) + ("c" if create else "")
    try:
        conn = open_connection(uri)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchall()[0][0]
        except apsw.ReadOnlyError as error:  # a run's main process was killed mid-commit
            conn.close()
            if not is_hot_journal_error(error):
                raise
            roll_back_hot_journal(path)
            conn = open_connection(uri)
            app_id = conn.execute("PRAGMA application_id").fetchall()[0][0]
        version = conn.execute("PRAGMA user_version").fetchall()[0][0]
        if app_id not in (0, RUNS_APPLICATION_ID) or version > 1:
            raise DatabaseError(f"{path}: not a vabatch runs database (or a newer one)")
        if create and version == 0:
            # Rollback journal, never WAL: the file is self-contained at rest and correct on
            # a network filesystem; only the main process of a run writes it.
            conn.execute("PRAGMA journal_mode = DELETE")
            sql = (Path(__file__).with_name("runs.sql")).read_text(encoding="utf-8")
            with conn:
                conn.execute(sql)
    except apsw.Error as error:
        raise DatabaseError(f"{path}: cannot be opened ({error})") from None
    return conn


class RunRecorder:
    """Writes one run's records into runs.db; commits at most every 0.1 s and at the end.

    Batching the commits keeps the engine's overhead per task small; a SIGKILL of the main
    process loses at most the last 0.1 s of records (the run then shows as ``died``).
    """

    def __init__(self, data_root: Path) -> None:
        self.conn = open_runs_database(data_root, create=True)
        self.run_id: int | None = None
        self._in_transaction = False
        self._last_commit = 0.0

    def _write(self, sql: str, bindings=()) -> None:
        if not self._in_transaction:
            # IMMEDIATE: take the write lock now, so two runs never deadlock on upgrade.
            self.conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
        self.conn.execute(sql, bindings)

    def flush(self, force: bool = False) -> None:
        """Commit pending records (throttled unless ``force``)."""
        now = time.monotonic()
        if self._in_transaction and (force or now - self._last_commit >= RECORD_FLUSH_INTERVAL_S):
            self.conn.execute("COMMIT")
            self._in_transaction = False
            self._last_commit = now

    def start_run(self, command: str, arguments: dict, backend: str, workers: int,
                  tasks: list[Task]) -> int:
        """Record a new run and its tasks (all pending); return its id."""
        self._write("INSERT INTO runs (command, arguments, backend, workers, host, pid,"
                    " started_at, status, tasks_total) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)",
                    (command, json.dumps(arguments, default=str, sort_keys=True), backend,
                     workers, socket.gethostname(), os.getpid(), _now(), len(tasks)))
        self.run_id = self.conn.last_insert_rowid()
        self.conn.executemany(
            "INSERT INTO tasks (run_id, task_number, video_id, stage, target, status)"
            " VALUES (?, ?, ?, ?, ?, 'pending')",
            [(self.run_id, t.number, t.video_id, t.stage, str(t.target)) for t in tasks])
        self.flush(force=True)
        return self.run_id

    def attempt_started(self, task: Task) -> None:
        """Record the start of ``task``'s current attempt."""
        self._write("INSERT OR REPLACE INTO attempts (run_id, task_number, attempt, worker,"
                    " worker_pid, started_at, outcome) VALUES (?, ?, ?, ?, ?, ?, 'running')",
                    (self.run_id, task.number, task.attempts, task.worker, task.worker_pid,
                     _now()))
        self._write("UPDATE tasks SET status = 'running', attempts = ? WHERE run_id = ?"
                    " AND task_number = ?", (task.attempts, self.run_id, task.number))

    def attempt_finished(self, task: Task, outcome: str, seconds: float,
                         failure: Failure | None = None, retry_in: float | None = None) -> None:
        """Record how ``task``'s current attempt ended."""
        self._write("UPDATE attempts SET finished_at = ?, seconds = ?, outcome = ?, worker = ?,"
                    " worker_pid = ?, error_type = ?, error = ?, traceback = ?, retry_in = ?"
                    " WHERE run_id = ? AND task_number = ? AND attempt = ?",
                    (_now(), round(seconds, 4), outcome, task.worker, task.worker_pid,
                     failure.error_type if failure else None,
                     failure.message if failure else None,
                     failure.traceback if failure else None, retry_in,
                     self.run_id, task.number, task.attempts))
        if retry_in is not None:
            self._write("UPDATE tasks SET status = 'retrying', error_kind = 'transient',"
                        " error = ? WHERE run_id = ? AND task_number = ?",
                        (failure.message if failure else None, self.run_id, task.number))

    def task_finished(self, task: Task) -> None:
        """Record ``task``'s final state."""
        failure = task.failure
        self._write("UPDATE tasks SET status = ?, result_status = ?, attempts = ?,"
                    " error_kind = ?, error = ?, result = ?, seconds = ?, finished_at = ?,"
                    " video_id = ? WHERE run_id = ? AND task_number = ?",
                    (task.status, task.result_status, task.attempts,
                     None if failure is None else
                     ("transient" if failure.transient else "permanent"),
                     task.error, _result_json(task.result), round(task.seconds, 4), _now(),
                     task.video_id, self.run_id, task.number))

    def finish_run(self, status: str, report: RunReport) -> None:
        """Record the end of the run."""
        counts = report.counts()
        self._write("UPDATE runs SET status = ?, finished_at = ?, tasks_done = ?,"
                    " tasks_failed = ?, tasks_skipped = ?, retries = ?, seconds = ?"
                    " WHERE run_id = ?",
                    (status, _now(), counts.get("done", 0), counts.get("failed", 0),
                     counts.get("skipped", 0), report.retries, round(report.seconds, 3),
                     self.run_id))
        self.flush(force=True)

    def close(self) -> None:
        """Commit what is pending and close the file."""
        try:
            self.flush(force=True)
        finally:
            self.conn.close()


# -- backends -------------------------------------------------------------------------------
# A backend takes jobs (submit) while it has free capacity and reports events (poll):
#   ("done", task_number, outcome)            outcome as returned by execute_job
#   ("progress", task_number, done, total)
#   ("died", task_number, message)            the worker running it is gone
#   ("interrupted", task_number)              the worker got SIGINT/SIGTERM itself


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this worker when the main process dies, even by SIGKILL."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: workers end when their pipe closes
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _raise_interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _worker_main(conn, parent_pid: int) -> None:
    """Loop of a local worker process: receive a job, run it, send the outcome."""
    _die_with_parent(parent_pid)
    # SIGTERM from the main process (Ctrl-C, shutdown) unwinds the stage like Ctrl-C does:
    # its open transaction rolls back and its database is closed cleanly.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    current = -1
    try:
        while True:
            current = -1
            job = conn.recv()
            if job is None:
                return
            current = job.task_number
            last = [0.0]

            def progress(done: int, total: int, number=job.task_number, last=last) -> None:
                now = time.monotonic()
                if now - last[0] >= PROGRESS_INTERVAL_S or (total and done >= total):
                    last[0] = now
                    conn.send(("progress", number, done, total))

            outcome = execute_job(job, progress)
            conn.send(("done", job.task_number, outcome))
    except KeyboardInterrupt:
        try:
            conn.send(("interrupted", current))
        except (OSError, ValueError):
            pass
    except (EOFError, OSError):  # the main process went away
        return


@dataclass
class _LocalWorker:
    process: Any
    conn: Any
    task_number: int | None = None


class LocalBackend:
    """Worker processes on this machine (spawned, so no lock or thread is inherited)."""

    def __init__(self, workers: int) -> None:
        self.max_workers = max(1, workers)
        self.workers: list[_LocalWorker] = []
        self.description = f"local ({self.max_workers} workers)"
        self._context = None

    def start(self) -> None:
        """Prepare to spawn workers (they start on demand, up to ``max_workers``)."""
        import multiprocessing

        self._context = multiprocessing.get_context("spawn")

    def _spawn(self) -> _LocalWorker:
        parent_conn, child_conn = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child_conn, os.getpid()),
                                        name="vabatch-worker", daemon=True)
        process.start()
        child_conn.close()
        worker = _LocalWorker(process, parent_conn)
        self.workers.append(worker)
        return worker

    def capacity(self) -> int:
        """How many more jobs can start now."""
        return self.max_workers - sum(w.task_number is not None for w in self.workers)

    def submit(self, job: Job) -> tuple[str, int | None]:
        """Hand ``job`` to an idle worker; return (worker label, worker pid)."""
        idle = [w for w in self.workers if w.task_number is None]
        worker = idle[0] if idle else self._spawn()
        worker.task_number = job.task_number
        try:
            worker.conn.send(job)
        except (OSError, ValueError):  # died while idle: its poll reports it
            pass
        return f"{socket.gethostname()}:{worker.process.pid}", worker.process.pid

    def worker_pids(self) -> list[int]:
        """Pids of the live worker processes."""
        return [w.process.pid for w in self.workers if w.process.is_alive()]

    def poll(self, timeout: float) -> list[tuple]:
        """Events that arrived within ``timeout`` seconds."""
        from multiprocessing.connection import wait

        if not self.workers:
            time.sleep(timeout)
            return []
        handles = {}
        for worker in self.workers:
            handles[worker.conn] = worker
            handles[worker.process.sentinel] = worker
        events: list[tuple] = []
        dead: list[_LocalWorker] = []
        for ready in wait(list(handles), timeout):
            worker = handles[ready]
            if ready is worker.conn:
                try:
                    while worker.conn.poll():
                        message = worker.conn.recv()
                        if message[0] in ("done", "interrupted"):
                            worker.task_number = None
                        events.append(message)
                except (EOFError, OSError):
                    dead.append(worker)
            elif worker not in dead:
                dead.append(worker)
        for worker in dead:
            if worker not in self.workers:
                continue
            worker.process.join(timeout=1)
            if worker.process.is_alive():  # EOF on a pipe with a live process: end it
                worker.process.kill()
                worker.process.join(timeout=1)
            self.workers.remove(worker)
            worker.conn.close()
            if worker.task_number is not None:
                code = worker.process.exitcode
                how = (f"killed by {signal.Signals(-code).name}" if code and code < 0
                       else f"exit code {code}")
                events.append(("died", worker.task_number,
                               f"worker process {worker.process.pid} died ({how})"))
        return events

    def shutdown(self, cancel: bool = False) -> None:
        """Stop the workers: politely when idle; with SIGTERM (Ctrl-C) when ``cancel``."""
        for worker in self.workers:
            try:
                if cancel and worker.process.is_alive():
                    os.kill(worker.process.pid, signal.SIGTERM)
                else:
                    worker.conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + (20 if cancel else 10)
        for worker in self.workers:
            worker.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()
        self.workers = []


class DaskBackend:
    """The same jobs on a Dask distributed cluster (an existing scheduler or a LocalCluster).

    Dask is imported here only, so the command line starts fast without it.
    """

    def __init__(self, scheduler: str | None = None, cluster: str | None = None,
                 workers: int | None = None, connect_timeout_s: float = 30.0) -> None:
        if scheduler is None and cluster != "local":
            raise InputError("--cluster takes 'local' (or give --scheduler tcp://HOST:PORT)")
        self.scheduler = scheduler
        self.cluster_kind = cluster
        self.workers = workers
        self.connect_timeout_s = connect_timeout_s
        self.client = None
        self._cluster = None
        self.futures: dict[Any, int] = {}
        self.description = f"dask {scheduler}" if scheduler else "dask LocalCluster"
        self._token = f"{os.getpid()}-{int(time.time() * 1000)}"
        self._thread_count, self._threads_checked = 1, -1e9

    def start(self) -> None:
        """Connect to the scheduler (or start a LocalCluster)."""
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("Dask is not installed: pip install 'vabatch[cluster]'") from None
        import logging

        try:
            if self.scheduler:
                self.client = Client(self.scheduler, timeout=self.connect_timeout_s,
                                     set_as_default=False)
            else:
                self._cluster = LocalCluster(
                    n_workers=self.workers or available_cores(), threads_per_worker=1,
                    processes=True, dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self._cluster, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise InputError(f"cannot reach the Dask scheduler {self.scheduler}: {error}"
                             ) from None
        self.description = f"dask {self.client.scheduler.address}"

    def _threads(self) -> int:
        now = time.monotonic()
        if now - self._threads_checked > 1.0:  # asked at most once a second
            info = self.client.scheduler_info(n_workers=-1) if _takes_n_workers(
                self.client.scheduler_info) else self.client.scheduler_info()
            self._thread_count = max(1, sum(w.get("nthreads", 1)
                                            for w in info.get("workers", {}).values()))
            self._threads_checked = now
        return self._thread_count

    def capacity(self) -> int:
        """Jobs to keep queued: twice the cluster's threads, so no worker waits for us."""
        return 2 * self._threads() - len(self.futures)

    def submit(self, job: Job) -> tuple[str, int | None]:
        """Send ``job`` to the cluster; the worker is known only when it reports back."""
        future = self.client.submit(execute_job, job, None, pure=False,
                                    key=f"vabatch-{self._token}-{job.task_number}-{job.attempt}")
        self.futures[future] = job.task_number
        return "dask", None

    def worker_pids(self) -> list[int]:
        """Not known for a cluster."""
        return []

    def poll(self, timeout: float) -> list[tuple]:
        """Events of the futures that finished within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            # Polling the futures' state needs no default client (this one is not the
            # process's default, so a library caller's own client is left alone).
            done = [future for future in self.futures if future.done()]
            if done or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        events = []
        for future in done:
            number = self.futures.pop(future)
            if future.status == "finished":
                events.append(("done", number, future.result()))
            else:
                error = future.exception() if future.status == "error" else None
                # KilledWorker (the worker died, maybe repeatedly) or a lost future: retried.
                events.append(("died", number, f"Dask task lost: {type(error).__name__}: "
                                               f"{error}" if error else "Dask task cancelled"))
            future.release()
        return events

    def shutdown(self, cancel: bool = False) -> None:
        """Cancel what is queued (running stages finish their transaction) and disconnect."""
        try:
            if cancel and self.futures:
                self.client.cancel(list(self.futures))
            self.futures.clear()
            if self.client is not None:
                self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()


def _takes_n_workers(method) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def make_backend(settings: EngineSettings):
    """The backend ``settings`` asks for."""
    if settings.scheduler or settings.cluster:
        return DaskBackend(settings.scheduler, settings.cluster, settings.workers)
    return LocalBackend(settings.worker_count)


# -- the scheduler loop ---------------------------------------------------------------------
def run_tasks(tasks: list[Task], data_root: Path, settings: EngineSettings | None = None,
              backend=None) -> RunReport:
    """Run ``tasks`` to the end: each after its ``after`` task, retrying transient failures.

    Returns a report whose tasks are each done, failed or skipped (their earlier stage
    failed). Ctrl-C (KeyboardInterrupt) or SIGTERM stops the workers cleanly, records the
    run as interrupted and re-raises KeyboardInterrupt; a next run resumes.
    """
    settings = settings or EngineSettings()
    observer = settings.observer or Observer()
    backend = backend or make_backend(settings)
    rng = random.Random(settings.seed)
    started = time.monotonic()
    recorder = RunRecorder(Path(data_root)) if settings.record else None
    report = RunReport(None, tasks, getattr(backend, "description", "local"))
    by_number = {t.number: t for t in tasks}
    followers: dict[int, list[int]] = {}
    for task in tasks:
        if task.after is not None:
            followers.setdefault(task.after, []).append(task.number)
    ready = [(t.priority, t.number) for t in tasks if t.after is None]
    heapq.heapify(ready)
    retry_at: list[tuple[float, int]] = []
    unfinished = len(tasks)
    previous_sigterm = _sigterm_raises_interrupt()

    def finish(task: Task, status: str) -> None:
        nonlocal unfinished
        task.status = status
        unfinished -= 1
        if recorder:
            recorder.task_finished(task)
        observer.task_finished(task)
        for number in followers.get(task.number, ()):
            follower = by_number[number]
            if status == "done":
                heapq.heappush(ready, (follower.priority, follower.number))
            else:
                follower.failure = Failure("Skipped", f"{follower.target}: not run, "
                                           f"{task.stage} failed: {task.error}", False)
                finish(follower, "skipped")

    def attempt_failed(task: Task, failure: Failure) -> None:
        seconds = time.monotonic() - task.started
        task.seconds += seconds
        task.failure = failure
        if failure.transient and task.attempts < settings.retry.max_attempts:
            delay = settings.retry.delay(task.attempts, rng)
            report.retries += 1
            task.status = "retrying"
            if recorder:
                recorder.attempt_finished(task, "transient", seconds, failure, round(delay, 3))
            observer.task_retrying(task, failure, delay)
            heapq.heappush(retry_at, (time.monotonic() + delay, task.number))
        else:
            if recorder:
                recorder.attempt_finished(task, "transient" if failure.transient
                                          else "permanent", seconds, failure)
            finish(task, "failed")

    try:
        backend.start()
        if recorder:
            report.run_id = recorder.start_run(settings.command, settings.arguments,
                                               backend.description, settings.worker_count,
                                               tasks)
        observer.run_started(report.run_id, tasks, backend.description)
        while unfinished:
            now = time.monotonic()
            while retry_at and retry_at[0][0] <= now:
                _, number = heapq.heappop(retry_at)
                heapq.heappush(ready, (by_number[number].priority, number))
            free = backend.capacity() if ready else 0
            while ready and free > 0:
                _, number = heapq.heappop(ready)
                task = by_number[number]
                task.attempts += 1
                task.status, task.started = "running", time.monotonic()
                task.worker, task.worker_pid = backend.submit(Job(
                    number, task.attempts, task.stage, str(task.target), str(data_root),
                    task.options))
                free -= 1
                if recorder:
                    recorder.attempt_started(task)
                observer.task_started(task)
            wait_s = 0.2 if not retry_at else max(0.0, min(0.2, retry_at[0][0] - now))
            for event in backend.poll(wait_s):
                task = by_number.get(event[1])
                if task is None or task.status != "running":
                    continue
                kind = event[0]
                if kind == "progress":
                    observer.task_progress(task, event[2], event[3])
                elif kind == "done":
                    outcome, value, task.worker, task.worker_pid = event[2]
                    if outcome == "ok":
                        seconds = time.monotonic() - task.started
                        task.seconds += seconds
                        task.result, task.failure = value, None
                        if task.stage == "ingest" and getattr(value, "video_id", None):
                            task.video_id = value.video_id
                        if recorder:
                            recorder.attempt_finished(task, "ok", seconds)
                        finish(task, "done")
                    else:
                        attempt_failed(task, value)
                elif kind == "died":
                    attempt_failed(task, Failure("WorkerDied", f"{task.target}: {event[2]}",
                                                 True))
                elif kind == "interrupted":
                    attempt_failed(task, Failure("WorkerInterrupted", f"{task.target}: the "
                                                 "worker was interrupted", True))
            if recorder:
                recorder.flush()
        report.seconds = time.monotonic() - started
        if recorder:
            recorder.finish_run("done" if report.ok else "failed", report)
        backend.shutdown()
        observer.run_finished(report)
        return report
    except BaseException:
        # Ctrl-C, SIGTERM, or a failure of the engine itself: stop the workers first (they
        # roll back their open transaction), then say so in the records.
        try:
            backend.shutdown(cancel=True)
        finally:
            report.seconds = time.monotonic() - started
            for task in tasks:
                if task.status in ("pending", "running", "retrying"):
                    was_running, task.status = task.status == "running", "interrupted"
                    if recorder and was_running:
                        try:
                            recorder.attempt_finished(task, "interrupted",
                                                      time.monotonic() - task.started)
                        except apsw.Error:
                            pass
                    if recorder:
                        recorder.task_finished(task)
            if recorder and report.run_id is not None:
                recorder.finish_run("interrupted", report)
        raise
    finally:
        if recorder:
            recorder.close()
        _restore_sigterm(previous_sigterm)


def _sigterm_raises_interrupt():
    """While a run is active, SIGTERM (a batch scheduler's stop) acts like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


def _restore_sigterm(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def run_stages(targets: Sequence[Path], stages: Sequence[str], options: dict[str, Any],
               data_root: Path, settings: EngineSettings | None = None) -> RunReport:
    """Run ``stages`` (in this order) on every target; see :func:`run_tasks`."""
    return run_tasks(stage_tasks(list(targets), stages, options), Path(data_root), settings)


# -- reading the records ----------------------------------------------------------------------
def _dicts(cursor) -> list[dict]:
    try:
        columns = [d[0] for d in cursor.getdescription()]
    except apsw.ExecutionCompleteError:  # no rows: apsw has finished the statement
        return []
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _run_state(status: str, host: str, pid: int) -> str:
    from vabatch.fsutil import owner_is_dead

    if status == "running" and owner_is_dead(f"{host}.{pid}"):
        return "died"
    return status


def list_runs(data_root: Path, limit: int = 20) -> list[dict]:
    """The latest runs, newest first (a 'running' run whose process is gone is 'died')."""
    conn = open_runs_database(data_root, create=False)
    if conn is None:
        return []
    try:
        cursor = conn.execute("SELECT * FROM runs ORDER BY run_id DESC LIMIT ?", (limit,))
        rows = _dicts(cursor)
    finally:
        conn.close()
    for row in rows:
        row["status"] = _run_state(row["status"], row["host"], row["pid"])
        row["arguments"] = json.loads(row["arguments"])
    return rows


def run_tasks_of(data_root: Path, run_id: int) -> list[dict]:
    """The tasks of one run with their attempts."""
    conn = open_runs_database(data_root, create=False)
    if conn is None:
        return []
    try:
        cursor = conn.execute("SELECT * FROM tasks WHERE run_id = ? ORDER BY task_number",
                              (run_id,))
        tasks = _dicts(cursor)
        cursor = conn.execute("SELECT * FROM attempts WHERE run_id = ? ORDER BY task_number,"
                              " attempt", (run_id,))
        attempts = _dicts(cursor)
    finally:
        conn.close()
    for task in tasks:
        task["result"] = json.loads(task["result"]) if task["result"] else None
        task["attempt_list"] = [a for a in attempts if a["task_number"] == task["task_number"]]
    return tasks


def failed_tasks(data_root: Path, video_ids: Iterable[str] | None = None) -> list[dict]:
    """For each (video, stage) whose latest finished task failed: that task and its last
    attempt (why it failed). Videos fixed by a later run are not listed."""
    conn = open_runs_database(data_root, create=False)
    if conn is None:
        return []
    try:
        cursor = conn.execute(
            "SELECT t.run_id, t.video_id, t.stage, t.target, t.attempts, t.error_kind, t.error,"
            " t.finished_at, a.error_type, a.traceback, a.worker"
            " FROM tasks t JOIN (SELECT video_id, stage, max(run_id) AS run_id FROM tasks"
            "   WHERE status IN ('done', 'failed') GROUP BY video_id, stage) latest"
            "   USING (video_id, stage, run_id)"
            " LEFT JOIN attempts a ON a.run_id = t.run_id AND a.task_number = t.task_number"
            "   AND a.attempt = t.attempts"
            " WHERE t.status = 'failed' ORDER BY t.video_id, t.stage")
        rows = _dicts(cursor)
    finally:
        conn.close()
    if video_ids is not None:
        wanted = set(video_ids)
        rows = [r for r in rows if r["video_id"] in wanted or Path(r["target"]).name in wanted]
    order = {stage: number for number, stage in enumerate(STAGE_ORDER)}
    rows.sort(key=lambda r: (r["video_id"], order.get(r["stage"], 99)))
    return rows
