"""Migrating one directory: the steps of the package docstring, each a named function.

``_migrate`` dispatches on the directory's state (already migrated, past its commit point,
legacy...). For a legacy directory, ``_migrate_legacy`` runs the steps in order: ``_plan``
(step 0: open and check the legacy file, find the source video), ``_stage`` (steps 1 to 3 in
the staging folder: ``_build_and_prove``, then ``_prepare_install`` up to the manifest),
``_commit`` (the rename of captions.db to captions.db.old that is the commit point) and
``_install`` (step 4, also what a re-run does after a kill past the commit point).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import apsw

from vabatch.db.schema import DATABASE_ORDER, KINDS
from vabatch.db.video_database import LEGACY_FILE
from vabatch.errors import InputError
from vabatch.fsutil import (
    UnsafeNameError,
    atomic_write,
    child_path,
    fsync_path,
    link_or_copy,
    remove_tree_entry,
)
from vabatch.tools.migrate.builder import Builder
from vabatch.tools.migrate.iothreads import Background, Writeback
from vabatch.tools.migrate.legacy import (
    LEGACY_TABLES,
    OLD_FILE,
    LegacyFile,
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
from vabatch.tools.migrate.source import VideoFinding, find_video, stored_source_name
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
    """Migrate, resume or leave the directory, by the state it is in."""
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


@dataclass
class _Plan:
    """What migrating one legacy directory is about to do; the steps below share it."""

    directory: Path
    legacy: LegacyFile
    video: VideoFinding
    stored_name: str | None  # the source video's name in the directory
    needs_link: bool  # migrate links (or copies) the video there under that name
    builder: Builder
    aliases: list[str]  # the new databases

    @property
    def staging(self) -> Path:
        return self.directory / STAGING_DIR

    def linked(self) -> list[str]:
        """The file migrate adds besides the databases: the source video, when it links it."""
        return [self.stored_name] if self.needs_link else []

    def install_list(self) -> list[str]:
        """Every file migrate adds, in install order (video.db last)."""
        return self.linked() + [KINDS[a].file_name for a in INSTALL_ORDER if a in self.aliases]


def _migrate_legacy(directory: Path, dry_run: bool, report: ProgressCallback,
                    result: MigrationResult) -> None:
    """Steps 0 to 4 for a directory in the legacy state (a dry run stops after step 0)."""
    report("reading the legacy file")
    legacy = open_legacy(directory / LEGACY_FILE)
    try:
        plan = _plan(directory, legacy, report, result)
        if dry_run:
            _describe(plan, result)
            return
        _stage(plan, report, result)
    finally:
        legacy.close()
    _commit(plan, report, result)


def _plan(directory: Path, legacy: LegacyFile, report: ProgressCallback,
          result: MigrationResult) -> _Plan:
    """Look at the legacy file and for the source video; nothing is written yet."""
    legacy_stat = legacy.path.stat()
    result.legacy_bytes = legacy_stat.st_size
    metadata = legacy.video_metadata() or {}
    report("looking for the source video")
    video = find_video(directory, metadata.get("video_path"), metadata.get("video_hash"))
    result.source_status = video.status
    stored_name, needs_link = stored_source_name(directory, video)
    builder = Builder(legacy, directory / STAGING_DIR, video, stored_name, legacy_stat)
    aliases = builder.aliases()
    result.notes.extend(legacy_notes(legacy))
    return _Plan(directory, legacy, video, stored_name, needs_link, builder, aliases)


def _describe(plan: _Plan, result: MigrationResult) -> None:
    """A dry run: the files migrate would write, and the legacy side of each table."""
    result.status = "would migrate"
    result.created = plan.install_list()
    result.notes.append(f"would keep {LEGACY_FILE} as {OLD_FILE} and write "
                        + ", ".join(result.created))
    result.proofs = [
        TableProof(spec.name, f"{spec.alias}.{spec.new_table}",
                   plan.legacy.rows.get(spec.name) if plan.legacy.has(spec.name) else None,
                   None, 0, "") for spec in LEGACY_TABLES]


def _stage(plan: _Plan, report: ProgressCallback, result: MigrationResult) -> None:
    """Steps 1 to 3 up to the commit point, all in the staging folder; on any failure the
    staging folder is removed and the directory is as it was."""
    staging = plan.staging
    remove_tree_entry(staging)  # left by a run killed before committing
    staging.mkdir()
    try:
        pause("staging-created")
        proofs = _build_and_prove(plan, report, result)
        _prepare_install(plan, proofs, report, result)
    except BaseException as error:
        remove_tree_entry(staging)  # nothing half-made stays behind
        if isinstance(error, apsw.Error):
            raise MigrationError(
                f"{plan.legacy.path}: migration failed, nothing was changed "
                f"({type(error).__name__}: {error})") from None
        raise


def _build_and_prove(plan: _Plan, report: ProgressCallback,
                     result: MigrationResult) -> list[TableProof]:
    """Steps 1 and 2: write the new databases, then compare their rows with the legacy
    tables; any difference stops the migration."""
    findings: dict[str, ImageFindings] = {}
    report("writing " + ", ".join(KINDS[a].file_name for a in plan.aliases))
    legacy_hashes, new_hashes = _build_and_hash(plan, findings, report)
    plan.builder.apply_findings(findings)
    plan.builder.notes[:0] = result.notes
    proofs = result.proofs = _table_proofs(legacy_hashes, new_hashes)
    bad = [p for p in proofs if not p.ok]
    if bad:
        raise MigrationError(
            f"{plan.directory}: proof failed for "
            + ", ".join(f"{p.legacy_table} ({p.legacy_rows} rows -> {p.new_rows})"
                        for p in bad) + "; nothing was changed")
    return proofs


def _build_and_hash(plan: _Plan, findings: dict[str, ImageFindings], report: ProgressCallback,
                    ) -> tuple[dict[str, tuple[int, str] | None], dict[str, tuple[int, str]]]:
    """Build every new database and hash both sides: (legacy hashes, new hashes)."""
    # Three threads on what is mostly GIL-free work (SQLite, xxhash on big buffers):
    # the legacy hash; the small databases, built then hashed; and video.db (nearly
    # all the bytes), built while its pages are sent to disk, then hashed and fsynced.
    builder = plan.builder
    with Background.group() as threads:
        legacy_hashing = threads.start(hash_legacy, plan.legacy.uri, plan.legacy, findings)
        small_work = threads.start(_build_small, builder, plan.aliases)
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
    return legacy_hashes, new_hashes


def _build_small(builder: Builder, aliases: list[str]) -> dict[str, tuple[int, str]]:
    """Build the databases other than video.db, then hash the rows they hold."""
    small = [alias for alias in aliases if alias != "video"]
    others = [alias for alias in DATABASE_ORDER if alias != "video"]
    for alias in small:
        builder.build(alias)
        pause(f"built-{alias}")
    return hash_migrated({alias: builder.path(alias) for alias in small}, others)


def _table_proofs(legacy_hashes: dict[str, tuple[int, str] | None],
                  new_hashes: dict[str, tuple[int, str]]) -> list[TableProof]:
    """One proof per legacy table, from the row counts and hashes of both sides."""
    proofs = []
    for spec in LEGACY_TABLES:
        legacy_side = legacy_hashes[spec.name]
        new_rows, new_sha = new_hashes[spec.name]
        proofs.append(TableProof(
            spec.name, f"{spec.alias}.{spec.new_table}",
            legacy_side[0] if legacy_side else None,
            legacy_side[1] if legacy_side else None, new_rows, new_sha))
    return proofs


def _prepare_install(plan: _Plan, proofs: list[TableProof], report: ProgressCallback,
                     result: MigrationResult) -> None:
    """Step 3 before the commit point: the proof stored in every new file, the source video
    linked, every staged file fsynced, and the manifest written last."""
    staging = plan.staging
    plan.builder.write_proof(plan.aliases, proofs, plan.linked())
    result.notes = plan.builder.notes
    if plan.needs_link and plan.video.path is not None:
        report("linking the source video")
        link_or_copy(plan.video.path, staging / plan.stored_name)
    install = plan.install_list()
    for name in install:
        fsync_path(staging / name)
    atomic_write(staging / MANIFEST, json.dumps({
        "install": install, "source_status": plan.video.status,
        "proofs": [asdict(p) for p in proofs]}, indent=1))


def _commit(plan: _Plan, report: ProgressCallback, result: MigrationResult) -> None:
    """The commit point, then step 4."""
    directory = plan.directory
    pause("manifest-written")
    report("switching")
    # The commit point: from here on a re-run finishes the install instead of starting over.
    os.rename(directory / LEGACY_FILE, directory / OLD_FILE)
    fsync_path(directory)
    pause("committed")
    result.created = _install(directory, read_manifest(directory))
    result.status = "migrated"


def _install(directory: Path, manifest: dict) -> list[str]:
    """Rename the staged files into place (video.db last), then drop the staging folder."""
    staging = directory / STAGING_DIR
    try:  # names read from a file are data, not paths
        names = [child_path(directory, name).name for name in manifest["install"]]
    except (UnsafeNameError, TypeError) as error:
        raise MigrationError(f"{directory}: the staged manifest names a file outside the "
                             f"directory ({error}); nothing installed") from None
    for name in names:
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
