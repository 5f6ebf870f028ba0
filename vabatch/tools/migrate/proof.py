"""The content proof: canonical row encodings, table hashes, and what migrate stored of them.

A legacy table and the rows it became are equal when their row counts and canonical hashes
are: every row is encoded unambiguously (a type tag per value, lengths for text and blobs)
and hashed in primary-key order under a header naming the table and its columns (see
docs/migrate.md). ``hash_legacy`` reads the legacy side, ``hash_migrated`` the new side
through the ``mapped_back`` queries. Proof version 1 (SHA-256) is still recomputed for old
migrations; version 2 (XXH3-128) is what migrate writes now. The file fingerprints let
``--rollback`` see whether a database was rewritten since the migration.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import apsw
import xxhash

from vabatch.db.files import sqlite_uri
from vabatch.db.video_database import open_connection
from vabatch.fsutil import is_unwritable
from vabatch.tools.migrate.legacy import (
    LEGACY_BY_NAME,
    LEGACY_MMAP_BYTES,
    LEGACY_TABLES,
    LegacyFile,
    image_format_of,
    image_size,
    rows_keeping_bytes,
)

FILE_PROOF_PREFIX = "file:"  # video.db migration_proof rows fingerprinting the other files


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


# -- the proof of one table ---------------------------------------------------------------
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
            rows = rows_keeping_bytes(conn, sql, len(spec.columns),
                                      spec.columns.index(spec.key))
            if spec.name in ("full_frames", "cropped_frames"):
                found = findings[spec.name] = ImageFindings()
                default = "jpeg" if spec.name == "full_frames" else "png"
                columns = spec.columns
                at_image = columns.index("image_data")
                at_width = columns.index("width") if "width" in columns else None
                at_height = columns.index("height") if "height" in columns else None
                for row in rows:
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
                for row in rows:
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
                for row in rows_keeping_bytes(conn, spec.mapped_back, len(spec.columns),
                                              spec.columns.index(spec.key)):
                    hasher.add(row)
            results[spec.name] = (hasher.rows, hasher.hexdigest())
        return results
    finally:
        conn.close()


# -- what migrate stored ------------------------------------------------------------------
def file_fingerprint(path: Path) -> tuple[int, str]:
    """Size and XXH3-128 of a file's bytes."""
    digest = xxhash.xxh3_128()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return path.stat().st_size, V2_PREFIX + digest.hexdigest()


def stored_file_fingerprints(video_db: Path) -> dict[str, tuple[int, str]]:
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


def stored_proofs(video_db: Path) -> list[TableProof]:
    """The table proofs a migration stored in video.db, in legacy table order."""
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
