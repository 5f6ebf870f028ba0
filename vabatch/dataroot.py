"""Where things live under the data root, and how users name videos on the command line."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from vabatch.errors import InputError
from vabatch.fsutil import owner_is_dead, proven_inside, remove_tree_entry

VIDEO_ID_LENGTH = 16  # hex digits of the SHA-256 of the video's bytes
STAGING_DIR = ".staging"  # under videos/: folders being built, renamed into place when whole

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".ts", ".mts", ".m2ts", ".flv",
    ".wmv", ".mpg", ".mpeg", ".3gp", ".ogv",
})


def resolve_data_root(data: Path | None) -> Path:
    """The data root: ``--data``, else ``$VABATCH_DATA``, else ``./data``."""
    if data is None:
        data = Path(os.environ.get("VABATCH_DATA") or "data")
    return Path(data).absolute()


def videos_root(data_root: Path) -> Path:
    return data_root / "videos"


def video_dir_for(data_root: Path, video_id: str) -> Path:
    """``videos/<first two chars>/<video_id>``."""
    return videos_root(data_root) / video_id[:2] / video_id


def staging_root(data_root: Path) -> Path:
    return videos_root(data_root) / STAGING_DIR


def checked_staging_root(data_root: Path) -> Path:
    """The staging folder, proven to lie inside ``videos/`` (it is written and emptied)."""
    return proven_inside(videos_root(data_root), staging_root(data_root))


def checked_video_dir(data_root: Path, video_id: str) -> Path:
    """A video directory about to be written, proven to lie inside ``videos/``."""
    return proven_inside(videos_root(data_root), video_dir_for(data_root, video_id))


def require_writable(data_root: Path) -> None:
    """Raise one clear line when the data root (or its ``videos/``) cannot be written: a
    read-only file system or no write permission (stages, ingest and runs.db write there)."""
    for path in (Path(data_root), videos_root(data_root)):
        if not path.exists() or os.access(path, os.W_OK):
            continue
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
        raise InputError(f"{path}: " + ("on a read-only file system" if read_only else
                                        "no write permission")
                         + "; vabatch cannot write its results there")


def list_video_dirs(data_root: Path) -> list[Path]:
    """Every video directory under the data root, sorted by video id."""
    root = videos_root(data_root)
    if not root.is_dir():
        return []
    found = []
    for shard in root.iterdir():
        if shard.name.startswith(".") or shard.is_symlink() or not shard.is_dir():
            continue
        found.extend(d for d in shard.iterdir()
                     if d.is_dir() and not d.is_symlink() and not d.name.startswith("."))
    return sorted(found, key=lambda d: d.name)


def linked_video_dirs(data_root: Path) -> list[Path]:
    """Shards and video directories that are symbolic links: never listed as videos (a
    stage would write wherever they lead), reported by ``verify``."""
    root = videos_root(data_root)
    if not root.is_dir():
        return []
    found = []
    for shard in root.iterdir():
        if shard.name.startswith("."):
            continue
        if shard.is_symlink():
            found.append(shard)
        elif shard.is_dir():
            found.extend(d for d in shard.iterdir()
                         if d.is_symlink() and not d.name.startswith("."))
    return sorted(found)


def select_video_dirs(data_root: Path, names: list[str] | None) -> list[Path]:
    """The video directories named by ``names`` (all when empty).

    A name is a video id or a unique prefix of one (at least 4 characters), a video
    directory path, the path of an ingested video file, or the file name or stem of one.
    """
    if not names and not Path(data_root).is_dir():
        raise InputError(f"{data_root}: no such data root (give --data DIR or set "
                         "VABATCH_DATA)")
    all_dirs = list_video_dirs(data_root)
    if not names:
        return all_dirs
    selected: list[Path] = []
    for name in names:
        match = _match_video(name, all_dirs, data_root)
        if match not in selected:
            selected.append(match)
    return selected


def _match_video(name: str, all_dirs: list[Path], data_root: Path) -> Path:
    as_path = Path(name)
    if as_path.is_dir():
        if as_path.resolve() in {d.resolve() for d in all_dirs}:
            return as_path.absolute()
        placed = placed_copy(as_path, data_root)
        if placed is not None:  # a migrated legacy directory: its place in the data root
            return placed
    if as_path.is_file():  # the video file itself, as given to ingest
        ingested = _ingested_from(as_path, all_dirs)
        if ingested is not None:
            return ingested
    if len(name) >= 4:
        by_id = [d for d in all_dirs if d.name.startswith(name.lower())]
        if len(by_id) == 1:
            return by_id[0]
        if len(by_id) > 1:
            raise InputError(f"{name}: ambiguous video id prefix ({len(by_id)} videos match)")
    by_source = [d for d in all_dirs if _source_names(d) & {name, Path(name).stem}]
    if len(by_source) == 1:
        return by_source[0]
    if len(by_source) > 1:
        raise InputError(f"{name}: {len(by_source)} videos have this source name; use the id"
                         " (or the path of the video file)")
    raise InputError(f"{name}: no such video in the data root (see `vabatch status`)")


def migrated_video_id(video_dir: Path) -> str | None:
    """The id a directory made by ``vabatch migrate`` takes in a data root (None if it is
    not one): the first 16 hex digits of the video's SHA-256 when it is known (the id
    ingesting that file gives), else a stable id derived from the legacy file's proven
    contents (its video_metadata and full_frames table hashes)."""
    from vabatch.db.files import sqlite_uri
    from vabatch.db.video_database import open_connection

    video_db = Path(video_dir) / "video.db"
    if not video_db.is_file():
        return None
    try:
        conn = open_connection(sqlite_uri(video_db, read_only=True))
        try:
            if not conn.execute("SELECT 1 FROM migration").fetchall():
                return None
            (content_sha256,) = conn.execute(
                "SELECT content_sha256 FROM video_metadata").fetchone() or ("",)
            proofs = conn.execute(
                "SELECT legacy_table, coalesce(legacy_sha256, '') FROM migration_proof"
                " WHERE legacy_table IN ('video_metadata', 'full_frames')"
                " ORDER BY legacy_table").fetchall()
        finally:
            conn.close()
    except Exception:  # not a migrated video.db (or damaged): no id to derive
        return None
    if is_sha256(content_sha256):
        return content_sha256[:VIDEO_ID_LENGTH]
    text = "vabatch-legacy-video\n" + "\n".join(f"{t}={h}" for t, h in proofs)
    return hashlib.sha256(text.encode()).hexdigest()[:VIDEO_ID_LENGTH]


def is_sha256(value: object) -> bool:
    """True for 64 lower-case hex digits (a content hash, not a stand-in like 'unknown')."""
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def placed_copy(directory: Path, data_root: Path) -> Path | None:
    """Where ``vabatch migrate`` placed a migrated legacy directory in the data root, when
    it is there; None otherwise."""
    video_id = migrated_video_id(directory)
    if video_id is None:
        return None
    target = video_dir_for(Path(data_root).absolute(), video_id)
    return target if (target / "video.db").is_file() else None


def _ingested_from(source: Path, all_dirs: list[Path]) -> Path | None:
    """The video directory ingested from the file ``source``: the one whose recorded
    ``source_path`` it is, else the one under its content id (moved or renamed since)."""
    from vabatch.db import VideoDatabase
    from vabatch.media import sha256_of_file

    wanted, recorded = os.path.normpath(source.absolute()), []
    for video_dir in all_dirs:
        try:
            with VideoDatabase(video_dir) as db:
                if not db.has("video") or "source_path" not in db.columns("video",
                                                                         "video_metadata"):
                    continue
                rows = db.execute("SELECT source_path FROM video.video_metadata").fetchall()
        except Exception:  # a damaged directory simply does not match
            continue
        if any(path == wanted for (path,) in rows):
            recorded.append(video_dir)
    if len(recorded) == 1:
        return recorded[0]
    try:  # not recorded, or the file there was replaced and ingested again
        video_id = sha256_of_file(source)[:VIDEO_ID_LENGTH]
    except OSError:
        return None
    return next((d for d in all_dirs if d.name == video_id), None)


def _source_names(video_dir: Path) -> set[str]:
    from vabatch.db import VideoDatabase

    try:
        with VideoDatabase(video_dir) as db:
            if not db.has("video") or db.legacy:
                return set()
            rows = db.execute("SELECT source_name FROM video.video_metadata").fetchall()
    except Exception:  # a damaged directory simply does not match by name
        return set()
    return {value for (source_name,) in rows for value in (source_name, Path(source_name).stem)}


def remove_abandoned_staging(data_root: Path) -> list[Path]:
    """Delete staging folders left by killed processes of this host; return what went.

    A staging folder that is a symbolic link leading out of ``videos/`` is refused (its
    entries are not ours); an entry that is a symbolic link is unlinked, never followed."""
    root = staging_root(data_root)
    removed = []
    if os.path.lexists(root):
        checked_staging_root(data_root)
    if root.is_dir():
        for entry in root.iterdir():
            _, _, tag = entry.name.partition(".")
            if owner_is_dead(tag) or entry.is_symlink():
                remove_tree_entry(entry)
                removed.append(entry)
    return removed
