"""Migrating one directory: check, build, prove, commit, install.

Holding an exclusive ``flock`` on the directory:

0. *Check*: ``PRAGMA integrity_check`` of the legacy file; damage stops it, nothing changed.
1. *Build*: every new database is written in the staging folder ``.migrate.tmp/`` of the
   directory, by ``INSERT ... SELECT`` from the legacy file attached read-only (blobs never
   pass through Python): video.db in the calling thread while its pages are sent to disk,
   the small databases in a second thread, while a third hashes the legacy tables.
2. *Prove*: the rows each legacy table became are read back from the new files, mapped back
   to legacy form, and hashed the same way. Any difference stops the migration; nothing in
   the directory has changed.
3. *Commit*: the files are fsynced, a manifest is written into the staging folder, and the
   legacy ``captions.db`` is renamed to ``captions.db.old``: that rename is the commit point.
4. *Install*: the staged files are renamed into the directory, ``video.db`` last, and the
   staging folder is removed.

A run killed before the commit point leaves the legacy state (plus a staging folder the next
run deletes); killed after it, the next run finds the manifest and finishes the install.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import apsw

from vabatch.db.schema import KINDS, STAGE_ORDER
from vabatch.db.video_database import LEGACY_FILE
from vabatch.errors import InputError
from vabatch.fsutil import atomic_write, fsync_path, link_or_copy
from vabatch.tools.migrate.builder import Builder
from vabatch.tools.migrate.iothreads import Background, Writeback
from vabatch.tools.migrate.legacy import (
    LEGACY_BY_NAME,
    LEGACY_TABLES,
    OLD_FILE,
    MigrationError,
    legacy_notes,
    open_legacy,
)
from vabatch.tools.migrate.proof import (
    ImageFindings,
    TableProof,
    hash_legacy,
    hash_migrated,
    stored_proofs,
)
from vabatch.tools.migrate.rollback import finish_rollback
from vabatch.tools.migrate.source import find_video, stored_source_name
from vabatch.tools.migrate.state import (
    MANIFEST,
    STAGING_DIR,
    MigrationResult,
    ProgressCallback,
    directory_state,
    migration_record,
    pause,
    read_manifest,
    run_locked,
)

# Install order: video.db last, so a reader sees the split layout only once it is whole.
INSTALL_ORDER = ("fullOCR", "layout", "cropping", "captions", "video")


def migrate_directory(directory: Path | str, *, dry_run: bool = False,
                      progress: ProgressCallback | None = None) -> MigrationResult:
    """Migrate one legacy directory in place; failures come back as a result."""
    directory = Path(directory)
    return run_locked(directory, dry_run, progress,
                      functools.partial(_migrate, directory, dry_run))


def _migrate(directory: Path, dry_run: bool, report: ProgressCallback,
             result: MigrationResult) -> None:
    state = directory_state(directory)
    if state == "rollback-interrupted":
        if dry_run:
            result.notes.append("would first finish an interrupted rollback")
        else:
            report("finishing an interrupted rollback")
            finish_rollback(directory)
            state = directory_state(directory)
    if state == "migrated":
        result.status = "unchanged"
        video_db = directory / KINDS["video"].file_name
        result.proofs = stored_proofs(video_db)
        record = migration_record(video_db) or {}
        result.source_status = record.get("source_status", "")
        result.notes.append("already migrated")
        return
    if state == "switching":
        manifest = read_manifest(directory)
        result.proofs = [TableProof(**p) for p in manifest["proofs"]]
        result.source_status = manifest["source_status"]
        result.legacy_bytes = (directory / OLD_FILE).stat().st_size
        if dry_run:
            result.status = "would resume"
            result.notes.append("an interrupted migration passed its commit point: a run "
                                "finishes installing the staged files")
            return
        report("resuming the install")
        result.created = _install(directory, manifest)
        result.status = "resumed"
        return
    if state == "split":
        result.status = "skipped"
        result.notes.append("not a legacy directory (already split databases)")
        return
    if state == "empty":
        raise InputError(f"{directory}: no {LEGACY_FILE} to migrate")
    if state == "conflict":
        raise MigrationError(
            f"{directory}: unclear state ({OLD_FILE} or video.db next to a legacy "
            f"{LEGACY_FILE}, or {OLD_FILE} without video.db); move the stray file away first")
    _migrate_legacy(directory, dry_run, report, result)


def _migrate_legacy(directory: Path, dry_run: bool, report: ProgressCallback,
                    result: MigrationResult) -> None:
    legacy_path = directory / LEGACY_FILE
    report("reading the legacy file")
    legacy = open_legacy(legacy_path)
    try:
        legacy_stat = legacy_path.stat()
        result.legacy_bytes = legacy_stat.st_size
        metadata = {}
        if legacy.rows.get("video_metadata"):
            row = legacy.conn.execute(legacy.select("video_metadata", "main")).fetchall()[0]
            metadata = dict(zip(LEGACY_BY_NAME["video_metadata"].columns, row, strict=True))
        report("looking for the source video")
        video = find_video(directory, metadata.get("video_path"), metadata.get("video_hash"))
        result.source_status = video.status
        stored_name, needs_link = stored_source_name(directory, video)
        staging = directory / STAGING_DIR
        builder = Builder(legacy, staging, video, stored_name, legacy_stat)
        aliases = builder.aliases()
        result.notes.extend(legacy_notes(legacy))
        if dry_run:
            result.status = "would migrate"
            result.created = ([stored_name] if needs_link else []) + [
                KINDS[a].file_name for a in INSTALL_ORDER if a in aliases]
            result.notes.append(f"would keep {LEGACY_FILE} as {OLD_FILE} and write "
                                + ", ".join(result.created))
            result.proofs = [
                TableProof(spec.name, f"{spec.alias}.{spec.new_table}",
                           legacy.rows.get(spec.name) if legacy.has(spec.name) else None,
                           None, 0, "") for spec in LEGACY_TABLES]
            return

        shutil.rmtree(staging, ignore_errors=True)  # left by a run killed before committing
        staging.mkdir()
        try:
            pause("staging-created")
            findings: dict[str, ImageFindings] = {}
            report("writing " + ", ".join(KINDS[a].file_name for a in aliases))
            # Three threads on what is mostly GIL-free work (SQLite, xxhash on big buffers):
            # the legacy hash; the small databases, built then hashed; and video.db (nearly
            # all the bytes), built while its pages are sent to disk, then hashed and fsynced.
            small = [alias for alias in aliases if alias != "video"]
            others = [alias for alias in STAGE_ORDER if alias != "video"]

            def build_small() -> dict[str, tuple[int, str]]:
                for alias in small:
                    builder.build(alias)
                    pause(f"built-{alias}")
                return hash_migrated({alias: builder.path(alias) for alias in small}, others)

            with Background.group() as threads:
                legacy_hashing = threads.start(hash_legacy, legacy.uri, legacy, findings)
                small_work = threads.start(build_small)
                with Writeback(builder.path("video")):
                    builder.build("video")
                pause("built-video")
                flushing = threads.start(fsync_path, builder.path("video"))
                report("proving: hashing the new rows")
                # The mapped-back columns are final once built: apply_findings below touches
                # only columns outside the proof (formats, sizes read from image headers).
                new_hashes = hash_migrated({"video": builder.path("video")}, ("video",))
                new_hashes |= small_work.result()
                legacy_hashes = legacy_hashing.result()
                flushing.result()
            builder.apply_findings(findings)
            builder.notes[:0] = result.notes
            proofs = []
            for spec in LEGACY_TABLES:
                legacy_side = legacy_hashes[spec.name]
                new_rows, new_sha = new_hashes[spec.name]
                proofs.append(TableProof(
                    spec.name, f"{spec.alias}.{spec.new_table}",
                    legacy_side[0] if legacy_side else None,
                    legacy_side[1] if legacy_side else None, new_rows, new_sha))
            result.proofs = proofs
            bad = [p for p in proofs if not p.ok]
            if bad:
                raise MigrationError(
                    f"{directory}: proof failed for "
                    + ", ".join(f"{p.legacy_table} ({p.legacy_rows} rows -> {p.new_rows})"
                                for p in bad) + "; nothing was changed")
            installed = [stored_name] if needs_link else []
            builder.write_proof(aliases, proofs, installed)
            result.notes = builder.notes
            if needs_link and video.path is not None:
                report("linking the source video")
                link_or_copy(video.path, staging / stored_name)
            install = installed + [KINDS[a].file_name for a in INSTALL_ORDER if a in aliases]
            for name in install:
                fsync_path(staging / name)
            atomic_write(staging / MANIFEST, json.dumps({
                "install": install, "source_status": video.status,
                "proofs": [asdict(p) for p in proofs]}, indent=1))
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)  # nothing half-made stays behind
            if isinstance(error, apsw.Error):
                raise MigrationError(
                    f"{legacy_path}: migration failed, nothing was changed "
                    f"({type(error).__name__}: {error})") from None
            raise
    finally:
        legacy.close()
    pause("manifest-written")
    report("switching")
    # The commit point: from here on a re-run finishes the install instead of starting over.
    os.rename(legacy_path, directory / OLD_FILE)
    fsync_path(directory)
    pause("committed")
    result.created = _install(directory, read_manifest(directory))
    result.status = "migrated"


def _install(directory: Path, manifest: dict) -> list[str]:
    """Rename the staged files into place (video.db last), then drop the staging folder."""
    staging = directory / STAGING_DIR
    for name in manifest["install"]:
        staged = staging / name
        if os.path.lexists(staged):
            os.replace(staged, directory / name)
            fsync_path(directory)
        elif not (directory / name).exists():
            raise MigrationError(f"{directory}: {name} is neither staged nor installed; "
                                 "run `vabatch migrate --rollback` and migrate again")
        pause(f"installed-{name}")
    (staging / MANIFEST).unlink()
    shutil.rmtree(staging)
    fsync_path(directory)
    return list(manifest["install"])
