"""``vabatch query``: one read-only SQL statement run in every video's databases.

The statement runs on each video's ``VideoDatabase`` (every database attached under its
alias, read-only) in a thread pool: apsw releases the GIL while SQLite works, so videos are
read side by side. Before anything runs, the statement is prepared once against empty
databases of the current schemas, under an authorizer that allows reading only (SQLite's own
decision of what a statement does, not a pattern over its text): writes, schema changes,
ATTACH/DETACH, transactions, pragmas that set or act, and a second statement are refused.

The batch run records (``<data root>/runs.db``) are attached read-only as ``runs`` when they
exist, and a temporary view ``video_tasks`` holds the tasks of the video the statement runs
in (with their run's command and start time), so per-video questions about runs are one
statement too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import apsw
import apsw.ext

from vabatch.db import DATABASE_ORDER, VideoDatabase
from vabatch.db.files import sqlite_uri
from vabatch.db.schema import apply_schema
from vabatch.db.video_database import open_connection
from vabatch.engine import records
from vabatch.engine.records import RUNS_FILE
from vabatch.errors import InputError, VabatchError

RUNS_ALIAS = "runs"
# Pragmas that only report, whatever their argument (a table name, a number of errors).
REPORTING_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_key_check", "database_list", "collation_list",
    "function_list", "module_list", "pragma_list", "compile_options", "page_count",
    "freelist_count", "data_version", "integrity_check", "quick_check",
})
# Pragmas that report without an argument and set something with one.
SETTING_PRAGMAS = frozenset({
    "application_id", "user_version", "schema_version", "page_size", "encoding",
    "journal_mode",
})
_READ_ACTIONS = frozenset({apsw.SQLITE_SELECT, apsw.SQLITE_READ, apsw.SQLITE_FUNCTION,
                           apsw.SQLITE_RECURSIVE})
_VIDEO_TASKS = """CREATE TEMP VIEW video_tasks AS
    SELECT t.run_id, r.command, r.started_at AS run_started_at, t.task_number, t.stage,
           t.status, t.result_status, t.attempts, t.error_kind, t.error, t.seconds,
           t.finished_at
    FROM runs.tasks t JOIN runs.runs r USING (run_id) WHERE t.video_id = {video_id}"""
_NO_RUNS_VIEW = """CREATE TEMP VIEW video_tasks AS
    SELECT NULL AS run_id, NULL AS command, NULL AS run_started_at, NULL AS task_number,
           NULL AS stage, NULL AS status, NULL AS result_status, NULL AS attempts,
           NULL AS error_kind, NULL AS error, NULL AS seconds, NULL AS finished_at
    WHERE 0"""
_RUNS_SCHEMA = Path(records.__file__).with_name("runs.sql")


class RefusedStatement(InputError):
    """The statement would do more than read (or is not one statement)."""


@dataclass
class VideoRows:
    """What the statement returned in one video (or why it could not run there)."""

    video_id: str
    source_name: str | None
    rows: list[tuple] = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None  # a database the statement needs is not there yet
    note: str | None = None  # run records could not be attached here


@dataclass
class QueryResult:
    """One table: the statement's columns, after ``video_id`` and ``source_name``."""

    columns: list[str]
    rows: list[tuple]  # (video_id, source_name, *values)
    videos: list[VideoRows]
    truncated: bool = False
    notes: list[str] = field(default_factory=list)  # what the user should know (runs.db)

    @property
    def errors(self) -> list[VideoRows]:
        return [v for v in self.videos if v.error]

    @property
    def skipped(self) -> list[VideoRows]:
        return [v for v in self.videos if v.skipped]

    def to_json(self) -> list[dict]:
        return [dict(zip(self.columns, map(json_value, row), strict=True))
                for row in self.rows]


def json_value(value):
    """A cell as JSON and CSV show it: a blob is described, never dumped."""
    if isinstance(value, bytes):
        return f"<blob {len(value)} bytes>"
    return value


def _authorizer(action, param1, param2, _database, _trigger):
    if action == apsw.SQLITE_FUNCTION and (param2 or "").lower() == "load_extension":
        return apsw.SQLITE_DENY
    if action in _READ_ACTIONS:
        return apsw.SQLITE_OK
    if action == apsw.SQLITE_PRAGMA:
        pragma = (param1 or "").lower()
        if pragma in REPORTING_PRAGMAS or (pragma in SETTING_PRAGMAS and param2 is None):
            return apsw.SQLITE_OK
    return apsw.SQLITE_DENY


def _what(action: int, param1, param2) -> str:
    """Words for a denied action: 'INSERT', 'PRAGMA user_version = 1', 'ATTACH'."""
    name = apsw.mapping_authorizer_function.get(action, str(action))
    name = str(name).removeprefix("SQLITE_").replace("_", " ")
    if action == apsw.SQLITE_PRAGMA:
        return f"PRAGMA {param1}" + (f" = {param2}" if param2 is not None else "")
    if action == apsw.SQLITE_FUNCTION:
        return f"{param2}()"
    if param1 in ("sqlite_master", "sqlite_temp_master", "sqlite_schema"):
        return "changes the schema"
    return name


def check_read_only(conn: apsw.Connection, sql: str) -> list[str]:
    """Raise RefusedStatement unless ``sql`` is one statement that only reads; return the
    names of the columns it returns.

    The statement is prepared (never run) on ``conn`` under the read-only authorizer;
    SQLite reports every action it would take, and a statement that takes one not allowed
    fails to prepare. ``sqlite3_stmt_readonly`` must agree (it catches VACUUM, which the
    authorizer is not asked about).
    """
    denied: list[str] = []

    def recording(action, param1, param2, database, trigger):
        verdict = _authorizer(action, param1, param2, database, trigger)
        if verdict != apsw.SQLITE_OK:
            denied.append(_what(action, param1, param2))
        return verdict

    previous = conn.authorizer
    conn.authorizer = recording
    try:
        info = apsw.ext.query_info(conn, sql, explain=True)
    except apsw.Error as error:
        if not denied:
            raise InputError(f"the statement cannot run: {error}") from None
        raise RefusedStatement(f"refused: the statement does more than read "
                               f"({denied[0] if denied else 'writes'}); `vabatch query` runs "
                               "read-only statements only") from None
    finally:
        conn.authorizer = previous
    if not info.explain:
        raise InputError("no SQL statement given")
    if info.query_remaining and _has_statement(conn, info.query_remaining):
        raise RefusedStatement("refused: more than one statement; `vabatch query` runs one "
                               "read-only statement")
    if not info.is_readonly:
        raise RefusedStatement("refused: the statement does more than read (writes); "
                               "`vabatch query` runs read-only statements only")
    return [name for name, _ in info.description or ()]


def _has_statement(conn: apsw.Connection, sql: str) -> bool:
    """Whether ``sql`` holds a statement (not just comments, spaces and semicolons)."""
    previous = conn.authorizer
    conn.authorizer = None  # prepared only, never run: is there a statement at all?
    try:
        return bool(apsw.ext.query_info(conn, sql, explain=True).explain)
    except apsw.Error:
        return True  # something is there, and it does not even parse
    finally:
        conn.authorizer = previous


class SchemaConnection:
    """A connection with an empty database of each kind, at the latest schema, under its
    alias (and ``runs``): the statement is checked here once, before any video is read."""

    def __init__(self) -> None:
        self._keep: list[apsw.Connection] = []
        tag = f"{os.getpid()}-{id(self)}"
        self.conn = open_connection("file::memory:?mode=memory")
        for alias in (*DATABASE_ORDER, RUNS_ALIAS):
            uri = f"file:/vabatch-schema-{alias}-{tag}?vfs=memdb"  # shared in-process
            holder = open_connection(uri)
            if alias == RUNS_ALIAS:
                holder.execute(_RUNS_SCHEMA.read_text(encoding="utf-8"))
            else:
                apply_schema(holder, alias)
            self._keep.append(holder)
            self.conn.execute(f"ATTACH DATABASE ? AS {alias}", (uri,))
        self.conn.execute(_VIDEO_TASKS.format(video_id="''"))

    def close(self) -> None:
        self.conn.close()
        for holder in self._keep:
            holder.close()


def run_query(sql: str, video_dirs: Sequence[Path], data_root: Path, *,
              limit: int | None = None, workers: int | None = None,
              on_video: Callable[[VideoRows], None] | None = None) -> QueryResult:
    """Run one read-only statement in every video; rows in video order (then row order).

    Raises RefusedStatement (before anything runs) for a statement that would write.
    A video where it fails (a damaged file) is reported in its VideoRows, not raised; a
    video that lacks a database the statement reads is marked skipped.
    """
    schema = SchemaConnection()
    try:
        columns = check_read_only(schema.conn, sql)
    finally:
        schema.close()
    runs_db, notes = _readable_runs(Path(data_root))
    workers = workers or min(8, (os.cpu_count() or 1) * 2)

    def one(video_dir: Path) -> VideoRows:
        result = _run_in_video(sql, Path(video_dir), runs_db, limit, len(columns))
        if on_video is not None:
            on_video(result)
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        videos = list(pool.map(one, video_dirs))
    names = _unique(["video_id", "source_name", *columns])
    rows: list[tuple] = []
    truncated = False
    for video in videos:
        for row in video.rows:
            if limit is not None and len(rows) >= limit:
                truncated = True
                break
            rows.append((video.video_id, video.source_name, *row))
    notes += sorted({v.note for v in videos if v.note})
    return QueryResult(names, rows, videos, truncated, notes)


def _readable_runs(data_root: Path) -> tuple[Path | None, list[str]]:
    """runs.db when it can be read (opened once by the engine's own code, which also rolls
    back what a killed run half-wrote), else None and why, for a note."""
    try:
        conn = records.open_runs_database(data_root, create=False)
    except VabatchError as error:
        return None, [f"run records not attached, video_tasks is empty: {error}"]
    if conn is None:
        return None, []
    conn.close()
    return data_root / RUNS_FILE, []


def _unique(names: list[str]) -> list[str]:
    """Column names made unique: a statement's own ``video_id`` becomes ``video_id_2``."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


def _run_in_video(sql: str, video_dir: Path, runs_db: Path | None, limit: int | None,
                  width: int) -> VideoRows:
    video = VideoRows(video_dir.name, None)
    try:
        with VideoDatabase(video_dir) as db:
            video.source_name = _source_name(db)
            video.note = _attach_runs(db, runs_db, video.video_id)
            db.conn.authorizer = _authorizer
            cursor = db.execute(sql)
            for row in cursor:
                if len(row) != width:  # `SELECT *` on a file of an older schema
                    video.error = (f"the statement returns {len(row)} columns here, {width} "
                                   "on the current schema (run `vabatch migrate`/the stage)")
                    video.rows = []
                    break
                video.rows.append(tuple(row))
                if limit is not None and len(video.rows) >= limit:
                    break
    except apsw.SQLError as error:
        missing = _missing(video_dir)
        if "no such table" in str(error) and missing:
            video.skipped = f"{error} (not there yet: {', '.join(missing)})"
        else:
            video.error = str(error)
        video.rows = []
    except Exception as error:  # one damaged video never stops the others
        video.error = f"{type(error).__name__}: {error}" if isinstance(error, apsw.Error) \
            else str(error)
        video.rows = []
    return video


def _missing(video_dir: Path) -> list[str]:
    from vabatch.db.schema import KINDS

    return [alias for alias in DATABASE_ORDER
            if not (video_dir / KINDS[alias].file_name).exists()]


def _source_name(db: VideoDatabase) -> str | None:
    if not db.has("video") or db.legacy:
        return None
    try:
        row = db.execute("SELECT source_name FROM video.video_metadata").fetchone()
    except apsw.Error:
        return None
    return row[0] if row else None


def _attach_runs(db: VideoDatabase, runs_db: Path | None, video_id: str) -> str | None:
    """``runs`` (read-only) and the ``video_tasks`` view of this video's tasks; an empty
    view when the data root has no run records (or they cannot be read: then why)."""
    quoted = "'" + video_id.replace("'", "''") + "'"
    if runs_db is not None:
        try:
            db.execute(f"ATTACH DATABASE ? AS {RUNS_ALIAS}",
                       (sqlite_uri(runs_db, read_only=True),))
            db.execute(_VIDEO_TASKS.format(video_id=quoted))
            return None
        except apsw.Error as error:
            if RUNS_ALIAS in {row[1] for row in db.execute("PRAGMA database_list")}:
                db.execute(f"DETACH DATABASE {RUNS_ALIAS}")
            db.execute(_NO_RUNS_VIEW)
            return f"run records not attached in some videos ({error})"
    db.execute(_NO_RUNS_VIEW)
    return None
