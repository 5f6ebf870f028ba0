"""``vabatch migrate``: a legacy monolithic captions.db becomes the split databases, with proof.

One directory at a time, holding an exclusive ``flock`` on the directory:

0. *Check*: ``PRAGMA integrity_check`` of the legacy file; damage stops it, nothing changed.
1. *Build*: every new database is written in the staging folder ``.migrate.tmp/`` of the
   directory, by ``INSERT ... SELECT`` from the legacy file attached read-only (blobs never
   pass through Python): video.db in the calling thread while its pages are sent to disk,
   the small databases in a second thread, while a third hashes the legacy tables.
2. *Prove*: the rows each legacy table became are read back from the new files, mapped back
   to legacy form, and hashed the same way (row count + canonical XXH3-128, proof version 2,
   in primary-key order). Any difference stops the migration; nothing in the directory has
   changed.
3. *Commit*: the files are fsynced, a manifest is written into the staging folder, and the
   legacy ``captions.db`` is renamed to ``captions.db.old``: that rename is the commit point.
4. *Install*: the staged files are renamed into the directory, ``video.db`` last, and the
   staging folder is removed.

A run killed before the commit point leaves the legacy state (plus a staging folder the next
run deletes); killed after it, the next run finds the manifest and finishes the install.
``--rollback`` refuses when the split databases changed since the migration (unless
``force``), then writes a small journal, removes what migrate added and renames
``captions.db.old`` back. Nothing is ever unpickled or evaluated: a legacy model is bytes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import apsw
import xxhash

from vabatch import __version__
from vabatch.db.files import sidecars, sqlite_uri
from vabatch.db.schema import DATABASE_ORDER, KINDS, apply_schema
from vabatch.db.video_database import LEGACY_FILE, open_connection
from vabatch.errors import InputError, VabatchError
from vabatch.fsutil import atomic_write, fsync_path, is_unwritable, link_or_copy

OLD_FILE = "captions.db.old"  # the legacy file, kept unmodified after migration
STAGING_DIR = ".migrate.tmp"  # hidden, and *.tmp: ignored by git, DVC and stage discovery
MANIFEST = "manifest.json"  # in the staging folder: written last, before the commit point
ROLLBACK_JOURNAL = ".migrate-rollback.tmp"  # what an interrupted rollback still has to do
PAUSE_ENV = "VABATCH_TEST_MIGRATE_PAUSE_AT"  # tests: stop at a named step so they can kill
PAUSE_FILE_ENV = "VABATCH_TEST_MIGRATE_PAUSE_FILE"  # tests: touched when the pause begins

SQLITE_MAGIC = b"SQLite format 3\x00"
BUILD_CACHE_KIB = 8 * 1024  # measured: a small cache copies blobs faster than a big one
BLOB_ALIASES = ("video", "cropping")  # databases of image blobs
BLOB_PAGE_SIZE = 16384  # measured on 100 KB frames: copy CPU 0.26 s vs 0.40 s with 4 KiB
WRITEBACK_SECONDS = 0.05  # while video.db is written, its dirty pages go to disk this often
LEGACY_MMAP_BYTES = 1 << 31  # SQLite caps mmap at 2 GB by default; reads then skip read()
MAX_EXAMPLES = 5
FILE_PROOF_PREFIX = "file:"  # video.db migration_proof rows fingerprinting the other files
UNKNOWN_HASH = "unknown"  # content_sha256 when neither the video nor a SHA-256 is known

ProgressCallback = Callable[[str], None]  # the step a directory has reached


# -- the legacy format and where each table goes ------------------------------------------
@dataclass(frozen=True)
class LegacyTable:
    """One table of the legacy format, its new home, and how its rows come back."""

    name: str
    columns: tuple[str, ...]  # in the legacy schema's order
    key: str  # primary key: the order in which rows are hashed
    required: tuple[str, ...]  # columns without which the table cannot be migrated
    alias: str  # the new database
    new_table: str
    mapped_back: str  # SELECT over the new files giving legacy rows in key order


def _unmask(bit: int, column: str) -> str:
    return f"CASE WHEN legacy_nulls & {bit} THEN NULL ELSE {column} END"


LEGACY_TABLES: tuple[LegacyTable, ...] = (
    LegacyTable(
        "video_metadata",
        ("id", "video_path", "video_hash", "width", "height", "fps", "total_frames",
         "duration_seconds", "created_at"),
        "id", ("id", "video_path"), "video", "video_metadata",
        "SELECT legacy_id, legacy_video_path, legacy_video_hash, legacy_width, legacy_height,"
        " fps, legacy_total_frames, legacy_duration_seconds, legacy_created_at"
        " FROM video.video_metadata WHERE legacy_id IS NOT NULL ORDER BY legacy_id",
    ),
    LegacyTable(
        "full_frames",
        ("frame_index", "timestamp_seconds", "image_data", "width", "height", "created_at"),
        "frame_index", ("frame_index", "timestamp_seconds", "image_data"), "video",
        "full_frames",
        "SELECT frame_index, legacy_timestamp_seconds, image_data, legacy_width, legacy_height,"
        " legacy_created_at FROM video.full_frames"
        " WHERE legacy_timestamp_seconds IS NOT NULL ORDER BY frame_index",
    ),
    LegacyTable(
        "full_frame_ocr",
        ("id", "frame_index", "box_index", "text", "confidence", "x", "y", "width", "height"),
        "id", ("id", "frame_index", "box_index"), "fullOCR", "full_frame_ocr",
        "SELECT legacy_id, frame_index, box_index, " + _unmask(1, "text") + ", confidence, "
        + ", ".join(_unmask(1 << n, c) for n, c in enumerate(("x", "y", "width", "height"), 1))
        + " FROM fullOCR.full_frame_ocr WHERE legacy_id IS NOT NULL ORDER BY legacy_id",
    ),
    LegacyTable(
        "full_frame_box_labels",
        ("id", "frame_index", "box_index", "label", "label_source", "created_at"),
        "id", ("id", "frame_index", "box_index", "label"), "layout", "full_frame_box_labels",
        "SELECT legacy_id, frame_index, box_index, label,"
        " CASE WHEN legacy_nulls & 1 THEN NULL ELSE coalesce(legacy_label_source, label_source)"
        " END, created_at FROM layout.full_frame_box_labels WHERE legacy_id IS NOT NULL"
        " ORDER BY legacy_id",
    ),
    LegacyTable(
        "box_classification_model",
        ("id", "model_version", "model_data", "trained_at", "n_training_samples", "accuracy"),
        "id", ("id",), "layout", "box_classification_model",
        "SELECT id, model_version, model_data, trained_at, n_training_samples, accuracy"
        " FROM layout.box_classification_model WHERE model_format LIKE 'legacy-%' ORDER BY id",
    ),
    LegacyTable(
        "video_layout_config",
        ("id", "crop_left", "crop_top", "crop_right", "crop_bottom", "anchor_type",
         "updated_at"),
        "id", ("id",), "layout", "video_layout_config",
        "SELECT id, " + ", ".join(_unmask(1 << n, c) for n, c in enumerate(
            ("crop_left", "crop_top", "crop_right", "crop_bottom")))
        + ", anchor_type, updated_at FROM layout.video_layout_config"
        " WHERE method = 'legacy' ORDER BY id",
    ),
    LegacyTable(
        "cropped_frames",
        ("frame_index", "image_data", "crop_left", "crop_top", "crop_right", "crop_bottom",
         "created_at"),
        "frame_index", ("frame_index", "image_data"), "cropping", "cropped_frames",
        "SELECT frame_index, image_data, " + ", ".join(_unmask(1 << n, c) for n, c in enumerate(
            ("crop_left", "crop_top", "crop_right", "crop_bottom")))
        + ", legacy_created_at FROM cropping.cropped_frames WHERE legacy_nulls IS NOT NULL"
        " ORDER BY frame_index",
    ),
    LegacyTable(
        "captions",
        ("id", "start_frame_index", "end_frame_index", "text", "boundary_state",
         "text_pending", "created_at", "updated_at"),
        "id", ("id", "start_frame_index", "end_frame_index"), "captions", "captions",
        # Every caption row: edits after migration are exactly what a comparison should show.
        "SELECT id, start_frame_index, end_frame_index, text, boundary_state, text_pending,"
        " created_at, updated_at FROM captions.captions ORDER BY id",
    ),
)
LEGACY_BY_NAME = {table.name: table for table in LEGACY_TABLES}
# Install order: video.db last, so a reader sees the split layout only once it is whole.
INSTALL_ORDER = ("fullOCR", "layout", "cropping", "captions", "video")


# -- results ------------------------------------------------------------------------------
@dataclass
class TableProof:
    """Row count and canonical hash of one legacy table and of the rows it became."""

    legacy_table: str
    new_table: str
    legacy_rows: int | None  # None: the legacy file has no such table
    legacy_sha256: str | None
    new_rows: int
    new_sha256: str

    # legacy_sha256/new_sha256 keep their names (database columns, JSON keys) but hold the
    # table hash of the proof version used: bare hex for SHA-256 (v1), "xxh3_128:..." (v2).

    @property
    def version(self) -> int:
        stored = self.new_sha256 or self.legacy_sha256
        return proof_version(stored) if stored else CURRENT_PROOF  # a dry run hashes nothing

    @property
    def ok(self) -> bool:
        expected = self.legacy_sha256 or empty_table_hash(self.legacy_table, self.version)
        return (self.legacy_rows or 0) == self.new_rows and expected == self.new_sha256

    def to_json(self) -> dict:
        return asdict(self) | {"ok": self.ok, "algorithm": PROOF_ALGORITHMS[self.version]}


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

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict:
        data = asdict(self)
        data["proofs"] = [proof.to_json() for proof in self.proofs]
        return data | {"ok": self.ok}


class MigrationError(VabatchError):
    """The legacy data cannot be migrated as it is, or the proof failed."""


# -- canonical hashing --------------------------------------------------------------------
# Version 1 (SHA-256 of per-row SHA-256 digests) is what the first migrations stored: bare
# 64-hex strings. Version 2 (the current one) streams every row's encoding into one XXH3-128
# and is stored as "xxh3_128:" + 32 hex. Each stored hash names its version by its form, so
# `verify --against-legacy` recomputes old proofs the old way and new ones the new way.
PROOF_V1, PROOF_V2 = 1, 2
CURRENT_PROOF = PROOF_V2
PROOF_HEADERS = {PROOF_V1: b"vabatch-migrate-proof/1", PROOF_V2: b"vabatch-migrate-proof/2"}
V2_PREFIX = "xxh3_128:"
PROOF_ALGORITHMS = {PROOF_V1: "sha256", PROOF_V2: "xxh3_128"}
_DOUBLE = struct.Struct(">d")
_NONE = type(None)


def proof_version(stored: str | None) -> int:
    """The proof format a stored table hash was made with (its form tells)."""
    return PROOF_V2 if stored and stored.startswith(V2_PREFIX) else PROOF_V1


def _encode_int(value: int) -> bytes:
    return b"I" + value.to_bytes(8, "big", signed=True)


def _encode_float(value: float) -> bytes:
    return b"R" + _DOUBLE.pack(value)


def _encode_text(value: str) -> bytes:
    data = value.encode("utf-8")
    return b"T" + len(data).to_bytes(8, "big") + data


def _encode_blob(value: bytes) -> bytes:
    return b"B" + len(value).to_bytes(8, "big") + value


_ENCODERS = {_NONE: lambda _value: b"N", int: _encode_int, float: _encode_float,
             str: _encode_text, bytes: _encode_blob}


def row_digest(row: Iterable) -> bytes:
    """Version 1: SHA-256 of one row's canonical encoding (see docs/migrate.md).

    Each value is a type tag and its bytes: ``N``; ``I`` + 8-byte big-endian signed integer;
    ``R`` + 8-byte IEEE-754 double; ``T``/``B`` + 8-byte length + UTF-8 text / blob bytes.
    Tags and lengths make the encoding unambiguous, so equal digests mean equal rows.
    """
    return hashlib.sha256(b"".join([_ENCODERS[type(value)](value) for value in row])).digest()


# Version 2 row encoding: the tags of all values first, then the fixed-size fields of the
# non-NULL values (integer, double, or the byte length of a text/blob) as one struct, then
# the text (UTF-8) and blob bytes in column order. The column count is known, so the tags
# say what follows and the lengths where each payload ends: rows concatenate unambiguously.
_V2_TYPES = {_NONE: (b"N", ""), int: (b"I", "q"), float: (b"R", "d"), str: (b"T", "Q"),
             bytes: (b"B", "Q")}
_V2_PLANS: dict[tuple, tuple] = {}
_STREAM_PAYLOAD = 1 << 16  # payloads this large are fed to the hash as they are, not copied
_BATCH_PIECES = 2000  # small pieces joined per hash update


def _v2_plan(types: tuple) -> tuple:
    tags = b"".join(_V2_TYPES[kind][0] for kind in types)
    fixed = struct.Struct(">" + "".join(_V2_TYPES[kind][1] for kind in types))
    present = tuple(n for n, kind in enumerate(types) if kind is not _NONE)
    variable = tuple(n for n, kind in enumerate(types) if kind is str or kind is bytes)
    plan = _V2_PLANS[types] = (tags, fixed, present, variable)
    return plan


def encode_row_v2(row) -> list[bytes]:
    """Version 2: one row's encoding, in pieces whose concatenation is the encoding."""
    types = tuple(map(type, row))
    tags, fixed, present, variable = _V2_PLANS.get(types) or _v2_plan(types)
    if not variable:
        return [tags + fixed.pack(*[row[n] for n in present])]
    values = list(row)
    payloads = []
    for n in variable:
        value = values[n]
        if type(value) is str:
            value = value.encode("utf-8", "surrogatepass")
        payloads.append(value)
        values[n] = len(value)
    return [tags + fixed.pack(*[values[n] for n in present]), *payloads]


class TableHasher:
    """Canonical hash of a table: a header, then its rows in key order (see docs/migrate.md)."""

    def __init__(self, table: str, version: int = CURRENT_PROOF) -> None:
        columns = LEGACY_BY_NAME[table].columns
        header = (PROOF_HEADERS[version] + b"\n" + table.encode() + b"\n"
                  + ",".join(columns).encode() + b"\n")
        self.version = version
        self.rows = 0
        self._pending: list[bytes] = []
        if version == PROOF_V1:
            self._digest = hashlib.sha256(header)
            self.add = self._add_v1
        else:
            self._digest = xxhash.xxh3_128(header)
            self.add = self._add_v2

    def _add_v1(self, row) -> None:
        self._digest.update(row_digest(row))
        self.rows += 1

    def _add_v2(self, row) -> None:
        # Small rows are gathered and hashed a batch at a time (one call per ~1000 rows,
        # same bytes in the same order); a frame's bytes are hashed where they are, uncopied.
        pieces = encode_row_v2(row)
        if len(pieces) > 1 and max(map(len, pieces)) >= _STREAM_PAYLOAD:
            self._flush()
            for piece in pieces:
                self._digest.update(piece)
        else:
            self._pending.extend(pieces)
            if len(self._pending) >= _BATCH_PIECES:
                self._flush()
        self.rows += 1

    def _flush(self) -> None:
        if self._pending:
            self._digest.update(b"".join(self._pending))
            self._pending.clear()

    def hexdigest(self) -> str:
        if self.version == PROOF_V1:
            return self._digest.hexdigest()
        self._flush()
        return V2_PREFIX + self._digest.hexdigest()


def empty_table_hash(table: str, version: int = CURRENT_PROOF) -> str:
    """The canonical hash of a table with no rows."""
    return TableHasher(table, version).hexdigest()


# -- test hook: stop at a named step ------------------------------------------------------
def _pause(step: str) -> None:
    """Sleep for ever at ``step`` when the test environment asks for it (kill tests)."""
    if os.environ.get(PAUSE_ENV) != step:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        Path(marker).write_text(step)
    while True:
        time.sleep(60)


# -- inspecting files ---------------------------------------------------------------------
def _read_header(path: Path) -> bytes:
    with open(path, "rb") as stream:
        return stream.read(100)


def _is_split_captions(path: Path) -> bool:
    """True when ``path`` carries the application_id of a new captions.db."""
    try:
        header = _read_header(path)
    except OSError:
        return False
    return (header.startswith(SQLITE_MAGIC) and len(header) >= 72
            and int.from_bytes(header[68:72], "big") == KINDS["captions"].application_id)


@dataclass
class LegacyFile:
    """An opened legacy captions.db: which tables and columns it has, and their sizes."""

    path: Path
    conn: apsw.Connection
    uri: str
    columns: dict[str, list[str]]  # legacy table -> columns present
    rows: dict[str, int]
    unknown_tables: dict[str, int]

    def has(self, table: str) -> bool:
        return table in self.columns

    def select(self, table: str, schema: str) -> str:
        """``SELECT`` of the legacy columns (NULL for ones this file lacks) in legacy order."""
        present = self.columns[table]
        parts = [f'"{c}"' if c in present else f'NULL AS "{c}"'
                 for c in LEGACY_BY_NAME[table].columns]
        return f"SELECT {', '.join(parts)} FROM {schema}.\"{table}\""

    def close(self) -> None:
        self.conn.close()


def legacy_uri(path: Path) -> str:
    """Read-only URI for a legacy file; ``immutable`` when it is in WAL mode.

    A WAL-mode file opened read-only would make SQLite create -wal/-shm files next to it.
    ``open_legacy`` refuses files that have sidecars, so a WAL-mode file without them is
    complete in itself, and migrate holds the directory lock: immutable is then correct.
    """
    header = _read_header(path)
    wal_mode = len(header) >= 20 and header[18] == 2 and header[19] == 2
    unwritable = not (path.stat().st_mode & 0o222)
    return sqlite_uri(path, read_only=True, immutable=wal_mode or unwritable)


def _read_ahead(path: Path) -> None:
    """Ask the kernel to start reading the whole file now, in large requests: the integrity
    check and the copy then find it in the page cache instead of faulting it in page by
    page through the memory map (a collection larger than memory is read cold)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # the open below reports it
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except (OSError, AttributeError):
        pass  # advice only; not every system takes it
    finally:
        os.close(fd)


def open_legacy(path: Path) -> LegacyFile:
    """Open and describe a legacy file; one clear error when it is not a usable one."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    stray = sidecars(path)
    if stray:
        raise MigrationError(
            f"{path}: has {', '.join(s.name for s in stray)}: the old tool did not close it "
            "cleanly; open it once with that tool (or sqlite3) so SQLite folds it in, then retry")
    header = _read_header(path)
    if not header.startswith(SQLITE_MAGIC):
        raise MigrationError(f"{path}: not a SQLite database (damaged or another kind of file)")
    _read_ahead(path)
    uri = legacy_uri(path)
    conn = open_connection(uri)
    try:
        conn.execute(f"PRAGMA mmap_size = {LEGACY_MMAP_BYTES}")
        # Every page, b-tree and index, before anything is built: a damaged legacy file is
        # refused with one line, never half-copied. (Measured: 0.05 s CPU for 609 MB.)
        problems = [row[0] for row in conn.execute(
            f"PRAGMA integrity_check({MAX_EXAMPLES})")]
        if problems != ["ok"]:
            raise MigrationError(f"{path}: damaged legacy database (integrity_check: "
                                 f"{'; '.join(problems)}); nothing was changed")
        app_id = conn.execute("PRAGMA application_id").fetchall()[0][0]
        if app_id != 0:
            raise MigrationError(f"{path}: not a legacy file (application_id {app_id:#x})")
        names = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        if "full_frames" not in names:
            raise MigrationError(f"{path}: not a legacy vabatch file (no full_frames table)")
        columns: dict[str, list[str]] = {}
        rows: dict[str, int] = {}
        unknown: dict[str, int] = {}
        for name in names:
            count = conn.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
            if name not in LEGACY_BY_NAME:
                if not name.startswith("sqlite_"):
                    unknown[name] = count
                continue
            spec = LEGACY_BY_NAME[name]
            present = [row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')]
            extra = [c for c in present if c not in spec.columns]
            if extra:
                raise MigrationError(
                    f"{path}: table {name} has columns this migration does not know "
                    f"({', '.join(extra)}); nothing was changed")
            lacking = [c for c in spec.required if c not in present]
            if lacking:
                raise MigrationError(
                    f"{path}: table {name} lacks required columns ({', '.join(lacking)})")
            columns[name], rows[name] = present, count
        return LegacyFile(path, conn, uri, columns, rows, unknown)
    except apsw.Error as error:
        conn.close()
        raise MigrationError(f"{path}: damaged or unreadable legacy database ({error})") from None
    except BaseException:
        conn.close()
        raise


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG or PNG header, without decoding pixels; None if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                      0xCF) and position + 9 <= len(data):
            height = int.from_bytes(data[position + 5:position + 7], "big")
            width = int.from_bytes(data[position + 7:position + 9], "big")
            return width, height
        position += 2 + length
    return None


def image_format_of(data: bytes) -> str | None:
    """'jpeg' or 'png' from the magic bytes; None for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def _examples(values: list) -> str:
    shown = ", ".join(str(v) for v in values[:MAX_EXAMPLES])
    return shown + (f", ... ({len(values)} in all)" if len(values) > MAX_EXAMPLES else "")


class Background:
    """Run a function in a thread; ``result()`` joins and re-raises its exception."""

    def __init__(self, function: Callable, *args) -> None:
        self._value = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, *args), daemon=True)
        self._thread.start()

    def _run(self, function: Callable, *args) -> None:
        try:
            self._value = function(*args)
        except BaseException as error:  # handed to the caller in result()
            self._error = error

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def join(self) -> None:
        self._thread.join()

    @staticmethod
    @contextlib.contextmanager
    def group() -> Iterator[_ThreadGroup]:
        """Threads started in the block are all joined when it ends, even on an error, so
        no thread still writes into the staging folder while it is being removed."""
        threads = _ThreadGroup()
        try:
            yield threads
        finally:
            for thread in threads.started:
                thread.join()


class _ThreadGroup:
    def __init__(self) -> None:
        self.started: list[Background] = []

    def start(self, function: Callable, *args) -> Background:
        thread = Background(function, *args)
        self.started.append(thread)
        return thread


def _sync_file_range() -> Callable | None:
    """Linux's sync_file_range(2), or None where there is none."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    return function


class Writeback:
    """While a big file is written, start writing its dirty pages to disk every few
    milliseconds (SYNC_FILE_RANGE_WRITE: starts the I/O, waits for nothing). The kernel would
    otherwise hold them until the final fsync, which then waits for all of them at once;
    this way the disk works while the CPU copies. Where the call is missing: no effect."""

    WRITE = 2  # SYNC_FILE_RANGE_WRITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Writeback:
        function = _sync_file_range()
        if function is not None:
            self._thread = threading.Thread(target=self._run, args=(function,), daemon=True)
            self._thread.start()
        return self

    def _run(self, function: Callable) -> None:
        fd = None
        while not self._stop.wait(WRITEBACK_SECONDS):
            try:
                if fd is None:
                    fd = os.open(self.path, os.O_RDONLY)
                function(fd, 0, 0, self.WRITE)
            except OSError:
                continue  # not created yet
        if fd is not None:
            os.close(fd)

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# -- the legacy side of the proof ---------------------------------------------------------
@dataclass
class ImageFindings:
    """What the legacy hash pass saw in image blobs, for the build to fix up afterwards."""

    formats: dict[int, str] = field(default_factory=dict)  # frame_index -> non-default format
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)  # where legacy had NULL
    unreadable: list[int] = field(default_factory=list)  # neither JPEG nor PNG
    first_size: tuple[int, int] | None = None


def hash_legacy(legacy_uri_text: str, legacy: LegacyFile, findings: dict[str, ImageFindings],
                version: int = CURRENT_PROOF) -> dict[str, tuple[int, str] | None]:
    """Row count and canonical hash of every legacy table (None where the table is absent).

    Uses its own connection, so it can run in a thread beside the build. It also looks at
    each image blob once (format, size from the header where the legacy row has none).
    """
    conn = open_connection(legacy_uri_text)
    try:
        conn.execute(f"PRAGMA mmap_size = {LEGACY_MMAP_BYTES}")
        results: dict[str, tuple[int, str] | None] = {}
        for spec in LEGACY_TABLES:
            if not legacy.has(spec.name):
                results[spec.name] = None
                continue
            hasher = TableHasher(spec.name, version)
            sql = legacy.select(spec.name, "main") + f' ORDER BY "{spec.key}"'
            if spec.name in ("full_frames", "cropped_frames"):
                found = findings[spec.name] = ImageFindings()
                default = "jpeg" if spec.name == "full_frames" else "png"
                columns = spec.columns
                at_image = columns.index("image_data")
                at_width = columns.index("width") if "width" in columns else None
                at_height = columns.index("height") if "height" in columns else None
                for row in conn.execute(sql):
                    hasher.add(row)
                    frame_index, data = row[0], row[at_image]
                    blob = data if isinstance(data, bytes) else b""
                    kind = image_format_of(blob)
                    if kind is None:
                        found.unreadable.append(frame_index)
                    elif kind != default:
                        found.formats[frame_index] = kind
                    needs_size = at_width is not None and (
                        row[at_width] is None or row[at_height] is None)
                    if needs_size or found.first_size is None:
                        size = image_size(blob)
                        if found.first_size is None and size:
                            found.first_size = size
                        if needs_size and size:
                            found.sizes[frame_index] = size
            else:
                for row in conn.execute(sql):
                    hasher.add(row)
            results[spec.name] = (hasher.rows, hasher.hexdigest())
        return results
    finally:
        conn.close()


def hash_migrated(files: dict[str, Path], aliases: Iterable[str] | None = None,
                  version: int = CURRENT_PROOF) -> dict[str, tuple[int, str]]:
    """Row count and canonical hash of the rows each legacy table became, mapped back.

    ``files`` maps aliases to new database files; a table whose database is absent counts
    as empty. ``aliases``: only the legacy tables that went to these databases (default all).
    """
    wanted = [spec for spec in LEGACY_TABLES if aliases is None or spec.alias in aliases]
    conn = open_connection("file::memory:?mode=memory")
    try:
        for alias, path in files.items():
            conn.execute(f"ATTACH DATABASE ? AS {alias}",
                         (sqlite_uri(path, read_only=True, immutable=is_unwritable(path)),))
            conn.execute(f"PRAGMA {alias}.mmap_size = {LEGACY_MMAP_BYTES}")
        results = {}
        for spec in wanted:
            hasher = TableHasher(spec.name, version)
            if spec.alias in files:
                for row in conn.execute(spec.mapped_back):
                    hasher.add(row)
            results[spec.name] = (hasher.rows, hasher.hexdigest())
        return results
    finally:
        conn.close()


# -- finding the source video -------------------------------------------------------------
_HASH_KINDS = {64: "sha256", 40: "sha1", 32: "md5"}


@dataclass
class VideoFinding:
    """Where the source video is, as far as migration could tell."""

    status: str  # one line for the user and for the migration record
    path: Path | None = None
    sha256: str | None = None
    size_bytes: int | None = None


def _digests(path: Path, kinds: set[str]) -> dict[str, str]:
    hashers = {kind: hashlib.new(kind) for kind in kinds}
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {kind: hasher.hexdigest() for kind, hasher in hashers.items()}


def find_video(directory: Path, video_path: str | None, video_hash: str | None) -> VideoFinding:
    """Look for the recorded video: as an absolute path, relative to the directory, by name.

    A file counts only when its bytes match the recorded hash (SHA-256, SHA-1 or MD5, by
    length); with no usable recorded hash nothing is linked, because an unchecked file may
    be another video of the same name.
    """
    if not video_path:
        return VideoFinding("no video path recorded")
    recorded = Path(video_path)
    candidates = []
    if recorded.is_absolute():
        candidates.append((recorded, "at its recorded absolute path"))
    else:
        candidates.append((directory / recorded, "at its recorded path, relative to the "
                           "directory"))
    candidates.append((directory / recorded.name, "by name in the directory"))
    text = (video_hash or "").strip().lower()
    kind = _HASH_KINDS.get(len(text)) if re.fullmatch(r"[0-9a-f]+", text or "x") else None
    seen: set[Path] = set()
    mismatch = []
    for candidate, how in candidates:
        try:
            if not candidate.is_file():
                continue
            resolved = candidate.resolve()
        except OSError:
            continue
        if resolved in seen:
            continue
        seen.add(resolved)
        if kind is None:
            return VideoFinding(f"video found {how}, but the recorded hash "
                                f"({video_hash or 'none'}) cannot check it: not linked")
        digests = _digests(candidate, {kind, "sha256"})
        if digests[kind] == text:
            return VideoFinding(f"found {how}, {kind} matches", candidate, digests["sha256"],
                                candidate.stat().st_size)
        mismatch.append(how)
    if mismatch:
        return VideoFinding(f"a file {' and '.join(mismatch)} has another {kind} than recorded: "
                            "not linked")
    return VideoFinding(f"video {recorded.name} not found: metadata carried over, no source "
                        "file")


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
    current_is_legacy = current.is_file() and not _is_split_captions(current)
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


# -- building the new databases -----------------------------------------------------------
def _frame_time_sql(frame: str) -> str:
    """Milliseconds of ``frame``: its sampled frame's timestamp, else frame / fps."""
    return (f"coalesce((SELECT CAST(round(f.timestamp_seconds * 1000) AS INTEGER)"
            f" FROM legacy.full_frames f WHERE f.frame_index = {frame}),"
            f" CAST(round({frame} * 1000.0 / :fps) AS INTEGER))")


def _null_mask(columns: Iterable[str]) -> str:
    return " | ".join(f'(("{c}" IS NULL) << {n})' for n, c in enumerate(columns))


class Builder:
    """Writes the new databases of one directory into its staging folder."""

    def __init__(self, legacy: LegacyFile, staging: Path, video: VideoFinding,
                 stored_name: str | None, legacy_stat: os.stat_result) -> None:
        self.legacy = legacy
        self.staging = staging
        self.video = video
        self.stored_name = stored_name
        self.legacy_stat = legacy_stat
        self.notes: list[str] = []
        self.fps = None
        self.metadata = None
        if legacy.rows.get("video_metadata"):
            row = legacy.conn.execute(legacy.select("video_metadata", "main")).fetchall()[0]
            self.metadata = dict(zip(LEGACY_BY_NAME["video_metadata"].columns, row, strict=True))
            fps = self.metadata["fps"]
            self.fps = fps if isinstance(fps, (int, float)) and fps > 0 else None

    def aliases(self) -> list[str]:
        """The databases this legacy file yields: video always, others when they get rows."""
        wanted = ["video"]
        for alias in DATABASE_ORDER[1:]:
            if any(self.legacy.rows.get(spec.name) for spec in LEGACY_TABLES
                   if spec.alias == alias):
                wanted.append(alias)
        return wanted

    def path(self, alias: str) -> Path:
        return self.staging / KINDS[alias].file_name

    def _open(self, alias: str) -> apsw.Connection:
        path = self.path(alias)
        conn = open_connection(sqlite_uri(path, read_only=False) + "c")
        if alias in BLOB_ALIASES:  # fewer, larger pages: a frame spans 7 pages, not 25
            conn.execute(f"PRAGMA page_size = {BLOB_PAGE_SIZE}")
        apply_schema(conn, alias)
        # A staging file is renamed into place only once whole and proven: no journal needed.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(f"PRAGMA cache_size = -{BUILD_CACHE_KIB}")
        conn.execute("ATTACH DATABASE ? AS legacy", (self.legacy.uri,))
        conn.execute(f"PRAGMA legacy.mmap_size = {LEGACY_MMAP_BYTES}")
        return conn

    def _source(self, table: str) -> str:
        return f"({self.legacy.select(table, 'legacy')})"

    def build(self, alias: str) -> None:
        """Write one database (its tables, not yet the proof)."""
        conn = self._open(alias)
        try:
            with conn:
                getattr(self, f"_build_{alias}")(conn)
        finally:
            conn.close()

    def _build_video(self, conn: apsw.Connection) -> None:
        conn.execute(
            "INSERT INTO main.full_frames (frame_index, timestamp_ms, image_data, image_format,"
            " width, height, legacy_timestamp_seconds, legacy_width, legacy_height,"
            " legacy_created_at) SELECT frame_index,"
            " CAST(round(timestamp_seconds * 1000) AS INTEGER), image_data, 'jpeg',"
            " coalesce(width, 0), coalesce(height, 0), timestamp_seconds, width, height,"
            f" created_at FROM {self._source('full_frames')} ORDER BY frame_index")
        legacy = self.metadata or {}
        frame_count = legacy.get("total_frames")
        if not isinstance(frame_count, int):
            frame_count = conn.execute(
                "SELECT coalesce(max(frame_index) + 1, 0) FROM main.full_frames"
            ).fetchall()[0][0]
        duration = legacy.get("duration_seconds")
        duration_ms = round(duration * 1000) if isinstance(duration, (int, float)) else None
        recorded_hash = str(legacy.get("video_hash") or "").strip().lower()
        if self.video.sha256:
            content_sha256 = self.video.sha256
        elif re.fullmatch(r"[0-9a-f]{64}", recorded_hash):
            content_sha256 = recorded_hash
        else:
            content_sha256 = UNKNOWN_HASH
        created_at = legacy.get("created_at")
        ingested_at = created_at if isinstance(created_at, str) and created_at else (
            datetime.fromtimestamp(self.legacy_stat.st_mtime, timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%SZ"))
        video_path = legacy.get("video_path")
        source_name = Path(str(video_path)).name if video_path else "unknown"
        conn.execute(
            "INSERT INTO main.video_metadata (id, source_name, source_file, content_sha256,"
            " size_bytes, width, height, fps, frame_count, duration_ms, codec, sampling_mode,"
            " sampling_value, image_format, image_quality, tool_version, ingested_at,"
            " legacy_id, legacy_video_path, legacy_video_hash, legacy_width, legacy_height,"
            " legacy_total_frames, legacy_duration_seconds, legacy_created_at)"
            " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 'legacy', NULL, 'jpeg', NULL, ?, ?,"
            " ?, ?, ?, ?, ?, ?, ?, ?)",
            (source_name, self.stored_name, content_sha256, self.video.size_bytes,
             legacy.get("width") if isinstance(legacy.get("width"), int) else 0,
             legacy.get("height") if isinstance(legacy.get("height"), int) else 0,
             legacy.get("fps"), frame_count, duration_ms,
             f"vabatch {__version__} (migrated)", ingested_at,
             legacy.get("id"), video_path, legacy.get("video_hash"), legacy.get("width"),
             legacy.get("height"), legacy.get("total_frames"), duration, created_at))
        if self.metadata is None:
            self.notes.append("the legacy video_metadata table is empty: a placeholder row "
                              "was written (source name 'unknown')")

    def _build_fullOCR(self, conn: apsw.Connection) -> None:  # noqa: N802 (alias name)
        conn.execute(
            "INSERT INTO main.ocr_run (id, engine, engine_version, parameters)"
            " VALUES (1, 'legacy', 'unknown', ?)",
            (json.dumps({"migrated_from": LEGACY_FILE}),))
        conn.execute(
            "INSERT INTO main.full_frame_ocr (frame_index, box_index, text, confidence, x, y,"
            " width, height, legacy_id, legacy_nulls) SELECT frame_index, box_index,"
            " coalesce(text, ''), confidence, coalesce(x, 0), coalesce(y, 0), coalesce(width, 0),"
            f" coalesce(height, 0), id, {_null_mask(('text', 'x', 'y', 'width', 'height'))}"
            f" FROM {self._source('full_frame_ocr')} ORDER BY id")
        # The old tool read every sampled frame: frames without boxes had no text.
        conn.execute(
            "INSERT INTO main.ocr_frames (frame_index, box_count) SELECT frames.frame_index,"
            " (SELECT count(*) FROM legacy.full_frame_ocr o"
            "  WHERE o.frame_index = frames.frame_index)"
            " FROM (SELECT frame_index FROM legacy.full_frames UNION"
            " SELECT frame_index FROM legacy.full_frame_ocr) AS frames ORDER BY 1")

    def _build_layout(self, conn: apsw.Connection) -> None:
        if self.legacy.has("full_frame_box_labels"):
            conn.execute(
                "INSERT INTO main.full_frame_box_labels (frame_index, box_index, label,"
                " label_source, confidence, created_at, legacy_id, legacy_nulls,"
                " legacy_label_source) SELECT frame_index, box_index, label,"
                " CASE WHEN label_source IN ('model', 'human', 'user') THEN label_source"
                " ELSE 'user' END, NULL, created_at, id, (label_source IS NULL),"
                " CASE WHEN label_source NOT IN ('model', 'human', 'user') THEN label_source END"
                f" FROM {self._source('full_frame_box_labels')} ORDER BY id")
        if self.legacy.has("box_classification_model"):
            # The bytes are copied as they are and never loaded: a pickle stays inert.
            conn.execute(
                "INSERT INTO main.box_classification_model (id, model_version, model_format,"
                " model_data, trained_at, n_training_samples, accuracy, metrics)"
                " SELECT id, model_version, CASE WHEN model_data IS NULL THEN 'legacy-empty'"
                " WHEN typeof(model_data) = 'blob' AND substr(model_data, 1, 1) = x'80'"
                " THEN 'legacy-pickle' ELSE 'legacy-opaque' END, model_data, trained_at,"
                " n_training_samples, accuracy, NULL"
                f" FROM {self._source('box_classification_model')} ORDER BY id")
        if self.legacy.has("video_layout_config"):
            crops = ("crop_left", "crop_top", "crop_right", "crop_bottom")
            conn.execute(
                "INSERT INTO main.video_layout_config (id, crop_left, crop_top, crop_right,"
                " crop_bottom, anchor_type, method, confidence, updated_at, legacy_nulls)"
                f" SELECT id, {', '.join(f'coalesce({c}, 0)' for c in crops)}, anchor_type,"
                f" 'legacy', NULL, updated_at, {_null_mask(crops)}"
                f" FROM {self._source('video_layout_config')} ORDER BY id")

    def _build_cropping(self, conn: apsw.Connection) -> None:
        crops = ("crop_left", "crop_top", "crop_right", "crop_bottom")
        # A NULL crop edge takes the layout's band, else 0; legacy_nulls says which were NULL.
        if self.legacy.has("video_layout_config"):
            band = ", ".join(
                f"coalesce(c.{c}, (SELECT l.{c} FROM {self._source('video_layout_config')} l"
                " ORDER BY l.id LIMIT 1), 0)" for c in crops)
        else:
            band = ", ".join(f"coalesce(c.{c}, 0)" for c in crops)
        conn.execute(
            "INSERT INTO main.cropped_frames (frame_index, timestamp_ms, image_data,"
            " image_format, crop_left, crop_top, crop_right, crop_bottom, legacy_nulls,"
            f" legacy_created_at) SELECT c.frame_index, {_frame_time_sql('c.frame_index')},"
            f" c.image_data, 'png', {band}, {_null_mask(crops)}, c.created_at"
            f" FROM {self._source('cropped_frames')} c ORDER BY c.frame_index",
            {"fps": self.fps})

    def _build_captions(self, conn: apsw.Connection) -> None:
        # The old tool's captions were its annotation workspace: it cannot tell machine spans
        # from corrected ones, so every span counts as human and a captions re-run keeps it.
        conn.execute(
            "INSERT INTO main.captions (id, start_frame_index, end_frame_index, start_ms,"
            " end_ms, text, confidence, source, boundary_state, text_pending, created_at,"
            f" updated_at) SELECT c.id, c.start_frame_index, c.end_frame_index,"
            f" {_frame_time_sql('c.start_frame_index')}, {_frame_time_sql('c.end_frame_index')},"
            " c.text, NULL, 'human', c.boundary_state, c.text_pending, c.created_at,"
            f" c.updated_at FROM {self._source('captions')} c ORDER BY c.id",
            {"fps": self.fps})

    def apply_findings(self, findings: dict[str, ImageFindings]) -> None:
        """Fix what only the image bytes tell: formats, and sizes the legacy rows lack."""
        targets = (("full_frames", "video"), ("cropped_frames", "cropping"))
        for table, alias in targets:
            found = findings.get(table)
            if found is None or not self.path(alias).exists():
                continue
            conn = open_connection(sqlite_uri(self.path(alias), read_only=False))
            try:
                conn.execute("PRAGMA journal_mode = OFF")
                conn.execute("PRAGMA synchronous = OFF")  # fsynced once, before the switch
                with conn:
                    conn.executemany(f"UPDATE main.{table} SET image_format = ?"
                                     " WHERE frame_index = ?",
                                     [(kind, index) for index, kind in found.formats.items()])
                    if table == "full_frames":
                        conn.executemany(
                            "UPDATE main.full_frames SET width = ?, height = ?"
                            " WHERE frame_index = ?",
                            [(w, h, index) for index, (w, h) in found.sizes.items()])
                        width, height = found.first_size or (0, 0)
                        conn.execute(
                            "UPDATE main.video_metadata SET"
                            " width = CASE WHEN legacy_width IS NULL THEN ? ELSE width END,"
                            " height = CASE WHEN legacy_height IS NULL THEN ? ELSE height END,"
                            " image_format = coalesce((SELECT image_format FROM"
                            " main.full_frames ORDER BY frame_index LIMIT 1), 'jpeg')",
                            (width, height))
            finally:
                conn.close()
            if found.unreadable:
                self.notes.append(f"{table}: image bytes that are neither JPEG nor PNG (kept "
                                  f"as they are), frames {_examples(found.unreadable)}")
            if found.sizes:
                self.notes.append(f"{table}: {len(found.sizes)} rows without width/height: "
                                  "read from the image header")

    def write_proof(self, aliases: list[str], proofs: list[TableProof],
                    installed: list[str]) -> None:
        """Store the proof in every new database, and the migration record in video.db.

        video.db, written last, also gets one ``file:<name>`` row per other database: its
        size and XXH3-128 as migrate leaves it, so ``--rollback`` can tell whether anything
        was done to it since (a file cannot hold its own hash; video.db is checked by rows).
        """
        fingerprints = []
        for alias in sorted(aliases, key=lambda a: a == "video"):
            if alias == "video":
                fingerprints = [(FILE_PROOF_PREFIX + KINDS[a].file_name, None, None,
                                 "file", *file_fingerprint(self.path(a)))
                                for a in aliases if a != "video"]
            conn = open_connection(sqlite_uri(self.path(alias), read_only=False))
            try:
                conn.execute("PRAGMA journal_mode = OFF")
                conn.execute("PRAGMA synchronous = OFF")  # fsynced once, before the switch
                with conn:
                    conn.executemany(
                        "INSERT INTO main.migration_proof (legacy_table, legacy_rows,"
                        " legacy_sha256, new_table, new_rows, new_sha256)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        [(p.legacy_table, p.legacy_rows, p.legacy_sha256, p.new_table,
                          p.new_rows, p.new_sha256) for p in proofs])
                    if alias == "video":
                        conn.executemany(
                            "INSERT INTO main.migration_proof (legacy_table, legacy_rows,"
                            " legacy_sha256, new_table, new_rows, new_sha256)"
                            " VALUES (?, ?, ?, ?, ?, ?)", fingerprints)
                        conn.execute(
                            "INSERT INTO main.migration (id, legacy_file, legacy_size_bytes,"
                            " legacy_mtime_ns, tool_version, source_status, installed_files,"
                            " notes) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                            (OLD_FILE, self.legacy_stat.st_size, self.legacy_stat.st_mtime_ns,
                             f"vabatch {__version__}", self.video.status,
                             json.dumps(installed), json.dumps(self.notes)))
                # At rest every file is a plain rollback-journal database.
                conn.execute("PRAGMA journal_mode = DELETE")
            finally:
                conn.close()


def _legacy_findings(legacy: LegacyFile) -> list[str]:
    """Notes on legacy content that is kept but deserves a word."""
    notes = []
    conn = legacy.conn
    if legacy.has("full_frame_box_labels") and legacy.rows.get("full_frame_box_labels"):
        ocr_join = ("LEFT JOIN full_frame_ocr o USING (frame_index, box_index)"
                    " WHERE o.id IS NULL") if legacy.has("full_frame_ocr") else ""
        missing = conn.execute(
            "SELECT l.frame_index, l.box_index FROM full_frame_box_labels l "
            f"{ocr_join} ORDER BY l.id").fetchall()
        if missing:
            shown = [f"{frame}/{box}" for frame, box in missing]
            notes.append(f"{len(missing)} label rows name an OCR box that full_frame_ocr does "
                         f"not have (kept, frame/box: {_examples(shown)})")
    if legacy.has("box_classification_model"):
        for model_id, size, head in conn.execute(
                "SELECT id, length(model_data), hex(substr(model_data, 1, 1))"
                " FROM box_classification_model ORDER BY id"):
            if size:
                kind = "a pickle" if head == "80" else "opaque bytes"
                notes.append(f"box_classification_model {model_id}: {size} bytes of {kind}, "
                             "copied as they are and never loaded")
    for name, count in legacy.unknown_tables.items():
        notes.append(f"table {name} ({count} rows) is not part of the legacy format: not "
                     f"migrated, it stays in {OLD_FILE}")
    for name in ("cropped_frames", "video_layout_config"):
        if not legacy.has(name):
            notes.append(f"the legacy file has no {name} table (an older version)")
    return notes


# -- one directory ------------------------------------------------------------------------
def _stored_source_name(directory: Path, video: VideoFinding) -> tuple[str | None, bool]:
    """The video's name in the directory, and whether migrate has to link it there."""
    if video.path is None:
        return None, False
    name = "source" + (video.path.suffix.lower() or ".video")
    target = directory / name
    if not target.exists():
        return name, True
    if os.path.samefile(target, video.path):
        return name, False
    # source.<ext> is some other file: never overwrite it; name the video where it lies.
    if video.path.parent.resolve() == directory.resolve():
        return video.path.name, False
    return None, False


def file_fingerprint(path: Path) -> tuple[int, str]:
    """Size and XXH3-128 of a file's bytes."""
    digest = xxhash.xxh3_128()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return path.stat().st_size, V2_PREFIX + digest.hexdigest()


def _stored_file_fingerprints(video_db: Path) -> dict[str, tuple[int, str]]:
    """What ``write_proof`` recorded of the other databases (empty for older migrations)."""
    try:
        conn = open_connection(sqlite_uri(video_db, read_only=True))
    except apsw.Error:
        return {}
    try:
        rows = conn.execute("SELECT legacy_table, new_rows, new_sha256 FROM migration_proof"
                            " WHERE legacy_table LIKE ?", (FILE_PROOF_PREFIX + "%",)).fetchall()
    except apsw.Error:
        return {}
    finally:
        conn.close()
    return {name[len(FILE_PROOF_PREFIX):]: (size, digest) for name, size, digest in rows}


def _stored_proofs(video_db: Path) -> list[TableProof]:
    conn = open_connection(sqlite_uri(video_db, read_only=True))
    try:
        rows = conn.execute("SELECT legacy_table, new_table, legacy_rows, legacy_sha256,"
                            " new_rows, new_sha256 FROM migration_proof"
                            " WHERE legacy_table NOT LIKE ?", (FILE_PROOF_PREFIX + "%",)
                            ).fetchall()
    except apsw.Error:
        return []
    finally:
        conn.close()
    order = {spec.name: n for n, spec in enumerate(LEGACY_TABLES)}
    return sorted((TableProof(*row) for row in rows), key=lambda p: order.get(p.legacy_table, 99))


def _migration_record(video_db: Path) -> dict | None:
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


def migrate_directory(directory: Path | str, *, dry_run: bool = False,
                      progress: ProgressCallback | None = None) -> MigrationResult:
    """Migrate one legacy directory in place; failures come back as a result."""
    return _run(Path(directory), "migrate", dry_run, progress)


def rollback_directory(directory: Path | str, *, dry_run: bool = False, force: bool = False,
                       progress: ProgressCallback | None = None) -> MigrationResult:
    """Restore a migrated directory to its legacy state, byte for byte.

    Refused when the split databases changed since the migration (work done since would be
    lost), unless ``force``.
    """
    return _run(Path(directory), "rollback", dry_run, progress, force)


def _run(directory: Path, action: str, dry_run: bool,
         progress: ProgressCallback | None, force: bool = False) -> MigrationResult:
    started = time.monotonic()
    result = MigrationResult(str(directory), "failed")
    report = progress or (lambda _step: None)
    try:
        if not directory.is_dir():
            raise InputError(f"{directory}: no such directory")
        with directory_lock(directory, shared=dry_run):
            if action == "migrate":
                _migrate(directory, dry_run, report, result)
            else:
                _rollback(directory, dry_run, report, result, force)
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


def _migrate(directory: Path, dry_run: bool, report: ProgressCallback,
             result: MigrationResult) -> None:
    state = directory_state(directory)
    if state == "rollback-interrupted":
        if dry_run:
            result.notes.append("would first finish an interrupted rollback")
        else:
            report("finishing an interrupted rollback")
            _finish_rollback(directory)
            state = directory_state(directory)
    if state == "migrated":
        result.status = "unchanged"
        video_db = directory / KINDS["video"].file_name
        result.proofs = _stored_proofs(video_db)
        record = _migration_record(video_db) or {}
        result.source_status = record.get("source_status", "")
        result.notes.append("already migrated")
        return
    if state == "switching":
        manifest = json.loads((directory / STAGING_DIR / MANIFEST).read_text())
        result.proofs = [TableProof(**p) for p in manifest["proofs"]]
        result.source_status = manifest["source_status"]
        result.legacy_bytes = (directory / OLD_FILE).stat().st_size
        if dry_run:
            result.status = "would resume"
            result.notes.append("an interrupted migration passed its commit point: a run "
                                "finishes installing the staged files")
            return
        report("resuming the install")
        result.created = _install(directory, manifest)
        result.status = "resumed"
        return
    if state == "split":
        result.status = "skipped"
        result.notes.append("not a legacy directory (already split databases)")
        return
    if state == "empty":
        raise InputError(f"{directory}: no {LEGACY_FILE} to migrate")
    if state == "conflict":
        raise MigrationError(
            f"{directory}: unclear state ({OLD_FILE} or video.db next to a legacy "
            f"{LEGACY_FILE}, or {OLD_FILE} without video.db); move the stray file away first")
    _migrate_legacy(directory, dry_run, report, result)


def _migrate_legacy(directory: Path, dry_run: bool, report: ProgressCallback,
                    result: MigrationResult) -> None:
    legacy_path = directory / LEGACY_FILE
    report("reading the legacy file")
    legacy = open_legacy(legacy_path)
    try:
        legacy_stat = legacy_path.stat()
        result.legacy_bytes = legacy_stat.st_size
        metadata = {}
        if legacy.rows.get("video_metadata"):
            row = legacy.conn.execute(legacy.select("video_metadata", "main")).fetchall()[0]
            metadata = dict(zip(LEGACY_BY_NAME["video_metadata"].columns, row, strict=True))
        report("looking for the source video")
        video = find_video(directory, metadata.get("video_path"), metadata.get("video_hash"))
        result.source_status = video.status
        stored_name, needs_link = _stored_source_name(directory, video)
        staging = directory / STAGING_DIR
        builder = Builder(legacy, staging, video, stored_name, legacy_stat)
        aliases = builder.aliases()
        result.notes.extend(_legacy_findings(legacy))
        if dry_run:
            result.status = "would migrate"
            result.created = ([stored_name] if needs_link else []) + [
                KINDS[a].file_name for a in INSTALL_ORDER if a in aliases]
            result.notes.append(f"would keep {LEGACY_FILE} as {OLD_FILE} and write "
                                + ", ".join(result.created))
            result.proofs = [
                TableProof(spec.name, f"{spec.alias}.{spec.new_table}",
                           legacy.rows.get(spec.name) if legacy.has(spec.name) else None,
                           None, 0, "") for spec in LEGACY_TABLES]
            return

        shutil.rmtree(staging, ignore_errors=True)  # left by a run killed before committing
        staging.mkdir()
        try:
            _pause("staging-created")
            findings: dict[str, ImageFindings] = {}
            report("writing " + ", ".join(KINDS[a].file_name for a in aliases))
            # Three threads on what is mostly GIL-free work (SQLite, xxhash on big buffers):
            # the legacy hash; the small databases, built then hashed; and video.db (nearly
            # all the bytes), built while its pages are sent to disk, then hashed and fsynced.
            small = [alias for alias in aliases if alias != "video"]
            others = [alias for alias in DATABASE_ORDER if alias != "video"]

            def build_small() -> dict[str, tuple[int, str]]:
                for alias in small:
                    builder.build(alias)
                    _pause(f"built-{alias}")
                return hash_migrated({alias: builder.path(alias) for alias in small}, others)

            with Background.group() as threads:
                legacy_hashing = threads.start(hash_legacy, legacy.uri, legacy, findings)
                small_work = threads.start(build_small)
                with Writeback(builder.path("video")):
                    builder.build("video")
                _pause("built-video")
                flushing = threads.start(fsync_path, builder.path("video"))
                report("proving: hashing the new rows")
                # The mapped-back columns are final once built: apply_findings below touches
                # only columns outside the proof (formats, sizes read from image headers).
                new_hashes = hash_migrated({"video": builder.path("video")}, ("video",))
                new_hashes |= small_work.result()
                legacy_hashes = legacy_hashing.result()
                flushing.result()
            builder.apply_findings(findings)
            builder.notes[:0] = result.notes
            proofs = []
            for spec in LEGACY_TABLES:
                legacy_side = legacy_hashes[spec.name]
                new_rows, new_sha = new_hashes[spec.name]
                proofs.append(TableProof(
                    spec.name, f"{spec.alias}.{spec.new_table}",
                    legacy_side[0] if legacy_side else None,
                    legacy_side[1] if legacy_side else None, new_rows, new_sha))
            result.proofs = proofs
            bad = [p for p in proofs if not p.ok]
            if bad:
                raise MigrationError(
                    f"{directory}: proof failed for "
                    + ", ".join(f"{p.legacy_table} ({p.legacy_rows} rows -> {p.new_rows})"
                                for p in bad) + "; nothing was changed")
            installed = [stored_name] if needs_link else []
            builder.write_proof(aliases, proofs, installed)
            result.notes = builder.notes
            if needs_link and video.path is not None:
                report("linking the source video")
                link_or_copy(video.path, staging / stored_name)
            install = installed + [KINDS[a].file_name for a in INSTALL_ORDER if a in aliases]
            for name in install:
                fsync_path(staging / name)
            atomic_write(staging / MANIFEST, json.dumps({
                "install": install, "source_status": video.status,
                "proofs": [asdict(p) for p in proofs]}, indent=1))
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)  # nothing half-made stays behind
            if isinstance(error, apsw.Error):
                raise MigrationError(
                    f"{legacy_path}: migration failed, nothing was changed "
                    f"({type(error).__name__}: {error})") from None
            raise
    finally:
        legacy.close()
    _pause("manifest-written")
    report("switching")
    # The commit point: from here on a re-run finishes the install instead of starting over.
    os.rename(legacy_path, directory / OLD_FILE)
    fsync_path(directory)
    _pause("committed")
    result.created = _install(directory, json.loads((staging / MANIFEST).read_text()))
    result.status = "migrated"


def _install(directory: Path, manifest: dict) -> list[str]:
    """Rename the staged files into place (video.db last), then drop the staging folder."""
    staging = directory / STAGING_DIR
    for name in manifest["install"]:
        staged = staging / name
        if os.path.lexists(staged):
            os.replace(staged, directory / name)
            fsync_path(directory)
        elif not (directory / name).exists():
            raise MigrationError(f"{directory}: {name} is neither staged nor installed; "
                                 "run `vabatch migrate --rollback` and migrate again")
        _pause(f"installed-{name}")
    (staging / MANIFEST).unlink()
    shutil.rmtree(staging)
    fsync_path(directory)
    return list(manifest["install"])


# -- rollback -----------------------------------------------------------------------------
def _rollback(directory: Path, dry_run: bool, report: ProgressCallback,
              result: MigrationResult, force: bool = False) -> None:
    state = directory_state(directory)
    if state == "rollback-interrupted":
        if dry_run:
            result.status = "would roll back"
            result.notes.append("would finish an interrupted rollback")
            return
        report("finishing an interrupted rollback")
        _finish_rollback(directory)
        result.status = "rolled back"
        return
    if state == "legacy":
        staging = directory / STAGING_DIR
        if staging.exists() and not dry_run:
            shutil.rmtree(staging)  # an unfinished build: the legacy file was never touched
            fsync_path(directory)
        result.status = "unchanged"
        result.notes.append("not migrated: the legacy state is in place")
        return
    if state not in ("migrated", "switching"):
        raise MigrationError(f"{directory}: not a migrated directory (no {OLD_FILE} beside "
                             "the split databases): nothing to roll back")
    old = directory / OLD_FILE
    result.legacy_bytes = old.stat().st_size
    if state == "switching":
        manifest = json.loads((directory / STAGING_DIR / MANIFEST).read_text())
        extra_files = [n for n in manifest["install"] if not n.endswith(".db")]
    else:
        record = _migration_record(directory / KINDS["video"].file_name)
        if record is None:
            extra_files = []
            result.notes.append("video.db has no migration record: any source video link "
                                "is left in place")
        else:
            extra_files = record["installed_files"]
            stat = old.stat()
            if (stat.st_size, stat.st_mtime_ns) != (record["legacy_size_bytes"],
                                                   record["legacy_mtime_ns"]):
                result.notes.append(f"{OLD_FILE} changed since the migration (size or time)")
        report("checking for changes since the migration")
        changes = changes_since_migration(directory)
        if changes and not force:
            raise MigrationError(
                f"{directory}: changed since the migration ({'; '.join(changes)}); a rollback "
                "would discard that work: nothing was changed (--force rolls back anyway)")
        if changes:
            result.notes.append("discards changes made since the migration (--force): "
                                + "; ".join(changes))
    remove = extra_files + [KINDS[a].file_name for a in DATABASE_ORDER if a != "captions"]
    remove += [s.name for a in DATABASE_ORDER for s in sidecars(directory / KINDS[a].file_name)]
    present = [n for n in remove if os.path.lexists(directory / n)]
    result.notes.append(f"removes {', '.join(present) or 'nothing else'}; restores "
                        f"{LEGACY_FILE} from {OLD_FILE}")
    if dry_run:
        result.status = "would roll back"
        return
    report("rolling back")
    atomic_write(directory / ROLLBACK_JOURNAL, json.dumps({"remove": remove}, indent=1))
    _pause("rollback-journal")
    _finish_rollback(directory)
    result.status = "rolled back"


def changes_since_migration(directory: Path) -> list[str]:
    """What was done to the split databases since ``vabatch migrate`` wrote them (empty: as
    migrate left them). Each other database is compared with the size and hash recorded in
    video.db; video.db, and every database of a migration without that record, by recomputing
    the proof of the rows the legacy tables became (all caption rows included)."""
    video_db = directory / KINDS["video"].file_name
    recorded = _stored_file_fingerprints(video_db)
    changes = []
    for alias in DATABASE_ORDER:
        path = directory / KINDS[alias].file_name
        if sidecars(path):
            changes.append(f"{path.name} has {', '.join(p.name for p in sidecars(path))} "
                           "(a stage is writing it, or was killed)")
        if alias == "video" or not recorded:
            continue
        if path.name not in recorded:
            if path.exists():
                changes.append(f"{path.name} was made after the migration")
        elif not path.exists():
            changes.append(f"{path.name} was removed")
        elif file_fingerprint(path) != tuple(recorded[path.name]):
            changes.append(f"{path.name} was rewritten")
    checked = ("video",) if recorded else DATABASE_ORDER
    proofs = [p for p in _stored_proofs(video_db)
              if LEGACY_BY_NAME.get(p.legacy_table) and
              LEGACY_BY_NAME[p.legacy_table].alias in checked]
    files = {alias: directory / KINDS[alias].file_name for alias in checked
             if (directory / KINDS[alias].file_name).exists()}
    for version in sorted({p.version for p in proofs}):
        try:
            current = hash_migrated(files, checked, version)
        except apsw.Error as error:
            changes.append(f"cannot read the migrated rows ({error})")
            break
        for proof in proofs:
            if proof.version == version and current[proof.legacy_table] != (
                    proof.new_rows, proof.new_sha256):
                rows_now = current[proof.legacy_table][0]
                changes.append(f"{proof.new_table}: {proof.new_rows} rows at migration, "
                               f"{rows_now} now or other content")
    return changes


def _finish_rollback(directory: Path) -> None:
    journal = directory / ROLLBACK_JOURNAL
    plan = json.loads(journal.read_text())
    shutil.rmtree(directory / STAGING_DIR, ignore_errors=True)
    # video.db first: from then on no reader takes the directory for a split one.
    for name in sorted(plan["remove"], key=lambda n: n != KINDS["video"].file_name):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    fsync_path(directory)
    _pause("rollback-removed")
    old = directory / OLD_FILE
    if old.exists():
        os.replace(old, directory / LEGACY_FILE)  # also replaces the new captions.db
        fsync_path(directory)
    _pause("rollback-restored")
    journal.unlink()
    fsync_path(directory)


# -- verify --against-legacy --------------------------------------------------------------
def check_against_legacy(video_dir: Path) -> list[tuple[Path, str]]:
    """Recompute the proof of a migrated directory: legacy rows vs the current new rows.

    Returns (file, problem) pairs; empty when every legacy table still equals the rows it
    became and the proof stored at migration time agrees.
    """
    video_dir = Path(video_dir)
    old = video_dir / OLD_FILE
    video_db = video_dir / KINDS["video"].file_name
    if not old.exists():
        return [(old, "not a migrated directory: nothing to compare against")]
    problems: list[tuple[Path, str]] = []
    stored = {p.legacy_table: p for p in _stored_proofs(video_db)} if video_db.exists() else {}
    # Compare in the proof format the migration used (old SHA-256 proofs stay checkable).
    versions = sorted({p.version for p in stored.values()}) or [CURRENT_PROOF]
    files = {alias: video_dir / KINDS[alias].file_name for alias in DATABASE_ORDER
             if (video_dir / KINDS[alias].file_name).exists()}
    try:
        legacy = open_legacy(old)
    except VabatchError as error:
        return [(old, str(error))]
    try:
        legacy_hashes = {v: hash_legacy(legacy.uri, legacy, {}, v) for v in versions}
    except apsw.Error as error:
        return [(old, f"unreadable: {error}")]
    finally:
        legacy.close()
    try:
        new_hashes = {v: hash_migrated(files, version=v) for v in versions}
    except apsw.Error as error:
        return [(video_db, f"cannot read the migrated rows: {error}")]
    for spec in LEGACY_TABLES:
        proof = stored.get(spec.name)
        version = proof.version if proof is not None else versions[0]
        legacy_side = legacy_hashes[version][spec.name]
        legacy_rows, legacy_hash = legacy_side or (0, empty_table_hash(spec.name, version))
        new_rows, new_hash = new_hashes[version][spec.name]
        target = video_dir / KINDS[spec.alias].file_name
        algorithm = PROOF_ALGORITHMS[version]
        if (legacy_rows, legacy_hash) != (new_rows, new_hash):
            problems.append((target, f"{spec.alias}.{spec.new_table} differs from legacy "
                             f"{spec.name}: {legacy_rows} rows {algorithm} "
                             f"{_short(legacy_hash)} vs {new_rows} rows {algorithm} "
                             f"{_short(new_hash)}"))
        if proof is None:
            problems.append((video_db, f"no stored migration proof for {spec.name}"))
        elif (proof.legacy_sha256 or empty_table_hash(spec.name, version)) != legacy_hash:
            problems.append((old, f"{spec.name}: the legacy file no longer matches the proof "
                             "stored at migration time"))
    return problems


def _short(table_hash: str) -> str:
    """The first 12 hex digits of a table hash, without its algorithm prefix."""
    return table_hash.rpartition(":")[2][:12]


# -- many directories ---------------------------------------------------------------------
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
