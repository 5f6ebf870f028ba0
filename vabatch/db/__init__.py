"""Database layer: VideoDatabase, schemas and their versions."""

from vabatch.db.schema import DATABASE_ORDER, KINDS, DatabaseKind, apply_schema, latest_version
from vabatch.db.video_database import VideoDatabase

__all__ = ["KINDS", "DATABASE_ORDER", "DatabaseKind", "VideoDatabase", "apply_schema",
           "latest_version"]
