"""``vabatch verify``: integrity of every database, and consistency across them.

Per file: ``PRAGMA integrity_check``, application_id, user_version, required tables, the
checksum of every stored image and text (vabatch/db/checksums.py), and stray sidecar or
temporary files. Across files: every ``frame_index`` names a frame the video has, label rows
name an OCR box, and the stored source video matches its hash. ``deep`` also decodes every
stored image strictly: a decoder warning is damage.

Videos are checked side by side, one thread per core (SQLite, XXH3 and file reads release
the GIL), and each stored source video is hashed beside its databases; the reports, and
the problems in each, come out in the order of a check one at a time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import apsw

from vabatch.dataroot import (
    VIDEO_ID_LENGTH,
    is_sha256,
    linked_video_dirs,
    list_video_dirs,
    migrated_video_id,
    videos_root,
)
from vabatch.db import DATABASE_ORDER, KINDS, VideoDatabase, checksums, latest_version
from vabatch.db.files import open_elsewhere, sidecars, sqlite_uri
from vabatch.db.schema import read_header
from vabatch.db.video_database import (
    LEGACY_FILE,
    is_hot_journal_error,
    is_legacy_file,
    open_connection,
    stale_sidecars,
)
from vabatch.errors import InputError, VabatchError
from vabatch.fsutil import UnsafeNameError, child_path, is_unwritable, temporary_owner_alive
from vabatch.media import check_image, sha256_of_file, xxh3_of_file

MAX_EXAMPLES = 5  # frame indexes quoted per finding
MMAP_BYTES = 1 << 31  # SQLite caps mmap at 2 GB by default; it maps at most the file
MAX_THREADS = 8  # checks side by side at most (one per core by default)


@dataclass
class Problem:
    file: str
    message: str


@dataclass
class VideoReport:
    video_id: str
    video_dir: str
    checked: list[str] = field(default_factory=list)  # databases that were checked
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not problems: e.g. a stage is writing

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, path: Path, message: str) -> None:
        self.problems.append(Problem(str(path), message))

    def to_json(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def verify_video(video_dir: Path, deep: bool = False, against_legacy: bool = False,
                 hash_source: Callable[[Path], str] = xxh3_of_file) -> VideoReport:
    """Check one video directory; every finding names the file and what is wrong.

    ``against_legacy``: also recompute the migration proof against captions.db.old.
    ``hash_source``: the XXH3-128 (hex) of the stored source video (one computed ahead).
    """
    video_dir = Path(video_dir)
    report = VideoReport(video_dir.name, str(video_dir))
    if not video_dir.is_dir():
        report.add(video_dir, "no such video directory")
        return report
    _check_stray_files(video_dir, report)
    legacy_path = video_dir / LEGACY_FILE
    if not (video_dir / KINDS["video"].file_name).exists() and _is_legacy(legacy_path):
        report.checked.append("legacy")
        _check_integrity(legacy_path, report)
        return report
    present = [alias for alias in DATABASE_ORDER if (video_dir / KINDS[alias].file_name).exists()]
    sound = [alias for alias in DATABASE_ORDER if _check_file(video_dir, alias, report)]
    if sound and sound == present:  # cross-checks need every file readable
        try:
            _check_across(video_dir, report, deep, hash_source)
        except (VabatchError, apsw.Error) as error:
            report.add(video_dir, f"cross-database checks failed: {error}")
    # -- begin: --against-legacy (vabatch migrate) --
    if against_legacy:
        from vabatch.tools.migrate import check_against_legacy

        report.checked.append("against legacy")
        for path, message in check_against_legacy(video_dir):
            report.add(path, message)
    # -- end: --against-legacy --
    return report


def _is_legacy(path: Path) -> bool:
    try:
        return is_legacy_file(path)
    except VabatchError:
        return False


def _check_stray_files(video_dir: Path, report: VideoReport) -> None:
    for alias in DATABASE_ORDER:
        database = video_dir / KINDS[alias].file_name
        found = sidecars(database)
        if found and open_elsewhere([database, *found]):
            report.notes.append(f"{database.name}: being written by a running stage")
            continue
        if found and stale_sidecars(database) == found:
            report.notes.append(f"{database.name}: WAL files left by a reader, ignored by SQLite"
                                " in rollback mode; the file alone is complete (the next write"
                                " removes them)")
            continue
        for sidecar in found:
            report.add(sidecar, "stray SQLite sidecar file (a stage was killed): the "
                       "database is not self-contained; the next stage run folds it in")
    for leftover in sorted(video_dir.glob(".*.tmp*")):
        if temporary_owner_alive(leftover):
            report.notes.append(f"{leftover.name}: being written by a running process")
        else:
            report.add(leftover, "leftover temporary file of an interrupted write")


def _check_integrity(path: Path, report: VideoReport) -> apsw.Connection | None:
    """Open ``path`` read-only and run integrity_check; None (and a problem) if damaged."""
    try:
        conn = open_connection(sqlite_uri(path, read_only=True, immutable=is_unwritable(path)))
    except apsw.Error as error:
        report.add(path, f"cannot be opened: {error}")
        return None
    try:
        # Pages straight from the page cache, not copied into SQLite's: the whole file is
        # read twice (integrity_check, then the checksums).
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}").fetchall()
        findings = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except apsw.Error as error:
        conn.close()
        if is_hot_journal_error(error):
            report.add(path, "half-written by a process killed mid-commit: its journal "
                       "undoes that (the next vabatch command that reads it rolls it back)")
        else:
            report.add(path, f"damaged: {error}")
        return None
    if findings != ["ok"]:
        conn.close()
        shown = "; ".join(findings[:MAX_EXAMPLES])
        more = f" (+{len(findings) - MAX_EXAMPLES} more)" if len(findings) > MAX_EXAMPLES else ""
        report.add(path, f"integrity_check failed: {shown}{more}")
        return None
    return conn


def _check_file(video_dir: Path, alias: str, report: VideoReport) -> bool:
    """Per-file checks; True when the file is present and sound."""
    kind = KINDS[alias]
    path = video_dir / kind.file_name
    if not path.exists():
        if alias == "video":
            report.add(path, "missing: every video directory needs video.db (run ingest)")
        return False
    report.checked.append(alias)
    conn = _check_integrity(path, report)
    if conn is None:
        return False
    try:
        app_id, version = read_header(conn)
        sound = True
        if app_id != kind.application_id:
            report.add(path, f"application_id is {app_id:#x}, expected {kind.application_id:#x}"
                       f" for {alias}")
            sound = False
        latest = latest_version(alias)
        if not 1 <= version <= latest:
            report.add(path, f"user_version is {version}, expected 1..{latest}")
            sound = False
        tables = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in kind.required_tables:
            if table not in tables:
                report.add(path, f"required table {table!r} is missing")
                sound = False
        if sound:
            _check_checksums(conn, alias, path, report)
        return sound
    finally:
        conn.close()


def _check_checksums(conn: apsw.Connection, alias: str, path: Path,
                     report: VideoReport) -> None:
    """Every stored value against the checksum written with it; rows without one (written
    before checksums, or by code that does not set them) are a note, not a problem."""
    unchecked = []
    for checked in checksums.CHECKED.get(alias, ()):
        try:
            found = checksums.check_table(conn, "main", checked)
        except apsw.Error as error:
            report.add(path, f"{checked.table}: cannot be read to check its checksums ({error})")
            continue
        if found is None:
            if conn.execute("SELECT 1 FROM main.sqlite_master WHERE type = 'table'"
                            " AND name = ?", (checked.table,)).fetchall():
                unchecked.append(f"{checked.table} (made before checksums: all rows)")
            continue
        if found.damaged:
            report.add(path, f"{checked.table}: {checked.column} does not match its checksum "
                       f"(damaged bytes) in rows {_examples(found.damaged)}")
        if found.unchecked:
            unchecked.append(f"{checked.table} {found.unchecked} of {found.rows}")
    if unchecked:
        report.notes.append(f"{path.name}: rows without a checksum, not checked: "
                            + ", ".join(unchecked))


def _examples(values: list) -> str:
    shown = ", ".join(str(v) for v in values[:MAX_EXAMPLES])
    return shown + (f", ... ({len(values)} in all)" if len(values) > MAX_EXAMPLES else "")


def _check_across(video_dir: Path, report: VideoReport, deep: bool,
                  hash_source: Callable[[Path], str]) -> None:
    with VideoDatabase(video_dir) as db:
        if not db.has("video"):
            return
        video_path = db.path("video")
        metadata = db.execute(
            "SELECT content_sha256, frame_count, source_file, width, height"
            " FROM video.video_metadata").fetchall()
        if len(metadata) != 1:
            report.add(video_path, f"video_metadata has {len(metadata)} rows, expected 1")
            return
        content_sha256, frame_count, source_file, width, height = metadata[0]
        in_data_root_layout = video_dir.parent.name == video_dir.name[:2]
        # Migrated without a known SHA-256: the id migrate derived from the legacy file.
        expected_id = (content_sha256[:VIDEO_ID_LENGTH] if is_sha256(content_sha256)
                       else migrated_video_id(video_dir) or content_sha256)
        if in_data_root_layout and video_dir.name != expected_id:
            report.add(video_path, f"directory name {video_dir.name} does not match the "
                       f"content hash {expected_id}")
        source_xxh3 = None
        if "source_xxh3" in db.columns("video", "video_metadata"):
            [(source_xxh3,)] = db.execute("SELECT source_xxh3 FROM video.video_metadata"
                                          ).fetchall()
        _check_source(video_dir, source_file, content_sha256,
                      None if deep else source_xxh3, report, hash_source)
        if "timing_note" in {row[1] for row in db.execute(
                "PRAGMA video.table_info(video_metadata)")}:
            [(timing_note,)] = db.execute("SELECT timing_note FROM video.video_metadata"
                                          ).fetchall()
            if timing_note:
                report.notes.append(f"video.db: {timing_note}")
        outside = _column(db, "SELECT frame_index FROM video.full_frames"
                          " WHERE frame_index < 0 OR frame_index >= ?", (frame_count,))
        if outside:
            report.add(video_path, f"full_frames beyond the video's {frame_count} frames: "
                       + _examples(outside))
        for alias, table in (("fullOCR", "full_frame_ocr"), ("fullOCR", "ocr_frames"),
                             ("layout", "full_frame_box_labels")):
            if db.has(alias):
                _check_frames_exist(db, alias, table, report)
        if db.has("layout"):
            if db.has("fullOCR"):
                _check_orphan_labels(db, report)
        if db.has("cropping"):
            outside = _column(db, "SELECT frame_index FROM cropping.cropped_frames"
                              " WHERE frame_index < 0 OR frame_index >= ?", (frame_count,))
            if outside:
                report.add(db.path("cropping"), f"cropped_frames beyond the video's "
                           f"{frame_count} frames: {_examples(outside)}")
        if db.has("captions"):
            bad = _column(db, "SELECT id FROM captions.captions WHERE start_frame_index < 0"
                          " OR end_frame_index > ? OR end_frame_index <= start_frame_index",
                          (frame_count,))
            if bad:
                report.add(db.path("captions"), "captions with a frame range outside "
                           f"[0, {frame_count}] or empty, ids: {_examples(bad)}")
            if db.execute("SELECT 1 FROM captions.sqlite_master"
                          " WHERE name = 'rejected_captions'").fetchall():
                rejected = _column(db, "SELECT reason FROM captions.rejected_captions")
                if rejected:
                    report.notes.append(
                        f"captions.db: {len(rejected)} read candidates are not captions"
                        " (each with its reason in rejected_captions)")
        if deep:
            _decode_all(db, "video", "SELECT frame_index, CAST(image_data AS BLOB), ?, ?"
                        " FROM video.full_frames ORDER BY frame_index", (width, height), report)
            if db.has("cropping"):  # strips: no size check (legacy bands may not match)
                _decode_all(db, "cropping", "SELECT frame_index, CAST(image_data AS BLOB),"
                            " NULL, NULL FROM cropping.cropped_frames ORDER BY frame_index",
                            None, report)


def _check_orphan_labels(db: VideoDatabase, report: VideoReport) -> None:
    """Labels naming OCR boxes fullOCR lacks: a problem, or a note once a person accepted
    them (`vabatch annotate labels orphans --accept`)."""
    from vabatch.db.labels import orphans_in

    orphans = orphans_in(db)
    pending = sorted({f for f, _, _, _, accepted in orphans if not accepted})
    accepted = sorted({f for f, _, _, _, ok in orphans if ok})
    if pending:
        report.add(db.path("layout"), "labels name OCR boxes that fullOCR does not have, in "
                   f"frames {_examples(pending)} (`vabatch annotate labels orphans "
                   "--accept|--drop` settles them)")
    if accepted:
        count = sum(1 for *_, ok in orphans if ok)
        report.notes.append(f"layout.db: {count} labels name OCR boxes that fullOCR does not "
                            f"have, accepted by a person, in frames {_examples(accepted)}")


def _check_frames_exist(db: VideoDatabase, alias: str, table: str,
                        report: VideoReport) -> None:
    """Every frame ``alias.table`` names must be one video.full_frames holds."""
    orphans = _column(db, f"SELECT DISTINCT frame_index FROM {alias}.{table}"
                      " WHERE frame_index NOT IN (SELECT frame_index FROM video.full_frames)"
                      " ORDER BY frame_index")
    if orphans:
        report.add(db.path(alias), f"{table} rows name frames that video.full_frames does "
                   f"not have: {_examples(orphans)}")


def _column(db: VideoDatabase, sql: str, bindings=None) -> list:
    return [row[0] for row in db.execute(sql, bindings)]


def _check_source(video_dir: Path, source_file: str | None, content_sha256: str,
                  source_xxh3: str | None, report: VideoReport,
                  hash_source: Callable[[Path], str]) -> None:
    """The stored video against its XXH3-128 when ingest recorded one (fast), else (and
    with --deep) against its SHA-256."""
    if not source_file:
        return  # migrated without its video: nothing to compare
    try:  # a name read from a database is data, not a path
        source = child_path(video_dir, source_file)
    except UnsafeNameError as error:
        report.add(video_dir / "video.db", f"video_metadata.source_file: {error}")
        return
    if not source.exists():
        report.add(source, "the source video named in video_metadata is missing")
    elif source_xxh3 and hash_source(source) != source_xxh3:
        report.add(source, "the source video's XXH3-128 does not match video_metadata")
    elif not source_xxh3 and sha256_of_file(source) != content_sha256:
        report.add(source, "the source video's SHA-256 does not match video_metadata")


def _decode_all(db: VideoDatabase, alias: str, sql: str, bindings,
                report: VideoReport) -> None:
    """Decode every image ``sql`` gives as (frame_index, bytes, width, height): one that does
    not decode cleanly (any decoder warning) or to another size is damage."""
    table = sql.split(f"FROM {alias}.")[1].split()[0]
    broken, first_problem = [], None
    for frame_index, image_data, width, height in db.execute(sql, bindings):
        size, problem = check_image(image_data)
        if problem is None and width and height and size != (width, height):
            problem = f"decodes to {size[0]}x{size[1]}, expected {width}x{height}"
        if problem is not None:
            broken.append(frame_index)
            first_problem = first_problem or f"frame {frame_index}: {problem}"
    if broken:
        report.add(db.path(alias), f"{table}: images that do not decode cleanly to their "
                   f"size, frames {_examples(broken)} ({first_problem})")


def verify_videos(data_root: Path, video_dirs: list[Path] | None = None,
                  deep: bool = False, against_legacy: bool = False,
                  threads: int | None = None) -> list[VideoReport]:
    """Reports for the given video directories, or for all under the data root (with a
    problem for each shard or video directory that is a symbolic link: never listed as a
    video, since a stage would write wherever it leads).

    ``threads``: how many check side by side (default: one per core, at most 8); the
    reports are the same whatever the number.
    """
    if threads is None:
        try:
            threads = min(MAX_THREADS, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            threads = min(MAX_THREADS, os.cpu_count() or 1)
    if video_dirs:
        return _verify_each(video_dirs, deep, against_legacy, threads)
    reports = _verify_each(list_video_dirs(data_root), deep, against_legacy, threads)
    links = linked_video_dirs(data_root)
    if not reports and not links:  # checking nothing is not a pass
        raise InputError(f"{data_root}: no videos to verify (no video directory under "
                         f"{videos_root(data_root)}; give --data the data root)")
    for link in links:
        report = VideoReport(link.name, str(link))
        report.add(link, "a symbolic link, not a video directory: vabatch reads and writes "
                   "nothing through it (put the directory itself there)")
        reports.append(report)
    return reports


def _verify_each(video_dirs: list[Path], deep: bool, against_legacy: bool,
                 threads: int) -> list[VideoReport]:
    """:func:`verify_video` of each directory, in order, on up to ``threads`` threads; with
    the stored source videos hashed ahead (queued first: a check that waits for its hash
    never waits for a thread)."""
    threads = min(threads, 2 * len(video_dirs))
    if threads < 2:
        return [verify_video(d, deep, against_legacy) for d in video_dirs]
    pool = ThreadPoolExecutor(threads, thread_name_prefix="verify")
    try:
        # --deep checks the SHA-256 instead: nothing to hash ahead.
        ahead = {} if deep else {Path(d): pool.submit(_hash_recorded_source, Path(d))
                                 for d in video_dirs}

        def hash_source(source: Path) -> str:
            hashed = ahead.get(source.parent)
            found = hashed.result() if hashed is not None else None
            if found is not None and found[0] == source:
                return found[1]
            return xxh3_of_file(source)

        checks = [pool.submit(verify_video, d, deep, against_legacy, hash_source)
                  for d in video_dirs]
        return [check.result() for check in checks]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _hash_recorded_source(video_dir: Path) -> tuple[Path, str] | None:
    """(path, XXH3-128) of the stored source video plain verify checks (video_metadata's
    source_file, when ingest recorded its XXH3-128); None when there is none, or when
    video.db cannot say or the file cannot be read (the check itself then says why)."""
    path = video_dir / KINDS["video"].file_name
    if not path.is_file():
        return None
    try:
        # immutable: no lock, and no sidecar made beside a file the check has not looked
        # at yet. A name read from a file being written may be wrong: it is only used when
        # the check reads the same one.
        conn = open_connection(sqlite_uri(path, read_only=True, immutable=True))
        try:
            [(source_file, source_xxh3)] = conn.execute(
                "SELECT source_file, source_xxh3 FROM video_metadata").fetchall()
        finally:
            conn.close()
        if not source_xxh3:
            return None
        source = child_path(video_dir, source_file)
        return source, xxh3_of_file(source)
    except (apsw.Error, OSError, ValueError, VabatchError):
        return None
