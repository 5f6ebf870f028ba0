"""``VideoDatabase``: the one way code opens the databases of a video directory."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

import apsw

from vabatch.db.files import (
    fsync_file,
    is_shared_file,
    is_unwritable,
    remove_abandoned_temporaries,
    replace_with_private_copy,
    sqlite_uri,
    temporary_name,
    wal_is_safe,
)
from vabatch.db.schema import (
    KINDS,
    STAGE_ORDER,
    apply_schema,
    kind_for,
    read_header,
    schema_steps,
)
from vabatch.errors import DatabaseError, MissingDatabaseError

LEGACY_FILE = "captions.db"
DEFAULT_BUSY_TIMEOUT_MS = 60_000

# Which command writes each database: used in "run X first" messages.
PRODUCER = {
    "video": "ingest", "fullOCR": "ocr", "layout": "layout",
    "cropping": "crop", "captions": "captions",
}

_WRITE_ACTIONS = frozenset({
    apsw.SQLITE_INSERT, apsw.SQLITE_UPDATE, apsw.SQLITE_DELETE,
    apsw.SQLITE_CREATE_TABLE, apsw.SQLITE_CREATE_INDEX, apsw.SQLITE_CREATE_VIEW,
    apsw.SQLITE_CREATE_TRIGGER, apsw.SQLITE_CREATE_VTABLE, apsw.SQLITE_DROP_TABLE,
    apsw.SQLITE_DROP_INDEX, apsw.SQLITE_DROP_VIEW, apsw.SQLITE_DROP_TRIGGER,
    apsw.SQLITE_DROP_VTABLE, apsw.SQLITE_ALTER_TABLE,
})


def open_connection(uri: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> apsw.Connection:
    """An apsw connection to a URI, with a busy timeout (apsw has none by default)."""
    flags = apsw.SQLITE_OPEN_URI | (
        apsw.SQLITE_OPEN_READONLY if "mode=ro" in uri
        else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    )
    conn = apsw.Connection(uri, flags=flags)
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
    target = path if path.exists() else temporary_name(path)
    conn = open_connection(sqlite_uri(target, read_only=False) + "c")  # mode=rwc: create
    try:
        apply_schema(conn, alias)
    except apsw.Error as error:
        raise DatabaseError(f"{path}: cannot be opened for writing ({error})") from None
    finally:
        conn.close()
    if target != path:
        fsync_file(target)
        os.replace(target, path)


class VideoDatabase:
    """Opens every database of a video directory on one connection, under its alias.

    Everything is read-only, except the database named by ``write``, which is created if
    absent, upgraded to the current schema, and kept in WAL mode while open. On exit the
    written database is checkpointed and switched back to a rollback journal, so no
    sidecar file remains. ``require`` lists aliases that must be present.

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
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        self.video_dir = Path(video_dir)
        self.write = write
        self.require = tuple(require)
        self.busy_timeout_ms = busy_timeout_ms
        self.legacy = False
        self.attached: dict[str, Path] = {}
        self.uris: dict[str, str] = {}  # how each alias was attached
        self._conn: apsw.Connection | None = None
        self._wal = False
        if write is not None:
            kind_for(write)
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
            self._close()
            raise
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self._close(failed=exc_type is not None)

    # -- internals --------------------------------------------------------------------
    def _attach(self, alias: str, path: Path, *, read_only: bool) -> None:
        uri = sqlite_uri(path, read_only=read_only,
                         immutable=read_only and is_unwritable(path))
        try:
            self._conn.execute("ATTACH DATABASE ? AS " + alias, (uri,))
            app_id, version = read_header(self._conn, alias)
        except apsw.Error as error:
            raise DatabaseError(f"{path}: cannot be opened ({error})") from None
        self.attached[alias] = path
        self.uris[alias] = uri
        if self.legacy:
            return
        kind = kind_for(alias)
        if app_id != kind.application_id:
            raise DatabaseError(
                f"{path}: application_id {app_id:#x} is not that of a {alias} database"
            )
        if version > len(schema_steps(alias)):
            raise DatabaseError(
                f"{path}: schema version {version} is newer than this vabatch knows"
            )

    def _attach_split(self) -> None:
        for alias in STAGE_ORDER:
            path = self.video_dir / KINDS[alias].file_name
            if alias == self.write:
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
                    f"{path}: missing (run `vabatch {PRODUCER[alias]}` first)"
                )

    def _attach_legacy(self, path: Path) -> None:
        if self.write is not None:
            raise DatabaseError(
                f"{path}: a legacy monolithic database is read-only; "
                "run `vabatch migrate` first"
            )
        self.legacy = True
        for alias in STAGE_ORDER:
            self._attach(alias, path, read_only=True)

    def _close(self, failed: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if failed and conn.in_transaction:
                conn.execute("ROLLBACK")
            if self.write in self.attached and self._wal:
                # Leave one self-contained file: fold the WAL in, then drop WAL mode.
                # Leaving WAL needs an exclusive lock, which SQLite does not wait for
                # through the busy handler: retry while readers finish their reads.
                _retry_while_busy(
                    lambda: conn.execute(f"PRAGMA {self.write}.wal_checkpoint(TRUNCATE)"
                                         ).fetchall(), self.busy_timeout_ms)
                _retry_while_busy(lambda: _leave_wal(conn, self.write), self.busy_timeout_ms)
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
