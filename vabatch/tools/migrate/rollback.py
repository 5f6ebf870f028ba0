"""``--rollback``: a migrated directory back to its legacy state, byte for byte.

A rollback first checks that the split databases are as migrate left them (the other
databases by the size and hash recorded in video.db, video.db and older migrations by
recomputing the proof of their rows) and refuses otherwise unless forced: work done since
would be lost. It then writes a small journal of what to remove, removes it (video.db first)
and renames captions.db.old back; a killed rollback is finished from the journal by the next
run, whether that run migrates or rolls back.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from pathlib import Path

import apsw

from vabatch.db.files import sidecars
from vabatch.db.schema import DATABASE_ORDER, KINDS
from vabatch.db.video_database import LEGACY_FILE
from vabatch.fsutil import (
    UnsafeNameError,
    atomic_write,
    child_path,
    fsync_path,
    remove_tree_entry,
)
from vabatch.tools.migrate import state
from vabatch.tools.migrate.legacy import LEGACY_BY_NAME, OLD_FILE, MigrationError
from vabatch.tools.migrate.proof import (
    file_fingerprint,
    hash_migrated,
    stored_file_fingerprints,
    stored_proofs,
)
from vabatch.tools.migrate.state import (
    ROLLBACK_JOURNAL,
    STAGING_DIR,
    MigrationResult,
    ProgressCallback,
)


def rollback_directory(directory: Path | str, *, dry_run: bool = False, force: bool = False,
                       progress: ProgressCallback | None = None) -> MigrationResult:
    """Restore a migrated directory to its legacy state, byte for byte.

    Refused when the split databases changed since the migration (work done since would be
    lost), unless ``force``.
    """
    directory = Path(directory)
    return state.run_locked(directory, dry_run, progress,
                      functools.partial(_rollback, directory, dry_run, force=force))


def _rollback(directory: Path, dry_run: bool, report: ProgressCallback,
              result: MigrationResult, force: bool = False) -> None:
    """Roll back whatever state the directory is in, or say why not."""
    current = state.directory_state(directory)
    if current == "rollback-interrupted":
        if dry_run:
            result.status = "would roll back"
            result.notes.append("would finish an interrupted rollback")
            return
        report("finishing an interrupted rollback")
        finish_rollback(directory)
        result.status = "rolled back"
        return
    if current == "legacy":
        staging = directory / STAGING_DIR
        if staging.exists() and not dry_run:
            remove_tree_entry(staging)  # an unfinished build: the legacy file was never touched
            fsync_path(directory)
        result.status = "unchanged"
        result.notes.append("not migrated: the legacy state is in place")
        return
    if current not in ("migrated", "switching"):
        raise MigrationError(f"{directory}: not a migrated directory (no {OLD_FILE} beside "
                             "the split databases): nothing to roll back")
    result.legacy_bytes = (directory / OLD_FILE).stat().st_size
    if current == "switching":
        manifest = state.read_manifest(directory)
        extra_files = [n for n in manifest["install"] if not n.endswith(".db")]
    else:
        extra_files = _check_unchanged(directory, report, result, force)
    _check_names(directory, extra_files, "the migration record")
    remove = extra_files + [KINDS[a].file_name for a in DATABASE_ORDER if a != "captions"]
    remove += [s.name for a in DATABASE_ORDER for s in sidecars(directory / KINDS[a].file_name)]
    present = [n for n in remove if os.path.lexists(directory / n)]
    result.notes.append(f"removes {', '.join(present) or 'nothing else'}; restores "
                        f"{LEGACY_FILE} from {OLD_FILE}")
    if dry_run:
        result.status = "would roll back"
        return
    report("rolling back")
    atomic_write(directory / ROLLBACK_JOURNAL, json.dumps({"remove": remove}, indent=1))
    state.pause("rollback-journal")
    finish_rollback(directory)
    result.status = "rolled back"


def _check_unchanged(directory: Path, report: ProgressCallback, result: MigrationResult,
                     force: bool) -> list[str]:
    """Refuse (unless ``force``) when the split databases changed since the migration;
    return the files besides the databases that migrate added."""
    old = directory / OLD_FILE
    record = state.migration_record(directory / KINDS["video"].file_name)
    if record is None:
        extra_files = []
        result.notes.append("video.db has no migration record: any source video link "
                            "is left in place")
    else:
        extra_files = record["installed_files"]
        stat = old.stat()
        if (stat.st_size, stat.st_mtime_ns) != (record["legacy_size_bytes"],
                                               record["legacy_mtime_ns"]):
            result.notes.append(f"{OLD_FILE} changed since the migration (size or time)")
    report("checking for changes since the migration")
    changes = changes_since_migration(directory)
    if changes and not force:
        raise MigrationError(
            f"{directory}: changed since the migration ({'; '.join(changes)}); a rollback "
            "would discard that work: nothing was changed (--force rolls back anyway)")
    if changes:
        result.notes.append("discards changes made since the migration (--force): "
                            + "; ".join(changes))
    return extra_files


def changes_since_migration(directory: Path) -> list[str]:
    """What was done to the split databases since ``vabatch migrate`` wrote them (empty: as
    migrate left them). Each other database is compared with the size and hash recorded in
    video.db; video.db, and every database of a migration without that record, by recomputing
    the proof of the rows the legacy tables became (all caption rows included)."""
    video_db = directory / KINDS["video"].file_name
    recorded = stored_file_fingerprints(video_db)
    changes = []
    for alias in DATABASE_ORDER:
        path = directory / KINDS[alias].file_name
        if sidecars(path):
            changes.append(f"{path.name} has {', '.join(p.name for p in sidecars(path))} "
                           "(a stage is writing it, or was killed)")
        if alias == "video" or not recorded:
            continue
        if path.name not in recorded:
            if path.exists():
                changes.append(f"{path.name} was made after the migration")
        elif not path.exists():
            changes.append(f"{path.name} was removed")
        elif file_fingerprint(path) != tuple(recorded[path.name]):
            changes.append(f"{path.name} was rewritten")
    checked = ("video",) if recorded else DATABASE_ORDER
    proofs = [p for p in stored_proofs(video_db)
              if LEGACY_BY_NAME.get(p.legacy_table) and
              LEGACY_BY_NAME[p.legacy_table].alias in checked]
    files = {alias: directory / KINDS[alias].file_name for alias in checked
             if (directory / KINDS[alias].file_name).exists()}
    for version in sorted({p.version for p in proofs}):
        try:
            current = hash_migrated(files, checked, version)
        except apsw.Error as error:
            changes.append(f"cannot read the migrated rows ({error})")
            break
        for proof in proofs:
            if proof.version == version and current[proof.legacy_table] != (
                    proof.new_rows, proof.new_sha256):
                rows_now = current[proof.legacy_table][0]
                changes.append(f"{proof.new_table}: {proof.new_rows} rows at migration, "
                               f"{rows_now} now or other content")
    return changes


def _check_names(directory: Path, names, source: str) -> None:
    """Every name a rollback would delete must be a file name directly in ``directory``;
    else nothing is deleted and the rollback stops, saying which name and where from."""
    if not isinstance(names, list):
        raise MigrationError(f"{directory}: {source} holds no list of files; nothing removed")
    for name in names:
        try:
            child_path(directory, name)
        except UnsafeNameError:
            raise MigrationError(f"{directory}: {source} names {name!r}, which is not a file "
                                 "of this directory; refusing to delete it (nothing "
                                 "removed)") from None


def finish_rollback(directory: Path) -> None:
    """Do what the rollback journal says is left to do, then remove the journal."""
    journal = directory / ROLLBACK_JOURNAL
    plan = json.loads(journal.read_text())
    _check_names(directory, plan.get("remove") if isinstance(plan, dict) else None,
                 f"the rollback journal {ROLLBACK_JOURNAL}")
    remove_tree_entry(directory / STAGING_DIR)
    # video.db first: from then on no reader takes the directory for a split one.
    for name in sorted(plan["remove"], key=lambda n: n != KINDS["video"].file_name):
        with contextlib.suppress(FileNotFoundError):
            child_path(directory, name).unlink()
    fsync_path(directory)
    state.pause("rollback-removed")
    old = directory / OLD_FILE
    if old.exists():
        os.replace(old, directory / LEGACY_FILE)  # also replaces the new captions.db
        fsync_path(directory)
    state.pause("rollback-restored")
    journal.unlink()
    fsync_path(directory)
