"""Database kinds: file names, application ids, and ordered, transactional schema upgrades.

Each kind's schema is a folder of SQL steps, ``schemas/<kind>/NNNN_name.sql``. A file at
``PRAGMA user_version`` N has had steps 1..N applied; upgrading applies the rest in one
transaction, so a failed upgrade leaves the file as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import apsw

from vabatch.errors import DatabaseError


@dataclass(frozen=True)
class DatabaseKind:
    """One kind of database in a video directory."""

    alias: str  # schema name under which VideoDatabase attaches it
    file_name: str
    application_id: int  # PRAGMA application_id: four ASCII bytes
    main_table: str  # the table whose rows `status` counts
    required_tables: tuple[str, ...]
    producer: str  # the command that writes it (named in "run ... first" messages)
    # A second table `status` counts, with what its rows are ("not captions"), if any.
    side_table: tuple[str, str] | None = None
    # Which rows of the main table count (captions a person deleted stay as marks: not).
    main_where: str = "1"


def _four_cc(text: str) -> int:
    return int.from_bytes(text.encode("ascii"), "big")


KINDS: dict[str, DatabaseKind] = {
    kind.alias: kind
    for kind in (
        DatabaseKind("video", "video.db", _four_cc("VBvd"), "full_frames",
                     ("video_metadata", "full_frames"), "ingest"),
        DatabaseKind("fullOCR", "fullOCR.db", _four_cc("VBoc"), "full_frame_ocr",
                     ("ocr_run", "ocr_frames", "full_frame_ocr"), "ocr"),
        DatabaseKind("layout", "layout.db", _four_cc("VBly"), "full_frame_box_labels",
                     ("full_frame_box_labels", "box_classification_model",
                      "video_layout_config"), "layout"),
        DatabaseKind("cropping", "cropping.db", _four_cc("VBcr"), "cropped_frames",
                     ("cropped_frames",), "crop"),
        DatabaseKind("captions", "captions.db", _four_cc("VBcp"), "captions", ("captions",),
                     "captions", ("rejected_captions", "not captions"),
                     "boundary_state IS NOT 'deleted'"),
    )
}

# Pipeline order of the databases: one is only meaningful once those before it exist.
DATABASE_ORDER = ("video", "fullOCR", "layout", "cropping", "captions")

_STEP_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def kind_for(alias: str) -> DatabaseKind:
    """The kind registered under ``alias``; a clear error for an unknown name."""
    try:
        return KINDS[alias]
    except KeyError:
        raise DatabaseError(
            f"unknown database kind {alias!r} (known: {', '.join(KINDS)})"
        ) from None


@cache
def schema_steps(alias: str) -> tuple[str, ...]:
    """The ordered SQL steps of a kind; step i (1-based) brings a file to user_version i."""
    folder = resources.files("vabatch.db") / "schemas" / alias
    numbered = []
    for entry in folder.iterdir():
        match = _STEP_NAME.match(entry.name)
        if match:
            numbered.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    numbered.sort()
    if [number for number, _ in numbered] != list(range(1, len(numbered) + 1)):
        raise DatabaseError(f"schema steps of {alias!r} are not numbered 1..N")
    return tuple(sql for _, sql in numbered)


def latest_version(alias: str) -> int:
    """The user_version a file of this kind has when fully upgraded."""
    return len(schema_steps(alias))


def read_header(conn: apsw.Connection, schema: str = "main") -> tuple[int, int]:
    """(application_id, user_version) of an open database."""
    app_id = conn.execute(f"PRAGMA {schema}.application_id").fetchall()[0][0]
    version = conn.execute(f"PRAGMA {schema}.user_version").fetchall()[0][0]
    return app_id, version


def apply_schema(
    conn: apsw.Connection, alias: str, steps: tuple[str, ...] | None = None
) -> int:
    """Create or upgrade the database open as ``main`` on ``conn`` to the last of ``steps``.

    An empty database gets the kind's application_id; a database of another kind, or of a
    newer version than this code knows, is refused. Returns the resulting user_version.
    All pending steps run in one transaction: a failing step leaves the file unchanged.
    """
    kind = kind_for(alias)
    steps = schema_steps(alias) if steps is None else steps
    app_id, version = read_header(conn)
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchall()[0][0]
    is_new = app_id == 0 and version == 0 and tables == 0
    if not is_new and app_id != kind.application_id:
        raise DatabaseError(
            f"{kind.file_name}: application_id {app_id:#x} is not that of a {alias} "
            f"database ({kind.application_id:#x})"
        )
    if version > len(steps):
        raise DatabaseError(
            f"{kind.file_name}: schema version {version} is newer than this vabatch "
            f"knows ({len(steps)}); upgrade vabatch"
        )
    if version == len(steps):
        return version
    with conn:  # one transaction: all pending steps or none
        for step_sql in steps[version:]:
            conn.execute(step_sql)
        conn.execute(f"PRAGMA application_id = {kind.application_id}")
        conn.execute(f"PRAGMA user_version = {len(steps)}")
    return len(steps)
