"""``VideoDatabase``: the one way code opens the databases of a video directory."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

import apsw

from vabatch.db.files import sqlite_uri, storage_problem, wal_is_safe
from vabatch.db.schema import (
    DATABASE_ORDER,
    KINDS,
    apply_schema,
    kind_for,
    read_header,
    schema_steps,
)
from vabatch.errors import DatabaseError, MissingDatabaseError
from vabatch.fsutil import (
    fsync_path,
    is_shared_file,
    is_unwritable,
    remove_abandoned_temporaries,
    replace_with_private_copy,
    temporary_name,
)

LEGACY_FILE = "captions.db"
DEFAULT_BUSY_TIMEOUT_MS = 60_000

_WRITE_ACTIONS = frozenset({
    apsw.SQLITE_INSERT, apsw.SQLITE_UPDATE, apsw.SQLITE_DELETE,
    apsw.SQLITE_CREATE_TABLE, apsw.SQLITE_CREATE_INDEX, apsw.SQLITE_CREATE_VIEW,
    apsw.SQLITE_CREATE_TRIGGER, apsw.SQLITE_CREATE_VTABLE, apsw.SQLITE_DROP_TABLE,
    apsw.SQLITE_DROP_INDEX, apsw.SQLITE_DROP_VIEW, apsw.SQLITE_DROP_TRIGGER,
    apsw.SQLITE_DROP_VTABLE, apsw.SQLITE_ALTER_TABLE,
})


def open_connection(uri: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> apsw.Connection:
    """An apsw connection to a URI, with a busy timeout (apsw has none by default).

    Hardened as SQLite advises for files from elsewhere (a legacy captions.db, a pulled
    dataset): functions with side effects cannot run from a file's views, triggers,
    CHECK constraints or generated columns (trusted_schema off), and SQL cannot corrupt
    the file on purpose (defensive mode: no writable_schema, no journal_mode=OFF).
    """
    flags = apsw.SQLITE_OPEN_URI | (
        apsw.SQLITE_OPEN_READONLY if "mode=ro" in uri
        else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    )
    conn = apsw.Connection(uri, flags=flags)
    conn.config(apsw.SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0)
    conn.config(apsw.SQLITE_DBCONFIG_DEFENSIVE, 1)
    conn.set_busy_timeout(busy_timeout_ms)
    return conn


def is_legacy_file(path: Path) -> bool:
    """True for a monolithic captions.db of the old tool (no application_id, has full_frames)."""
    if not path.is_file():
        return False
    conn = open_connection(sqlite_uri(path, read_only=True, immutable=is_unwritable(path)))
    try:
        app_id, _ = read_header(conn)
        has_frames = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'full_frames'"
        ).fetchall()
        return app_id == 0 and bool(has_frames)
    except apsw.Error as error:
        raise DatabaseError(f"{path}: not a readable SQLite database ({error})") from None
    finally:
        conn.close()


def prepare_for_writing(path: Path, alias: str) -> None:
    """Create the database if absent, make it a private writable file, upgrade its schema.

    A new file gets its schema under a temporary name and is renamed into place, so a
    reader never sees an existing but empty database.
    """
    remove_abandoned_temporaries(path.parent)
    if path.exists() and is_shared_file(path):
        replace_with_private_copy(path)
    if path.exists():
        _remove_stale_sidecars(path)
    target = path if path.exists() else temporary_name(path)
    conn = open_connection(sqlite_uri(target, read_only=False) + "c")  # mode=rwc: create
    try:
        apply_schema(conn, alias)
    except apsw.Error as error:
        conn.close()
        if target != path:
            target.unlink(missing_ok=True)
        problem = storage_problem(error)
        raise DatabaseError(f"{path}: cannot be opened for writing ("
                            f"{problem or error})") from error if problem else None
    finally:
        conn.close()
    if target != path:
        fsync_path(target)
        os.replace(target, path)


class VideoDatabase:
    """Opens every database of a video directory on one connection, under its alias.

    Everything is read-only, except the database named by ``write``, which is created if
    absent, upgraded to the current schema, and kept in WAL mode while open. On exit the
    written database is checkpointed and switched back to a rollback journal, so no
    sidecar file remains. ``require`` lists aliases that must be present; ``only``, when
    given, the aliases to attach (the others are left alone: one damaged file then stops
    no reader of another).

    With ``replace=True`` the written database starts empty: it is built in a temporary
    file (attached under the alias) and renamed over the old one only when the block ends
    without error, so a failed or killed stage leaves the old file, and a rebuild from the
    same inputs gives the same bytes whatever was there before. The old file, if any, is
    attached read-only as ``previous`` so the stage can carry over what must survive
    (human edits).

    A legacy directory (one monolithic ``captions.db``) opens read-only with that one file
    attached under every alias, so ``video.full_frames`` and ``fullOCR.full_frame_ocr``
    name its tables.
    """

    def __init__(
        self,
        video_dir: Path | str,
        *,
        write: str | None = None,
        require: Iterable[str] = (),
        replace: bool = False,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        only: Iterable[str] | None = None,
    ) -> None:
        self.video_dir = Path(video_dir)
        self.only = None if only is None else tuple(only)  # attach just these (split layout)
        self.write = write
        self.replace = replace
        self._replacement: Path | None = None
        self.require = tuple(require)
        self.busy_timeout_ms = busy_timeout_ms
        self.legacy = False
        self.attached: dict[str, Path] = {}
        self.uris: dict[str, str] = {}  # how each alias was attached
        self._conn: apsw.Connection | None = None
        self._wal = False
        if write is not None:
            kind_for(write)
        elif replace:
            raise DatabaseError("replace=True needs the database to write (write=...)")
        for alias in self.require:
            kind_for(alias)

    # -- public API -------------------------------------------------------------------
    @property
    def conn(self) -> apsw.Connection:
        if self._conn is None:
            raise DatabaseError("VideoDatabase is not open (use it in a `with` block)")
        return self._conn

    def execute(self, sql: str, bindings=None) -> apsw.Cursor:
        """Run one statement on the shared connection."""
        return self.conn.execute(sql, bindings)

    def has(self, alias: str) -> bool:
        """Whether the database ``alias`` is attached."""
        return alias in self.attached

    def columns(self, alias: str, table: str) -> set[str]:
        """The column names of ``alias.table`` (empty when it does not exist): a file made
        by an older version may lack a column added since."""
        return {row[1] for row in self.execute(f"PRAGMA {alias}.table_info({table})")}

    def carry_over(self, table: str, where: str = "1") -> int:
        """Copy rows of ``table`` from the ``previous`` file into the replacement.

        Only with ``replace=True``; columns both versions have are copied, in rowid order.
        Returns the number of rows copied (0 when there is no previous file or table).
        """
        if not self.replace or "previous" not in self.attached:
            return 0
        old = [r[1] for r in self.execute(f"PRAGMA previous.table_info({table})")]
        new = [r[1] for r in self.execute(f"PRAGMA {self.write}.table_info({table})")]
        columns = ", ".join(c for c in new if c in old)
        if not columns:
            return 0
        self.execute(f"INSERT INTO {self.write}.{table} ({columns}) SELECT {columns}"
                     f" FROM previous.{table} WHERE {where} ORDER BY rowid")
        return self.conn.changes()

    def path(self, alias: str) -> Path:
        """The file of database ``alias`` in this video directory (present or not)."""
        if self.legacy:
            return self.video_dir / LEGACY_FILE
        return self.video_dir / kind_for(alias).file_name

    # -- context manager --------------------------------------------------------------
    def __enter__(self) -> VideoDatabase:
        if not self.video_dir.is_dir():
            raise MissingDatabaseError(f"{self.video_dir}: no such video directory")
        self._conn = open_connection(
            "file::memory:?mode=memory", self.busy_timeout_ms
        )
        try:
            legacy_file = self.video_dir / LEGACY_FILE
            video_file = self.video_dir / KINDS["video"].file_name
            if not video_file.exists() and is_legacy_file(legacy_file):
                self._attach_legacy(legacy_file)
            else:
                self._attach_split()
            # Writes to the in-memory main schema would vanish silently: refuse them.
            self._conn.authorizer = _deny_writes_to_main
        except BaseException:
            # failed: a half-made replacement (a full disk, say) must never be renamed in
            self._close(failed=True)
            raise
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self._close(failed=exc_type is not None)

    # -- internals --------------------------------------------------------------------
    def _attach(self, alias: str, path: Path, *, read_only: bool,
                kind_alias: str | None = None) -> None:
        uri = sqlite_uri(path, read_only=read_only,
                         immutable=read_only and is_unwritable(path))
        try:
            try:
                app_id, version = self._attach_uri(alias, uri)
            except apsw.ReadOnlyError as error:
                if not is_hot_journal_error(error):
                    raise
                if alias in {row[1] for row in self._conn.execute("PRAGMA database_list")}:
                    self._conn.execute("DETACH DATABASE " + alias)
                roll_back_hot_journal(path)
                app_id, version = self._attach_uri(alias, uri)
        except apsw.Error as error:
            raise DatabaseError(f"{path}: cannot be opened ({error})") from None
        self.attached[alias] = path
        self.uris[alias] = uri
        if self.legacy:
            return
        kind = kind_for(kind_alias or alias)
        if app_id != kind.application_id:
            raise DatabaseError(
                f"{path}: application_id {app_id:#x} is not that of a {alias} database"
            )
        if version > len(schema_steps(kind.alias)):
            raise DatabaseError(
                f"{path}: schema version {version} is newer than this vabatch knows"
            )

    def _attach_uri(self, alias: str, uri: str) -> tuple[int, int]:
        self._conn.execute("ATTACH DATABASE ? AS " + alias, (uri,))
        return read_header(self._conn, alias)

    def _attach_split(self) -> None:
        for alias in DATABASE_ORDER:
            path = self.video_dir / KINDS[alias].file_name
            if self.only is not None and alias not in self.only and alias != self.write:
                continue
            if alias == self.write and self.replace:
                self._attach_replacement(alias, path)
            elif alias == self.write:
                prepare_for_writing(path, alias)
                self._attach(alias, path, read_only=False)
                self._wal = wal_is_safe(self.video_dir)
                mode = "WAL" if self._wal else "DELETE"
                self._conn.execute(f"PRAGMA {alias}.journal_mode = {mode}")
                if self._wal:
                    self._conn.execute(f"PRAGMA {alias}.synchronous = NORMAL")
            elif path.exists():
                self._attach(alias, path, read_only=True)
            elif alias in self.require:
                raise MissingDatabaseError(
                    f"{path}: missing (run `vabatch {KINDS[alias].producer}` first)"
                )

    def _attach_replacement(self, alias: str, path: Path) -> None:
        remove_abandoned_temporaries(path.parent)
        if path.exists():
            self._attach("previous", path, read_only=True, kind_alias=alias)
        self._replacement = temporary_name(path)
        self._replacement.unlink(missing_ok=True)
        conn = open_connection(sqlite_uri(self._replacement, read_only=False) + "c")
        try:
            apply_schema(conn, alias)
        finally:
            conn.close()
        self._attach(alias, self._replacement, read_only=False)
        # Nobody else sees this file until it is renamed into place: no journal is needed
        # for readers, and a crash only leaves a temporary file behind.
        self._conn.execute(f"PRAGMA {alias}.journal_mode = DELETE")
        self._conn.execute(f"PRAGMA {alias}.synchronous = OFF")

    def _attach_legacy(self, path: Path) -> None:
        if self.write is not None:
            raise DatabaseError(
                f"{path}: a legacy monolithic database is read-only; "
                "run `vabatch migrate` first"
            )
        self.legacy = True
        for alias in DATABASE_ORDER:
            self._attach(alias, path, read_only=True)

    def _close(self, failed: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        replacement, self._replacement = self._replacement, None
        try:
            if failed and conn.in_transaction:
                conn.execute("ROLLBACK")
            if self.write in self.attached and self._wal and replacement is None:
                # Leave one self-contained file: fold the WAL in, then drop WAL mode.
                # Leaving WAL needs an exclusive lock, which SQLite does not wait for
                # through the busy handler: retry while readers finish their reads.
                _retry_while_busy(
                    lambda: conn.execute(f"PRAGMA {self.write}.wal_checkpoint(TRUNCATE)"
                                         ).fetchall(), self.busy_timeout_ms)
                _retry_while_busy(lambda: _leave_wal(conn, self.write), self.busy_timeout_ms)
        except BaseException:
            failed = True
            raise
        finally:
            conn.close()
            if replacement is not None:
                if failed:
                    replacement.unlink(missing_ok=True)
                else:
                    fsync_path(replacement)
                    os.replace(replacement, self.video_dir / kind_for(self.write).file_name)
                    fsync_path(self.video_dir)


def stale_sidecars(path: Path) -> list[Path]:
    """``-wal``/``-shm`` files next to a database whose header says rollback-journal mode.

    SQLite ignores them: in that mode it reads neither. They appear when a reader opened
    the file while a stage wrote in WAL mode and touched them after the stage switched back
    (a read-only connection cannot delete them). The database file alone is complete.
    """
    found = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")
             if path.with_name(path.name + suffix).exists()]
    if not found:
        return []
    try:
        with open(path, "rb") as stream:
            in_rollback_mode = stream.read(20)[18:20] == b"\x01\x01"
    except OSError:
        return []
    return found if in_rollback_mode else []


def _remove_stale_sidecars(path: Path) -> None:
    """Delete stale sidecars under an exclusive lock: in rollback mode that lock keeps every
    other connection out, so nobody can be switching the file to WAL meanwhile."""
    if not stale_sidecars(path):
        return
    conn = open_connection(sqlite_uri(path, read_only=False))
    try:
        conn.execute("BEGIN EXCLUSIVE")
        for sidecar in stale_sidecars(path):
            sidecar.unlink(missing_ok=True)
        conn.execute("COMMIT")
    finally:
        conn.close()


def is_hot_journal_error(error: apsw.Error) -> bool:
    """Whether a read-only open failed on a hot rollback journal: a writer was killed
    mid-commit, and SQLite will not let a read-only connection undo its half-done write."""
    return getattr(error, "extendedresult", None) == apsw.SQLITE_READONLY_ROLLBACK


def roll_back_hot_journal(path: Path) -> None:
    """Undo what a killed writer half-wrote into ``path``, as SQLite's next writer would.

    A hot journal is one that no live connection holds, so the rollback races nobody; it
    restores the last committed bytes, which is exactly what a reader is entitled to see.
    Raises apsw.Error when the file cannot be opened for writing.
    """
    conn = open_connection(sqlite_uri(path, read_only=False))
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()  # rolls back first
    finally:
        conn.close()


def _leave_wal(conn: apsw.Connection, alias: str) -> None:
    """Switch ``alias`` back to a rollback journal; BusyError while readers hold it.

    SQLite answers the pragma with the mode it ends up in rather than an error when other
    connections keep it from leaving WAL, so the answer is checked.
    """
    mode = conn.execute(f"PRAGMA {alias}.journal_mode = DELETE").fetchall()[0][0]
    if mode.lower() != "delete":
        raise apsw.BusyError(f"{alias} is still in {mode} mode: readers hold it")


def _retry_while_busy(action, timeout_ms: int):
    deadline = time.monotonic() + timeout_ms / 1000
    delay = 0.001
    while True:
        try:
            return action()
        except apsw.BusyError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _deny_writes_to_main(action, _param1, _param2, database, _trigger):
    if action in _WRITE_ACTIONS and database == "main":
        return apsw.SQLITE_DENY
    return apsw.SQLITE_OK
