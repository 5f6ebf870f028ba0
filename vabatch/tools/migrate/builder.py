"""Writing the new databases of one directory into its staging folder.

Every table is copied by ``INSERT ... SELECT`` from the legacy file attached read-only
(blobs pass through Python only to be hashed for their checksum, vabatch/db/checksums.py);
the legacy values the new schema cannot hold as they are (NULLs, seconds, free-form label
sources) are kept beside the new columns, which is what lets the proof map every row back.
A staging file needs no journal: it is renamed into place only once whole and proven.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import apsw

from vabatch import __version__
from vabatch.db import checksums
from vabatch.db.files import sqlite_uri
from vabatch.db.schema import DATABASE_ORDER, KINDS, apply_schema
from vabatch.db.video_database import LEGACY_FILE, open_connection
from vabatch.tools.migrate.legacy import (
    CROP_EDGES,
    LEGACY_MMAP_BYTES,
    LEGACY_TABLES,
    OLD_FILE,
    LegacyFile,
    examples,
)
from vabatch.tools.migrate.proof import (
    FILE_PROOF_PREFIX,
    ImageFindings,
    TableProof,
    file_fingerprint,
)
from vabatch.tools.migrate.source import VideoFinding

BUILD_CACHE_KIB = 8 * 1024  # measured: a small cache copies blobs faster than a big one
BLOB_ALIASES = ("video", "cropping")  # databases of image blobs
BLOB_PAGE_SIZE = 16384  # measured on 100 KB frames: copy CPU 0.26 s vs 0.40 s with 4 KiB
UNKNOWN_HASH = "unknown"  # content_sha256 when neither the video nor a SHA-256 is known


def _frame_time_sql(frame: str) -> str:
    """Milliseconds of ``frame``: its sampled frame's timestamp, else frame / fps."""
    return (f"coalesce((SELECT CAST(round(f.timestamp_seconds * 1000) AS INTEGER)"
            f" FROM legacy.full_frames f WHERE f.frame_index = {frame}),"
            f" CAST(round({frame} * 1000.0 / :fps) AS INTEGER))")


def _is_utf8(data: bytes | None) -> bool:
    try:
        (data or b"").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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
        self.metadata = legacy.video_metadata()
        if self.metadata is not None:
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
        checksums.register(conn)  # vabatch_xxh3(): each value's checksum, written with it
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
                self.carry_invalid_text(conn)
        finally:
            conn.close()

    def carry_invalid_text(self, conn: apsw.Connection) -> None:
        """Store each copied TEXT value that is not valid UTF-8 as a BLOB of the same bytes,
        with a note: nothing is lost, and readers get bytes, not a decoding error."""
        conn.create_scalar_function("vabatch_is_utf8", _is_utf8, 1, deterministic=True)
        virtual = [name for (name,) in conn.execute(
            "SELECT name FROM main.sqlite_master WHERE type = 'table'"
            " AND sql LIKE 'CREATE VIRTUAL%'")]
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM main.sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite%' AND sql NOT LIKE 'CREATE VIRTUAL%'")
            if not any(name.startswith(v + "_") for v in virtual)]
        for table in tables:
            for column in [row[1] for row in conn.execute(f'PRAGMA main.table_info("{table}")')]:
                conn.execute(f'UPDATE main."{table}" SET "{column}" = CAST("{column}" AS BLOB)'
                             f' WHERE typeof("{column}") = \'text\''
                             f' AND NOT vabatch_is_utf8(CAST("{column}" AS BLOB))')
                changed = conn.changes()
                if changed:
                    self.notes.append(f"{table}.{column}: {changed} values that are not valid "
                                      "UTF-8 text, carried over as bytes (BLOB)")

    def _build_video(self, conn: apsw.Connection) -> None:
        conn.execute(
            "INSERT INTO main.full_frames (frame_index, timestamp_ms, image_data,"
            " image_data_xxh3, image_format, width, height, legacy_timestamp_seconds,"
            " legacy_width, legacy_height, legacy_created_at) SELECT frame_index,"
            " CAST(round(timestamp_seconds * 1000) AS INTEGER), image_data,"
            " vabatch_xxh3(CAST(image_data AS BLOB)), 'jpeg',"
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
            "INSERT INTO main.full_frame_ocr (frame_index, box_index, text, text_xxh3,"
            " confidence, x, y, width, height, legacy_id, legacy_nulls) SELECT frame_index,"
            " box_index, coalesce(text, ''), vabatch_xxh3(CAST(coalesce(text, '') AS BLOB)),"
            " confidence, coalesce(x, 0), coalesce(y, 0), coalesce(width, 0),"
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
                " model_data, model_data_xxh3, trained_at, n_training_samples, accuracy,"
                " metrics)"
                " SELECT id, model_version, CASE WHEN model_data IS NULL THEN 'legacy-empty'"
                " WHEN typeof(model_data) = 'blob' AND substr(model_data, 1, 1) = x'80'"
                " THEN 'legacy-pickle' ELSE 'legacy-opaque' END, model_data,"
                " vabatch_xxh3(CAST(model_data AS BLOB)), trained_at,"
                " n_training_samples, accuracy, NULL"
                f" FROM {self._source('box_classification_model')} ORDER BY id")
        if self.legacy.has("video_layout_config"):
            crops = CROP_EDGES
            conn.execute(
                "INSERT INTO main.video_layout_config (id, crop_left, crop_top, crop_right,"
                " crop_bottom, anchor_type, method, confidence, updated_at, legacy_nulls)"
                f" SELECT id, {', '.join(f'coalesce({c}, 0)' for c in crops)}, anchor_type,"
                f" 'legacy', NULL, updated_at, {_null_mask(crops)}"
                f" FROM {self._source('video_layout_config')} ORDER BY id")

    def _build_cropping(self, conn: apsw.Connection) -> None:
        crops = CROP_EDGES
        # A NULL crop edge takes the layout's band, else 0; legacy_nulls says which were NULL.
        if self.legacy.has("video_layout_config"):
            band = ", ".join(
                f"coalesce(c.{c}, (SELECT l.{c} FROM {self._source('video_layout_config')} l"
                " ORDER BY l.id LIMIT 1), 0)" for c in crops)
        else:
            band = ", ".join(f"coalesce(c.{c}, 0)" for c in crops)
        conn.execute(
            "INSERT INTO main.cropped_frames (frame_index, timestamp_ms, image_data,"
            " image_data_xxh3, image_format, crop_left, crop_top, crop_right, crop_bottom,"
            " legacy_nulls, legacy_created_at) SELECT c.frame_index,"
            f" {_frame_time_sql('c.frame_index')}, c.image_data,"
            " vabatch_xxh3(CAST(c.image_data AS BLOB)), 'png',"
            f" {band}, {_null_mask(crops)}, c.created_at"
            f" FROM {self._source('cropped_frames')} c ORDER BY c.frame_index",
            {"fps": self.fps})

    def _build_captions(self, conn: apsw.Connection) -> None:
        # The old tool's captions were its annotation workspace: it cannot tell machine spans
        # from corrected ones, so every span counts as human and a captions re-run keeps it.
        conn.execute(
            "INSERT INTO main.captions (id, start_frame_index, end_frame_index, start_ms,"
            " end_ms, text, text_xxh3, confidence, source, boundary_state, text_pending,"
            " created_at, updated_at) SELECT c.id, c.start_frame_index, c.end_frame_index,"
            f" {_frame_time_sql('c.start_frame_index')}, {_frame_time_sql('c.end_frame_index')},"
            " c.text, vabatch_xxh3(CAST(c.text AS BLOB)), NULL, 'human', c.boundary_state,"
            " c.text_pending, c.created_at,"
            f" c.updated_at FROM {self._source('captions')} c ORDER BY c.id",
            {"fps": self.fps})

    @contextlib.contextmanager
    def _reopened(self, alias: str) -> Iterator[apsw.Connection]:
        """A built database opened again to finish it, still without a journal."""
        conn = open_connection(sqlite_uri(self.path(alias), read_only=False))
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")  # fsynced once, before the switch
            yield conn
        finally:
            conn.close()

    def apply_findings(self, findings: dict[str, ImageFindings]) -> None:
        """Fix what only the image bytes tell: formats, and sizes the legacy rows lack."""
        targets = (("full_frames", "video"), ("cropped_frames", "cropping"))
        for table, alias in targets:
            found = findings.get(table)
            if found is None or not self.path(alias).exists():
                continue
            with self._reopened(alias) as conn, conn:
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
            if found.unreadable:
                self.notes.append(f"{table}: image bytes that are neither JPEG nor PNG (kept "
                                  f"as they are), frames {examples(found.unreadable)}")
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
        for alias in sorted(aliases, key=lambda a: a == "video"):
            rows = [(p.legacy_table, p.legacy_rows, p.legacy_sha256, p.new_table, p.new_rows,
                     p.new_sha256) for p in proofs]
            if alias == "video":
                rows += [(FILE_PROOF_PREFIX + KINDS[a].file_name, None, None,
                          "file", *file_fingerprint(self.path(a)))
                         for a in aliases if a != "video"]
            with self._reopened(alias) as conn:
                with conn:
                    conn.executemany(
                        "INSERT INTO main.migration_proof (legacy_table, legacy_rows,"
                        " legacy_sha256, new_table, new_rows, new_sha256)"
                        " VALUES (?, ?, ?, ?, ?, ?)", rows)
                    if alias == "video":
                        conn.execute(
                            "INSERT INTO main.migration (id, legacy_file, legacy_size_bytes,"
                            " legacy_mtime_ns, tool_version, source_status, installed_files,"
                            " notes) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                            (OLD_FILE, self.legacy_stat.st_size, self.legacy_stat.st_mtime_ns,
                             f"vabatch {__version__}", self.video.status,
                             json.dumps(installed), json.dumps(self.notes)))
                # At rest every file is a plain rollback-journal database.
                conn.execute("PRAGMA journal_mode = DELETE")
