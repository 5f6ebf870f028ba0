"""``vabatch status``: which databases each video has, with rows and sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import apsw

from vabatch.dataset import list_video_dirs
from vabatch.db import KINDS, STAGE_ORDER, VideoDatabase
from vabatch.errors import VabatchError


@dataclass
class DatabaseStatus:
    state: str  # 'present', 'missing', 'damaged' or 'legacy'
    rows: int | None = None
    size_bytes: int | None = None
    error: str | None = None


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
            "databases": {alias: vars(status) for alias, status in self.databases.items()},
        }


def video_status(video_dir: Path) -> VideoStatus:
    """Present/missing, row count of the main table and file size of each database."""
    status = VideoStatus(video_dir.name, str(video_dir), None)
    try:
        with VideoDatabase(video_dir) as db:
            for alias in STAGE_ORDER:
                kind = KINDS[alias]
                if not db.has(alias):
                    status.databases[alias] = DatabaseStatus("missing")
                    continue
                if db.legacy:
                    tables = {name for (name,) in db.execute(
                        "SELECT name FROM video.sqlite_master WHERE type = 'table'")}
                    rows = (db.execute(f"SELECT count(*) FROM video.{kind.main_table}")
                            .fetchall()[0][0] if kind.main_table in tables else None)
                    status.databases[alias] = DatabaseStatus(
                        "legacy", rows, db.path(alias).stat().st_size)
                    continue
                rows = db.execute(f"SELECT count(*) FROM {alias}.{kind.main_table}").fetchall()
                status.databases[alias] = DatabaseStatus(
                    "present", rows[0][0], db.path(alias).stat().st_size)
            if db.has("video"):
                status.source_name = _source_name(db)
    except (VabatchError, apsw.Error) as error:  # a damaged file is a status, not a crash
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        for alias in STAGE_ORDER:
            path = video_dir / KINDS[alias].file_name
            if not path.exists():
                status.databases[alias] = DatabaseStatus("missing")
            elif str(path) in message or not isinstance(error, VabatchError):
                status.databases[alias] = DatabaseStatus(
                    "damaged", None, path.stat().st_size, message)
            else:  # another file of the directory stopped the open: this one is unread
                status.databases[alias] = DatabaseStatus("unread", None, path.stat().st_size)
    return status


def _source_name(db: VideoDatabase) -> str | None:
    column = "video_path" if db.legacy else "source_name"
    rows = db.execute(f"SELECT {column} FROM video.video_metadata").fetchall()
    return Path(rows[0][0]).name if rows and rows[0][0] else None


def collect_status(data_root: Path, video_dirs: list[Path] | None = None) -> list[VideoStatus]:
    """Status of the given video directories, or of all under the data root."""
    return [video_status(d) for d in (video_dirs or list_video_dirs(data_root))]
