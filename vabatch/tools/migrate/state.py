"""Where a migrated (or migrating) directory stands, and how one step on it is run.

The directory itself is the state machine: which of captions.db, captions.db.old, video.db,
the staging folder's manifest and the rollback journal exist says whether it is legacy,
migrated, killed after the commit point ('switching') or in the middle of a rollback.
``run_locked`` runs a migration or a rollback under an exclusive ``flock`` on the directory
and turns every expected failure into a result, never an exception.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import apsw

from vabatch.db.files import sqlite_uri
from vabatch.db.schema import KINDS
from vabatch.db.video_database import LEGACY_FILE, open_connection
from vabatch.errors import InputError, VabatchError
from vabatch.tools.migrate.legacy import OLD_FILE, is_split_captions
from vabatch.tools.migrate.proof import TableProof

STAGING_DIR = ".migrate.tmp"  # hidden, and *.tmp: ignored by git, DVC and stage discovery
MANIFEST = "manifest.json"  # in the staging folder: written last, before the commit point
ROLLBACK_JOURNAL = ".migrate-rollback.tmp"  # what an interrupted rollback still has to do
PAUSE_ENV = "VABATCH_TEST_MIGRATE_PAUSE_AT"  # tests: stop at a named step so they can kill
PAUSE_FILE_ENV = "VABATCH_TEST_MIGRATE_PAUSE_FILE"  # tests: touched when the pause begins

ProgressCallback = Callable[[str], None]  # the step a directory has reached


@dataclass
class MigrationResult:
    """What happened to one directory."""

    directory: str
    status: str  # migrated, resumed, unchanged, would migrate, rolled back, skipped, failed...
    legacy_bytes: int = 0
    seconds: float = 0.0
    source_status: str = ""
    created: list[str] = field(default_factory=list)  # files migrate added to the directory
    proofs: list[TableProof] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    video_id: str | None = None  # its id in the data root
    data_dir: str | None = None  # its directory in the data root (a copy of hard links)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict:
        data = asdict(self)
        data["proofs"] = [proof.to_json() for proof in self.proofs]
        return data | {"ok": self.ok}

    @classmethod
    def failed(cls, target: Path, error: str) -> MigrationResult:
        """The result of a directory whose task failed (its worker died, say)."""
        return cls(str(target), "failed", error=error)


# -- test hook: stop at a named step ------------------------------------------------------
def pause(step: str) -> None:
    """Sleep for ever at ``step`` when the test environment asks for it (kill tests)."""
    if os.environ.get(PAUSE_ENV) != step:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        Path(marker).write_text(step)
    while True:
        time.sleep(60)


# -- directory states and locking ---------------------------------------------------------
@contextlib.contextmanager
def directory_lock(directory: Path, shared: bool = False) -> Iterator[None]:
    """Hold flock on the directory itself: two migrations of one directory never overlap."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{directory}: another migrate is working on it") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def directory_state(directory: Path) -> str:
    """Where a directory stands.

    'rollback-interrupted', 'switching' (killed after the commit point), 'migrated',
    'legacy', 'conflict' (a legacy captions.db beside captions.db.old or video.db), 'split'
    (made by the stages, never legacy) or 'empty' (neither).
    """
    current = directory / LEGACY_FILE
    old = directory / OLD_FILE
    video = directory / KINDS["video"].file_name
    current_is_legacy = current.is_file() and not is_split_captions(current)
    if (directory / ROLLBACK_JOURNAL).exists():
        return "rollback-interrupted"
    if old.exists():
        if current_is_legacy:
            return "conflict"
        if (directory / STAGING_DIR / MANIFEST).exists():
            return "switching"
        return "migrated" if video.exists() else "conflict"
    if current_is_legacy:
        return "conflict" if video.exists() else "legacy"
    return "split" if video.exists() else "empty"


def read_manifest(directory: Path) -> dict:
    """The manifest a migration wrote into the staging folder before its commit point."""
    return json.loads((directory / STAGING_DIR / MANIFEST).read_text())


def migration_record(video_db: Path) -> dict | None:
    """The migration row of a migrated video.db (None where there is none)."""
    try:
        conn = open_connection(sqlite_uri(video_db, read_only=True))
    except apsw.Error:
        return None
    try:
        rows = conn.execute("SELECT legacy_size_bytes, legacy_mtime_ns, source_status,"
                            " installed_files, notes FROM migration").fetchall()
    except apsw.Error:
        return None
    finally:
        conn.close()
    if not rows:
        return None
    size, mtime_ns, source_status, installed, notes = rows[0]
    return {"legacy_size_bytes": size, "legacy_mtime_ns": mtime_ns,
            "source_status": source_status, "installed_files": json.loads(installed),
            "notes": json.loads(notes)}


def run_locked(directory: Path, dry_run: bool, progress: ProgressCallback | None,
               work: Callable[[ProgressCallback, MigrationResult], None]) -> MigrationResult:
    """Run ``work`` on a directory under its lock (shared for a dry run); failures come back
    in the result, with the time it took."""
    started = time.monotonic()
    result = MigrationResult(str(directory), "failed")
    report = progress or (lambda _step: None)
    try:
        if not directory.is_dir():
            raise InputError(f"{directory}: no such directory")
        with directory_lock(directory, shared=dry_run):
            work(report, result)
    except VabatchError as error:
        result.status, result.error = "failed", str(error)
    except apsw.Error as error:
        result.status = "failed"
        result.error = f"{directory}: database error ({type(error).__name__}: {error})"
    except OSError as error:
        where = f"{error.filename}: " if error.filename else f"{directory}: "
        result.status, result.error = "failed", f"{where}{error.strerror or error}"
    result.seconds = round(time.monotonic() - started, 3)
    return result
