"""The legacy monolithic captions.db: its tables, where each one goes, and opening one safely.

``LEGACY_TABLES`` is the whole contract with the old tool: each table's columns in the legacy
order, its primary key (the order its rows are hashed in), the columns without which it cannot
be migrated, the new database and table it becomes, and the ``mapped_back`` query that reads
the new rows back in legacy form for the proof. ``open_legacy`` refuses, with one line and
nothing changed, any file that is not a complete, undamaged legacy database. Nothing here
writes; a legacy model is bytes, never unpickled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import apsw

from vabatch.db.files import sidecars, sqlite_uri
from vabatch.db.schema import KINDS
from vabatch.db.video_database import open_connection
from vabatch.errors import InputError, VabatchError

OLD_FILE = "captions.db.old"  # the legacy file, kept unmodified after migration
SQLITE_MAGIC = b"SQLite format 3\x00"
LEGACY_MMAP_BYTES = 1 << 31  # SQLite caps mmap at 2 GB by default; reads then skip read()
MAX_EXAMPLES = 5


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


CROP_EDGES = ("crop_left", "crop_top", "crop_right", "crop_bottom")


def _unmask(bit: int, column: str) -> str:
    return f"CASE WHEN legacy_nulls & {bit} THEN NULL ELSE {column} END"


def _unmasked(columns: tuple[str, ...], first_bit: int = 0) -> str:
    """The columns, each NULL again where its bit of legacy_nulls (from ``first_bit``) is set."""
    return ", ".join(_unmask(1 << n, c) for n, c in enumerate(columns, first_bit))


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
        + _unmasked(("x", "y", "width", "height"), 1)
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
        ("id", *CROP_EDGES, "anchor_type", "updated_at"),
        "id", ("id",), "layout", "video_layout_config",
        "SELECT id, " + _unmasked(CROP_EDGES)
        + ", anchor_type, updated_at FROM layout.video_layout_config"
        " WHERE method = 'legacy' ORDER BY id",
    ),
    LegacyTable(
        "cropped_frames",
        ("frame_index", "image_data", *CROP_EDGES, "created_at"),
        "frame_index", ("frame_index", "image_data"), "cropping", "cropped_frames",
        "SELECT frame_index, image_data, " + _unmasked(CROP_EDGES)
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


class MigrationError(VabatchError):
    """The legacy data cannot be migrated as it is, or the proof failed."""


def _read_header(path: Path) -> bytes:
    with open(path, "rb") as stream:
        return stream.read(100)


def is_split_captions(path: Path) -> bool:
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

    def video_metadata(self) -> dict | None:
        """The video_metadata row by column name; None when the table has no row."""
        if not self.rows.get("video_metadata"):
            return None
        spec = LEGACY_BY_NAME["video_metadata"]
        row = next(iter(rows_keeping_bytes(self.conn, self.select("video_metadata", "main"),
                                           len(spec.columns), 0)))
        return dict(zip(LEGACY_BY_NAME["video_metadata"].columns, row, strict=True))

    def select(self, table: str, schema: str) -> str:
        """``SELECT`` of the legacy columns (NULL for ones this file lacks) in legacy order."""
        present = self.columns[table]
        # Image bytes are bytes even where the old tool stored them as TEXT (a no-op for
        # a BLOB): the new file holds them as a BLOB and the proof compares them so.
        parts = [(f'CAST("{c}" AS BLOB) AS "{c}"' if c == "image_data" else f'"{c}"')
                 if c in present else f'NULL AS "{c}"' for c in LEGACY_BY_NAME[table].columns]
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
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    size = path.stat().st_size
    if page_size < 512 or size % page_size:
        # SQLite reads a missing tail as zeros: a file cut short would migrate "equal".
        raise MigrationError(f"{path}: {size} bytes is not a whole number of {page_size}-byte "
                             "pages: the file is cut short or damaged; nothing was changed")
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


def rows_keeping_bytes(conn: apsw.Connection, sql: str, width: int, key_index: int):
    """The rows of ``sql`` (ordered by its column ``key_index``), with every TEXT value that
    is not valid UTF-8 as the bytes it holds: Python cannot decode it, and the old tool
    may have written such values. Fast path first; only a query that meets such a value is
    read again, the slow way, from the row where it stopped."""
    done = 0
    try:
        for row in conn.execute(sql):
            yield row
            done += 1
        return
    except UnicodeDecodeError:
        pass
    names = [f"c{n}" for n in range(width)]
    picks = ", ".join(f"CASE WHEN typeof({c}) = 'text' THEN CAST({c} AS BLOB) ELSE {c} END,"
                      f" typeof({c}) = 'text'" for c in names)
    slow = (f"WITH q({', '.join(names)}) AS ({sql}) SELECT {picks} FROM q"
            f" ORDER BY {names[key_index]}")
    for number, raw in enumerate(conn.execute(slow)):
        if number < done:
            continue
        row = []
        for n in range(width):
            value = raw[2 * n]
            if raw[2 * n + 1]:
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    pass  # carried over as bytes (see Builder.carry_invalid_text)
            row.append(value)
        yield tuple(row)


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


def examples(values: list) -> str:
    """The first few values, and how many there are when more."""
    shown = ", ".join(str(v) for v in values[:MAX_EXAMPLES])
    return shown + (f", ... ({len(values)} in all)" if len(values) > MAX_EXAMPLES else "")


def legacy_notes(legacy: LegacyFile) -> list[str]:
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
                         f"not have (kept, frame/box: {examples(shown)})")
    if legacy.has("box_classification_model"):
        for model_id, size, head in conn.execute(
                "SELECT id, length(model_data), hex(substr(model_data, 1, 1))"
                " FROM box_classification_model ORDER BY id"):
            if size:
                kind = "a pickle" if head == "80" else "opaque bytes"
                notes.append(f"box_classification_model {model_id}: {size} bytes of {kind}, "
                             "copied as they are and never loaded")
    for name in ("full_frames", "cropped_frames"):
        if legacy.has(name) and "image_data" in legacy.columns[name]:
            text_frames = [frame for (frame,) in conn.execute(
                f"SELECT frame_index FROM {name} WHERE typeof(image_data) = 'text'"
                " ORDER BY frame_index")]
            if text_frames:
                notes.append(f"{name}: {len(text_frames)} images stored as TEXT, carried over "
                             f"as bytes (BLOB), frames {examples(text_frames)}")
    for name, count in legacy.unknown_tables.items():
        notes.append(f"table {name} ({count} rows) is not part of the legacy format: not "
                     f"migrated, it stays in {OLD_FILE}")
    for name in ("cropped_frames", "video_layout_config"):
        if not legacy.has(name):
            notes.append(f"the legacy file has no {name} table (an older version)")
    return notes
