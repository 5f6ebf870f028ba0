"""Database layer: VideoDatabase, schemas and their versions."""

from vabatch.db.schema import KINDS, STAGE_ORDER, DatabaseKind, apply_schema, latest_version
from vabatch.db.video_database import VideoDatabase

__all__ = ["KINDS", "STAGE_ORDER", "DatabaseKind", "VideoDatabase", "apply_schema",
           "latest_version"]
