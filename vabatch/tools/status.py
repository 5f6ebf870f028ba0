"""``vabatch status``: which databases each video has, with rows and sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import apsw

from vabatch.dataroot import list_video_dirs
from vabatch.db import DATABASE_ORDER, KINDS, VideoDatabase
from vabatch.db.video_database import LEGACY_FILE, is_legacy_file
from vabatch.errors import VabatchError


@dataclass
class DatabaseStatus:
    state: str  # 'present', 'missing', 'damaged' or 'legacy'
    rows: int | None = None
    size_bytes: int | None = None
    error: str | None = None
    freshness: str | None = None  # present files: 'done', or 'stale' (its inputs changed)
    failed: str | None = None  # why the latest run of its stage failed (from runs.db)
    side_rows: int | None = None  # rows of the kind's side table (e.g. not captions)

    @property
    def summary(self) -> str:
        """One word: done, stale, failed, missing, damaged or legacy."""
        if self.failed is not None:
            return "failed"
        return self.freshness or self.state


@dataclass
class VideoStatus:
    video_id: str
    video_dir: str
    source_name: str | None
    databases: dict[str, DatabaseStatus] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "video_id": self.video_id,
            "video_dir": self.video_dir,
            "source_name": self.source_name,
            "databases": {alias: vars(status) | {"summary": status.summary}
                          for alias, status in self.databases.items()},
        }


def video_status(video_dir: Path) -> VideoStatus:
    """Present/missing, row count of the main table and file size of each database.

    Each database is opened on its own: a damaged file is ``damaged`` (with the reason),
    and the others are still read."""
    status = VideoStatus(video_dir.name, str(video_dir), None)
    if not (video_dir / KINDS["video"].file_name).exists() and \
            _is_legacy(video_dir / LEGACY_FILE):
        _legacy_status(video_dir, status)
        return status
    for alias in DATABASE_ORDER:
        path = video_dir / KINDS[alias].file_name
        if not path.exists():
            status.databases[alias] = DatabaseStatus("missing")
            continue
        try:
            with VideoDatabase(video_dir, only=(alias,), require=(alias,)) as db:
                kind = KINDS[alias]
                rows = db.execute(f"SELECT count(*) FROM {alias}.{kind.main_table}"
                                  f" WHERE {kind.main_where}").fetchall()[0][0]
                if alias == "video":
                    status.source_name = _source_name(db)
                side_rows = _side_rows(db, alias)
            status.databases[alias] = DatabaseStatus("present", rows, path.stat().st_size,
                                                     side_rows=side_rows)
        except (VabatchError, apsw.Error) as error:  # a damaged file is a status, not a crash
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            if isinstance(error, apsw.Error):
                message = f"{path}: {type(error).__name__}: {message}"
            status.databases[alias] = DatabaseStatus("damaged", None, path.stat().st_size,
                                                     message)
    return status


def _side_rows(db: VideoDatabase, alias: str) -> int | None:
    """Rows of the kind's side table (e.g. candidates that are not captions), if any."""
    side = KINDS[alias].side_table
    if side is None or not db.execute(f"SELECT 1 FROM {alias}.sqlite_master WHERE name = ?",
                                      (side[0],)).fetchall():
        return None
    return db.execute(f"SELECT count(*) FROM {alias}.{side[0]}").fetchall()[0][0]


def _is_legacy(path: Path) -> bool:
    try:
        return is_legacy_file(path)
    except VabatchError:
        return False


def _legacy_status(video_dir: Path, status: VideoStatus) -> None:
    try:
        with VideoDatabase(video_dir) as db:
            tables = {name for (name,) in db.execute(
                "SELECT name FROM video.sqlite_master WHERE type = 'table'")}
            for alias in DATABASE_ORDER:
                kind = KINDS[alias]
                rows = (db.execute(f"SELECT count(*) FROM video.{kind.main_table}")
                        .fetchall()[0][0] if kind.main_table in tables else None)
                status.databases[alias] = DatabaseStatus(
                    "legacy", rows, db.path(alias).stat().st_size)
            status.source_name = _source_name(db)
    except (VabatchError, apsw.Error) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        size = (video_dir / LEGACY_FILE).stat().st_size
        status.databases = {alias: DatabaseStatus("damaged", None, size, message)
                            for alias in DATABASE_ORDER}


def stage_freshness(video_dir: Path, alias: str, data_root: Path | None) -> str:
    """'done' when the database was made from its current inputs with the options `vabatch
    run` uses (the defaults; for OCR the video's own recorded settings), 'stale' when a
    re-run would change it."""
    from vabatch.stages.registry import stage_writing

    stage = stage_writing(alias)
    try:
        fresh = stage is None or stage.up_to_date is None or stage.up_to_date(video_dir,
                                                                               data_root)
    except (VabatchError, apsw.Error):
        return "stale"  # an input it needs is missing, unreadable or damaged
    return "done" if fresh else "stale"


def add_freshness(status: VideoStatus, data_root: Path | None) -> None:
    """Fill in ``freshness`` of the present databases (stage order: a stale input makes
    every later database stale too)."""
    upstream_stale = False
    for alias in DATABASE_ORDER:
        database = status.databases.get(alias)
        if database is None or database.state != "present":
            continue
        fresh = stage_freshness(Path(status.video_dir), alias, data_root)
        database.freshness = "stale" if upstream_stale or fresh == "stale" else "done"
        upstream_stale = database.freshness == "stale"


def _source_name(db: VideoDatabase) -> str | None:
    column = "video_path" if db.legacy else "source_name"
    rows = db.execute(f"SELECT {column} FROM video.video_metadata").fetchall()
    return Path(rows[0][0]).name if rows and rows[0][0] else None


def add_failures(statuses: list[VideoStatus], data_root: Path) -> None:
    """Mark the databases whose stage failed in its latest run (runs.db), with the error."""
    from vabatch.engine import failed_tasks
    from vabatch.stages.registry import STAGES

    by_video = {s.video_id: s for s in statuses}
    for row in failed_tasks(data_root, list(by_video)):
        status = by_video.get(row["video_id"])
        stage = STAGES.get(row["stage"])
        alias = stage.database if stage is not None else None
        if status is not None and alias in status.databases:
            status.databases[alias].failed = row["error"] or "failed"


def collect_status(data_root: Path, video_dirs: list[Path] | None = None,
                   freshness: bool = True) -> list[VideoStatus]:
    """Status of the given video directories, or of all under the data root; with
    ``freshness``, whether each present database is up to date, and which stages failed
    in their latest run."""
    statuses = [video_status(d) for d in (video_dirs or list_video_dirs(data_root))]
    if freshness:
        for status in statuses:
            add_freshness(status, data_root)
        add_failures(statuses, data_root)
    return statuses
