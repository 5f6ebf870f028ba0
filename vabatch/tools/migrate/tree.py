"""A legacy tree: finding its directories at any depth, and giving each migrated one its place
in a data root.

The collection ``vabatch migrate`` was made for is a tree ``ROOT/<hash>/<video_id>/
captions.db``. Each directory found is migrated in place (proof, ``captions.db.old``,
rollback: ``directory``), then *placed* in the data root as ``videos/<shard>/<video id>/``:
a folder of hard links (copies across filesystems) to the migrated files. The stages never
edit a shared file in place (``fsutil.replace_with_private_copy``), so work done in the data
root never changes the legacy directory, which stays as migrate left it: the baseline of
``--rollback`` and of the proof.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vabatch.dataroot import migrated_video_id, staging_root, video_dir_for, videos_root
from vabatch.db.schema import DATABASE_ORDER, KINDS
from vabatch.db.video_database import LEGACY_FILE
from vabatch.fsutil import child_path, fsync_path, link_or_copy, process_tag
from vabatch.tools.migrate.legacy import OLD_FILE, MigrationError
from vabatch.tools.migrate.proof import file_fingerprint, stored_proofs
from vabatch.tools.migrate.state import (
    ROLLBACK_JOURNAL,
    MigrationResult,
    directory_state,
    migration_record,
)

# Directory states that make a directory "found" in a tree, per command.
MIGRATE_STATES = frozenset({"legacy", "switching", "rollback-interrupted", "migrated",
                            "conflict"})
ROLLBACK_STATES = frozenset({"switching", "rollback-interrupted", "migrated"})
_MARKERS = (LEGACY_FILE, OLD_FILE, ROLLBACK_JOURNAL)


def find_legacy_dirs(root: Path, rollback: bool = False) -> list[Path]:
    """Every legacy (or migrated, or interrupted) directory under ``root``, at any depth,
    sorted; hidden folders and symbolic links are not followed, and a directory found is
    not searched further."""
    wanted = ROLLBACK_STATES if rollback else MIGRATE_STATES
    found = []
    for current, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        if not any(marker in files for marker in _MARKERS):
            continue
        here = Path(current)
        if directory_state(here) in wanted:
            found.append(here)
            subdirs[:] = []
    return sorted(found)


def expand_arguments(arguments: list[Path], rollback: bool = False,
                     ) -> tuple[list[Path], list[MigrationResult]]:
    """The directories the arguments name: a legacy (or migrated, or split) directory is
    itself, any other folder is searched at any depth. Returns (directories, failures):
    a folder holding none is a failure, never a silent success."""
    directories: list[Path] = []
    failures: list[MigrationResult] = []
    for argument in arguments:
        argument = Path(argument).absolute()
        if not argument.is_dir() or directory_state(argument) != "empty":
            found = [argument]  # itself (a path that is no directory fails with its reason)
        else:
            found = find_legacy_dirs(argument, rollback)
            if not found:
                what = "migrated" if rollback else "legacy"
                failures.append(MigrationResult.failed(argument, (
                    f"{argument}: no {what} directory at any depth (a folder holding a "
                    f"{'captions.db.old' if rollback else 'legacy captions.db'})")))
        directories.extend(d for d in found if d not in directories)
    return directories, failures


def is_under(path: Path, folder: Path) -> bool:
    """True when ``path`` lies inside ``folder`` (both resolved)."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def placed_files(directory: Path) -> list[str]:
    """The files of a migrated directory that belong in its data-root copy: the databases,
    captions.db.old and the source video migrate linked in."""
    names = [KINDS[a].file_name for a in DATABASE_ORDER
             if (directory / KINDS[a].file_name).is_file()]
    names.append(OLD_FILE)
    record = migration_record(directory / KINDS["video"].file_name) or {}
    for name in record.get("installed_files", []):
        if not name.endswith(".db") and (child_path(directory, name)).is_file():
            names.append(name)
    return names


def place(directory: Path, data_root: Path, result: MigrationResult) -> None:
    """Give a migrated directory its place in the data root (``videos/<shard>/<id>``), made
    of hard links to its files; nothing to do for one already inside the data root."""
    if is_under(directory, videos_root(data_root)):
        result.video_id = directory.name
        result.data_dir = str(directory)
        return
    video_id = migrated_video_id(directory)
    if video_id is None:
        raise MigrationError(f"{directory}: migrated, but its video.db has no migration "
                             "record: not added to the data root")
    target = video_dir_for(data_root, video_id)
    result.video_id, result.data_dir = video_id, str(target)
    if target.exists():
        if _same_origin(directory, target):
            return
        raise MigrationError(
            f"{directory}: migrated in place, but {target} already holds video {video_id} "
            "(ingested before the migration?): not added to the data root; move that "
            "directory away and run migrate again")
    staging = staging_root(data_root) / f"{video_id}.{process_tag()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        copied = []
        for name in placed_files(directory):
            link_or_copy(directory / name, staging / name)
            if not os.path.samefile(directory / name, staging / name):
                copied.append(name)
        fsync_path(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, target)  # the copy appears whole or not at all
        fsync_path(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if copied:
        result.notes.append(f"copied into the data root (another filesystem): "
                            f"{', '.join(copied)}")


def _same_origin(directory: Path, target: Path) -> bool:
    """True when ``target`` was placed from ``directory`` (same migration record and proof),
    even if stages have rewritten its databases since."""
    video_db = KINDS["video"].file_name
    mine = migration_record(directory / video_db)
    theirs = migration_record(target / video_db)
    if not mine or not theirs:
        return False
    same_file = (mine["legacy_size_bytes"], mine["legacy_mtime_ns"]) == (
        theirs["legacy_size_bytes"], theirs["legacy_mtime_ns"])
    return same_file and stored_proofs(directory / video_db) == stored_proofs(
        target / video_db)


def placement_changes(directory: Path, data_root: Path) -> tuple[Path | None, list[str]]:
    """The data-root copy of a migrated directory (None if there is none), and what was
    changed there since it was placed (work a rollback would discard)."""
    video_id = migrated_video_id(directory)
    if video_id is None or is_under(directory, videos_root(data_root)):
        return None, []
    target = video_dir_for(data_root, video_id)
    if not target.is_dir() or not _same_origin(directory, target):
        return None, []
    changes = []
    expected = set(placed_files(directory))
    for entry in sorted(target.iterdir()):
        if entry.name not in expected:
            changes.append(f"{target / entry.name} was made in the data root since")
        elif not os.path.samefile(entry, directory / entry.name) and (
                file_fingerprint(entry) != file_fingerprint(directory / entry.name)):
            changes.append(f"{target / entry.name} was rewritten in the data root")
    changes += [f"{target / name} was removed from the data root"
                for name in sorted(expected) if not (target / name).exists()]
    return target, changes


def remove_placement(target: Path, data_root: Path) -> None:
    """Remove a data-root copy: renamed into the staging folder first, so it vanishes from
    the data root at once, then deleted."""
    if not is_under(target, videos_root(data_root)):
        raise MigrationError(f"{target}: not inside {videos_root(data_root)}; not removed")
    doomed = staging_root(data_root) / f"{target.name}.{process_tag()}"
    doomed.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(doomed, ignore_errors=True)
    os.rename(target, doomed)
    fsync_path(target.parent)
    shutil.rmtree(doomed)
