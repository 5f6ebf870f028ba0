"""``vabatch backup`` and ``vabatch restore``: consistent copies of a data root.

Every SQLite file is copied with SQLite's online backup API (apsw ``Connection.backup``): the
copy is one committed state of the file, also while a stage is writing it, and is left as a
self-contained rollback-journal file. Source videos (never edited in place) are hard-linked
where the file system allows, else copied; other files are copied. The copy is built under a
temporary name next to DEST and renamed into place, then ``vabatch verify``'s checks run on it.
Restore copies a backup's videos (and, for a whole backup, its data-root files) back the same
way, each video directory built in ``videos/.staging`` and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import apsw

from vabatch import __version__
from vabatch.dataroot import (
    STAGING_DIR,
    VIDEO_EXTENSIONS,
    checked_staging_root,
    checked_video_dir,
    list_video_dirs,
    remove_abandoned_staging,
    require_writable,
    select_video_dirs,
    videos_root,
)
from vabatch.db.files import sqlite_uri
from vabatch.db.video_database import (
    DEFAULT_BUSY_TIMEOUT_MS,
    is_hot_journal_error,
    open_connection,
    roll_back_hot_journal,
)
from vabatch.errors import InputError
from vabatch.fsutil import (
    check_destination,
    child_path,
    fsync_path,
    install_folder,
    is_unwritable,
    process_tag,
    proven_inside,
    remove_abandoned_builds,
    remove_tree_entry,
    sync_filesystem,
    temporary_name,
)
from vabatch.tools.verify import VideoReport, verify_videos

FORMAT = "vabatch-backup/1"
MANIFEST = "backup.json"
SQLITE_MAGIC = b"SQLite format 3\x00"
SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")


@dataclass
class CopyResult:
    """What a backup or a restore copied, skipped, and how the copy verified."""

    destination: str
    videos: list[str] = field(default_factory=list)
    databases: int = 0  # SQLite files copied with the backup API
    linked: int = 0  # files hard-linked (source videos)
    copied: int = 0  # files copied byte for byte
    bytes: int = 0
    seconds: float = 0.0
    skipped: list[dict] = field(default_factory=list)  # {"path", "reason"}
    notes: list[str] = field(default_factory=list)
    reports: list[VideoReport] = field(default_factory=list)  # verify on the copy

    @property
    def problems(self) -> int:
        return sum(len(r.problems) for r in self.reports)

    def to_json(self) -> dict:
        data = {k: v for k, v in vars(self).items() if k != "reports"}
        return data | {"verified": self.problems == 0, "problems": self.problems,
                       "verify": [r.to_json() for r in self.reports]}


# -- copying one file ---------------------------------------------------------------------
def copy_database(source: Path, target: Path,
                  busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
    """A consistent copy of the SQLite file ``source`` as ``target`` (which must not exist),
    made with the online backup API: one committed state, even while others write. Not
    fsynced: ``target`` lies in a folder that is made durable whole (``sync_filesystem``)."""
    uri = sqlite_uri(source, read_only=True, immutable=is_unwritable(source))
    reader = open_connection(uri, busy_timeout_ms)
    try:
        try:
            reader.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except apsw.ReadOnlyError as error:  # a writer was killed mid-commit: undo it first
            if not is_hot_journal_error(error):
                raise
            reader.close()
            roll_back_hot_journal(source)
            reader = open_connection(uri, busy_timeout_ms)
        writer = apsw.Connection(str(target))
        try:
            # A new file in a folder nobody sees until it is complete: no journal, no syncs
            # (the caller makes the whole folder durable once, before renaming it in).
            writer.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF").fetchall()
            _run_backup(writer, reader, busy_timeout_ms)
            # The copy takes the source's header, WAL flag included: leave it self-contained.
            writer.execute("PRAGMA journal_mode = DELETE").fetchall()
        finally:
            writer.close()
    finally:
        reader.close()


def _run_backup(writer: apsw.Connection, reader: apsw.Connection, timeout_ms: int) -> None:
    deadline = time.monotonic() + timeout_ms / 1000
    with writer.backup("main", reader, "main") as copying:
        while not copying.done:
            try:
                copying.step(-1)  # all pages under one read lock: one committed state
            except (apsw.BusyError, apsw.LockedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)


def is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as stream:
            return stream.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def is_transient(name: str) -> bool:
    """SQLite sidecars, temporary files and the staging folder: never copied. Whatever they
    hold that is committed is in the copy of their database (read through SQLite)."""
    return name == STAGING_DIR or name.endswith(SIDECAR_SUFFIXES) or (
        name.startswith(".") and ".tmp" in name)


def _skip_reason(entry: Path) -> str | None:
    """Why an entry of a data root is not copied (None: it is copied)."""
    if entry.is_symlink():
        return "a symbolic link: vabatch copies nothing through links"
    if not entry.is_dir() and not entry.is_file():
        return "not a regular file or folder"
    return None


def copy_tree(source: Path, target: Path, result: CopyResult, link_videos: bool,
              on_file: Callable[[Path], None] | None = None) -> None:
    """Copy the folder ``source`` into the existing empty folder ``target``: SQLite files
    with the backup API, source videos linked (or copied), other files copied. Skipped
    entries are recorded with their reason (temporaries and sidecars silently, as they
    carry nothing committed that is not in the copy). Nothing is fsynced here: the caller
    makes the folder durable with one ``sync_folder`` before it is renamed into place."""
    for entry in sorted(source.iterdir()):
        if is_transient(entry.name):
            continue
        reason = _skip_reason(entry)
        if reason is not None:
            result.skipped.append({"path": str(entry), "reason": reason})
            continue
        destination = proven_inside(target, child_path(target, entry.name))
        if entry.is_dir():
            destination.mkdir()
            copy_tree(entry, destination, result, link_videos, on_file)
            continue
        if is_sqlite_file(entry):
            copy_database(entry, destination)
            result.databases += 1
        elif link_videos and entry.suffix.lower() in VIDEO_EXTENSIONS:
            try:
                os.link(os.path.realpath(entry), destination)
                result.linked += 1
            except OSError:  # another file system, or no hard links here
                shutil.copyfile(entry, destination)
                result.copied += 1
        else:
            shutil.copyfile(entry, destination)
            result.copied += 1
        result.bytes += destination.stat().st_size
        if on_file is not None:
            on_file(entry)


def sync_folder(folder: Path) -> None:
    """Make a folder built by ``copy_tree`` durable: its files' bytes (one ``syncfs``), then
    every folder's entries, deepest first."""
    sync_filesystem(folder)
    for directory in sorted((p for p in folder.rglob("*") if p.is_dir() and
                             not p.is_symlink()), key=lambda p: -len(p.parts)):
        fsync_path(directory)
    fsync_path(folder)


# -- backup --------------------------------------------------------------------------------
def _refuse_overlap(data_root: Path, destination: Path) -> None:
    real_root, real_destination = data_root.resolve(), destination.resolve()
    if real_destination == real_root or real_root in real_destination.parents \
            or real_destination in real_root.parents:
        raise InputError(f"{destination}: inside the data root {data_root} (or holding it); "
                         "back up to another folder")


def backup(data_root: Path, destination: Path, videos: Sequence[str] | None = None,
           force: bool = False, link_videos: bool = True,
           on_file: Callable[[Path], None] | None = None, verify: bool = True) -> CopyResult:
    """Copy the data root (or only the named videos) to ``destination``; then verify it
    (``verify=False``: not, for measuring the copy alone)."""
    started = time.monotonic()
    data_root, destination = Path(data_root).absolute(), Path(destination).absolute()
    if not videos_root(data_root).is_dir():
        raise InputError(f"{data_root}: no videos/ folder: not a vabatch data root")
    _refuse_overlap(data_root, destination)
    check_destination(destination, force)
    if not destination.parent.is_dir():
        raise InputError(f"{destination.parent}: no such folder")
    chosen = select_video_dirs(data_root, list(videos)) if videos else None
    if chosen is None and not list_video_dirs(data_root):
        raise InputError(f"{data_root}: no videos to back up (add some with `vabatch ingest`)")
    result = CopyResult(str(destination))
    remove_abandoned_builds(destination)  # a killed earlier run's half-made folder
    built = temporary_name(destination)
    remove_tree_entry(built)
    built.mkdir()
    try:
        if chosen is None:
            copy_tree(data_root, built, result, link_videos, on_file)
        else:
            for video_dir in chosen:
                shard = built / "videos" / video_dir.parent.name
                shard.mkdir(parents=True, exist_ok=True)
                copy_into = proven_inside(built, child_path(shard, video_dir.name))
                copy_into.mkdir()
                copy_tree(video_dir, copy_into, result, link_videos, on_file)
        (built / "videos").mkdir(exist_ok=True)
        result.videos = [d.name for d in list_video_dirs(built)]
        _write_manifest(built, data_root, result, whole=chosen is None)
        sync_folder(built)
        install_folder(built, destination)
    except BaseException:
        remove_tree_entry(built)
        raise
    result.reports = verify_videos(destination, list_video_dirs(destination)) \
        if result.videos and verify else []
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _write_manifest(built: Path, data_root: Path, result: CopyResult, whole: bool) -> None:
    manifest = {"format": FORMAT, "tool_version": __version__,
                "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "data_root": str(data_root), "whole_data_root": whole,
                "videos": result.videos, "skipped": result.skipped}
    child_path(built, MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n",
                                           encoding="utf-8")


def read_manifest(backup_dir: Path) -> dict:
    """The backup.json of a backup folder; a clear error when it is not one."""
    path = Path(backup_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{backup_dir}: not a vabatch backup (no readable {MANIFEST})") \
            from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{path}: not a {FORMAT} manifest")
    return manifest


# -- restore -------------------------------------------------------------------------------
def restore(backup_dir: Path, data_root: Path, videos: Sequence[str] | None = None,
            force: bool = False, on_file: Callable[[Path], None] | None = None) -> CopyResult:
    """Copy the videos of a backup (all, or the named ones) into ``data_root``.

    A video directory that exists in the data root is refused unless ``force`` (then it is
    replaced whole). A whole backup restored without naming videos also brings back the
    data-root files it holds (runs.db, ...): an existing one is kept unless ``force``.
    The backup is verified first, the restored videos after.
    """
    started = time.monotonic()
    backup_dir, data_root = Path(backup_dir).absolute(), Path(data_root).absolute()
    manifest = read_manifest(backup_dir)
    _refuse_overlap(data_root, backup_dir)
    chosen = select_video_dirs(backup_dir, list(videos)) if videos else list_video_dirs(
        backup_dir)
    if not chosen:
        raise InputError(f"{backup_dir}: the backup holds no videos")
    checked = verify_videos(backup_dir, chosen)
    if any(r.problems for r in checked):
        bad = [r.video_id for r in checked if r.problems]
        raise InputError(f"{backup_dir}: {len(bad)} videos of the backup do not verify "
                         f"({', '.join(bad[:3])}): see `vabatch verify --data {backup_dir}`")
    data_root.mkdir(parents=True, exist_ok=True)
    require_writable(data_root)
    videos_root(data_root).mkdir(exist_ok=True)
    remove_abandoned_staging(data_root)
    present = [d.name for d in chosen if checked_video_dir(data_root, d.name).exists()]
    if present and not force:
        raise InputError(f"{len(present)} of the videos are in {data_root} already "
                         f"({', '.join(present[:3])}): give --force to replace them")
    result = CopyResult(str(data_root))
    for video_dir in chosen:
        _restore_video(video_dir, data_root, result, on_file)
        result.videos.append(video_dir.name)
    if not videos and manifest.get("whole_data_root"):
        _restore_root_files(backup_dir, data_root, result, force)
    result.reports = verify_videos(data_root, [checked_video_dir(data_root, name)
                                               for name in result.videos])
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _restore_video(video_dir: Path, data_root: Path, result: CopyResult, on_file) -> None:
    """Build the video directory in staging, then rename it into place (the old one, if
    any, is moved aside into staging and removed after)."""
    staging = checked_staging_root(data_root)
    staging.mkdir(exist_ok=True)
    built = proven_inside(staging, child_path(staging, f"{video_dir.name}.{process_tag()}"))
    remove_tree_entry(built)
    built.mkdir()
    try:
        copy_tree(video_dir, built, result, link_videos=True, on_file=on_file)
        sync_folder(built)
        target = checked_video_dir(data_root, video_dir.name)
        target.parent.mkdir(exist_ok=True)
        aside = None
        if os.path.lexists(target):
            aside = child_path(staging, f"{video_dir.name}-old.{process_tag()}")
            os.replace(target, aside)
        os.replace(built, target)
        fsync_path(target.parent)
        if aside is not None:
            remove_tree_entry(aside)
    except BaseException:
        remove_tree_entry(built)
        raise


def _restore_root_files(backup_dir: Path, data_root: Path, result: CopyResult,
                        force: bool) -> None:
    """The data-root entries of a whole backup other than videos/ and backup.json."""
    for entry in sorted(backup_dir.iterdir()):
        if entry.name in ("videos", MANIFEST) or is_transient(entry.name) \
                or _skip_reason(entry) is not None:
            continue
        target = proven_inside(data_root, child_path(data_root, entry.name))
        if os.path.lexists(target) and not force:
            result.notes.append(f"{entry.name}: kept the one in {data_root} (give --force to "
                                "restore the backup's)")
            continue
        # Built in videos/.staging, which removes what a killed process left there.
        staging = checked_staging_root(data_root)
        staging.mkdir(exist_ok=True)
        holder = child_path(staging, f"root-{entry.name.lstrip('.')}.{process_tag()}")
        remove_tree_entry(holder)
        holder.mkdir()
        try:
            _copy_entry(entry, holder, result)
            sync_folder(holder)
            if os.path.lexists(target):
                remove_tree_entry(target)
            os.replace(child_path(holder, entry.name), target)
            fsync_path(data_root)
        finally:
            remove_tree_entry(holder)


def _copy_entry(entry: Path, holder: Path, result: CopyResult) -> None:
    """Copy one file or folder ``entry`` into the folder ``holder``, under its own name."""
    destination = child_path(holder, entry.name)
    if entry.is_dir():
        destination.mkdir()
        copy_tree(entry, destination, result, link_videos=False)
    elif is_sqlite_file(entry):
        copy_database(entry, destination)
        result.databases += 1
    else:
        shutil.copyfile(entry, destination)
        result.copied += 1
