"""What happened, in ``<data root>/runs.db``: runs, tasks, every attempt with its worker,
timings and errors. Written by the main process of a run only (:class:`RunRecorder`);
read by ``vabatch runs`` and ``vabatch status --failed``."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from pathlib import Path

import apsw

from vabatch.db.files import sqlite_uri, storage_problem
from vabatch.db.video_database import (
    is_hot_journal_error,
    open_connection,
    roll_back_hot_journal,
)
from vabatch.engine.failures import Failure
from vabatch.engine.model import RunReport, Task
from vabatch.errors import DatabaseError
from vabatch.fsutil import is_shared_file, owner_is_dead, replace_with_private_copy

RUNS_FILE = "runs.db"
RUNS_APPLICATION_ID = 0x56427275  # "VBru"
RECORD_FLUSH_INTERVAL_S = 0.1  # runs.db commits at most this often (and at every end)


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
    path = Path(data_root) / RUNS_FILE
    if not path.exists() and not create:
        return None
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and is_shared_file(path):  # a hard-linked copy of a data root:
            replace_with_private_copy(path)  # its runs are its own, the original's stay
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
            sql = Path(__file__).with_name("runs.sql").read_text(encoding="utf-8")
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
        self.path = Path(data_root) / RUNS_FILE
        self.conn = open_runs_database(data_root, create=True)
        self.run_id: int | None = None
        self._in_transaction = False
        self._last_commit = 0.0
        self.failed: str | None = None  # why runs.db could not be written: records stop

    def _write(self, sql: str, bindings=()) -> None:
        if self.failed:
            return
        try:
            if not self._in_transaction:
                # IMMEDIATE: take the write lock now, so two runs never deadlock on upgrade.
                self.conn.execute("BEGIN IMMEDIATE")
                self._in_transaction = True
            self.conn.execute(sql, bindings)
        except apsw.Error as error:
            self._give_up(error)

    def flush(self, force: bool = False) -> None:
        """Commit pending records (throttled unless ``force``)."""
        now = time.monotonic()
        if self.failed or not self._in_transaction:
            return
        if force or now - self._last_commit >= RECORD_FLUSH_INTERVAL_S:
            try:
                self.conn.execute("COMMIT")
            except apsw.Error as error:
                self._give_up(error)
            self._in_transaction = False
            self._last_commit = now

    def _give_up(self, error: apsw.Error) -> None:
        """A record that cannot be written (a full disk, say) stops the run with one line;
        SQLite has rolled back what was pending, so runs.db stays whole."""
        self.failed = storage_problem(error) or f"{type(error).__name__}: {error}"
        self._in_transaction = False
        if not self.conn.getautocommit():
            try:
                self.conn.execute("ROLLBACK")
            except apsw.Error:
                pass
        raise DatabaseError(f"{self.path}: cannot record the run ({self.failed}); the "
                            "stages' finished work is kept, run again once it can be written")

    def start_run(self, command: str, arguments: dict, backend: str, workers: int,
                  tasks: list[Task]) -> int:
        """Record a new run and its tasks (all pending); return its id."""
        self._write("INSERT INTO runs (command, arguments, backend, workers, host, pid,"
                    " started_at, status, tasks_total) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)",
                    (command, json.dumps(arguments, default=str, sort_keys=True), backend,
                     workers, socket.gethostname(), os.getpid(), _now(), len(tasks)))
        self.run_id = self.conn.last_insert_rowid()
        try:
            self.conn.executemany(
                "INSERT INTO tasks (run_id, task_number, video_id, stage, target, status)"
                " VALUES (?, ?, ?, ?, ?, 'pending')",
                [(self.run_id, t.number, t.video_id, t.stage_name, str(t.target))
                 for t in tasks])
        except apsw.Error as error:
            self._give_up(error)
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




# -- reading the records ----------------------------------------------------------------------
def _dicts(cursor) -> list[dict]:
    try:
        columns = [d[0] for d in cursor.getdescription()]
    except apsw.ExecutionCompleteError:  # no rows: apsw has finished the statement
        return []
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _run_state(status: str, host: str, pid: int) -> str:
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
    attempt (why it failed). Videos fixed by a later run are not listed.

    An ingest task is about its input file (which may have no video id: it failed before
    hashing): its failure is listed until a later ingest of the same input, or of the same
    content, succeeds."""
    conn = open_runs_database(data_root, create=False)
    if conn is None:
        return []
    try:
        cursor = conn.execute(
            "WITH finished AS (SELECT *, CASE WHEN stage = 'ingest' THEN 'input:' || target"
            "   ELSE 'video:' || video_id END AS subject FROM tasks"
            "   WHERE status IN ('done', 'failed')),"
            " latest AS (SELECT subject, stage, max(run_id) AS run_id FROM finished"
            "   GROUP BY subject, stage)"
            " SELECT t.run_id, t.video_id, t.stage, t.target, t.attempts, t.error_kind, t.error,"
            " t.finished_at, a.error_type, a.traceback, a.worker"
            " FROM finished t JOIN latest USING (subject, stage, run_id)"
            " LEFT JOIN attempts a ON a.run_id = t.run_id AND a.task_number = t.task_number"
            "   AND a.attempt = t.attempts"
            " WHERE t.status = 'failed' AND NOT (t.stage = 'ingest' AND t.video_id IS NOT NULL"
            "   AND EXISTS (SELECT 1 FROM finished d WHERE d.stage = 'ingest'"
            "   AND d.status = 'done' AND d.video_id = t.video_id AND d.run_id > t.run_id))"
            " ORDER BY t.video_id, t.stage")
        rows = _dicts(cursor)
    finally:
        conn.close()
    if video_ids is not None:
        wanted = set(video_ids)
        rows = [r for r in rows if r["video_id"] in wanted or Path(r["target"]).name in wanted]
    from vabatch.stages.registry import STAGES

    order = {name: number for number, name in enumerate(STAGES)}
    rows.sort(key=lambda r: (r["video_id"], order.get(r["stage"], 99)))
    return rows
