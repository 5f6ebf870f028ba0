"""``verify --against-legacy``: recompute the proof of a migrated directory.

The legacy rows in captions.db.old are hashed again and compared with the rows the new files
hold now, in the proof version the migration used (old SHA-256 proofs stay checkable), and
both with the proof stored at migration time: an edit since, or a changed captions.db.old,
shows up as a problem, never as an exception.
"""

from __future__ import annotations

from pathlib import Path

import apsw

from vabatch.db.schema import DATABASE_ORDER, KINDS
from vabatch.errors import VabatchError
from vabatch.tools.migrate.legacy import LEGACY_TABLES, OLD_FILE, open_legacy
from vabatch.tools.migrate.proof import (
    CURRENT_PROOF,
    PROOF_ALGORITHMS,
    empty_table_hash,
    hash_legacy,
    hash_migrated,
    stored_proofs,
)


def check_against_legacy(video_dir: Path) -> list[tuple[Path, str]]:
    """Recompute the proof of a migrated directory: legacy rows vs the current new rows.

    Returns (file, problem) pairs; empty when every legacy table still equals the rows it
    became and the proof stored at migration time agrees.
    """
    video_dir = Path(video_dir)
    old = video_dir / OLD_FILE
    video_db = video_dir / KINDS["video"].file_name
    if not old.exists():
        return [(old, "not a migrated directory: nothing to compare against")]
    problems: list[tuple[Path, str]] = []
    stored = {p.legacy_table: p for p in stored_proofs(video_db)} if video_db.exists() else {}
    # Compare in the proof format the migration used (old SHA-256 proofs stay checkable).
    versions = sorted({p.version for p in stored.values()}) or [CURRENT_PROOF]
    files = {alias: video_dir / KINDS[alias].file_name for alias in DATABASE_ORDER
             if (video_dir / KINDS[alias].file_name).exists()}
    try:
        legacy = open_legacy(old)
    except VabatchError as error:
        return [(old, str(error))]
    try:
        legacy_hashes = {v: hash_legacy(legacy.uri, legacy, {}, v) for v in versions}
    except apsw.Error as error:
        return [(old, f"unreadable: {error}")]
    finally:
        legacy.close()
    try:
        new_hashes = {v: hash_migrated(files, version=v) for v in versions}
    except apsw.Error as error:
        return [(video_db, f"cannot read the migrated rows: {error}")]
    for spec in LEGACY_TABLES:
        proof = stored.get(spec.name)
        version = proof.version if proof is not None else versions[0]
        legacy_side = legacy_hashes[version][spec.name]
        legacy_rows, legacy_hash = legacy_side or (0, empty_table_hash(spec.name, version))
        new_rows, new_hash = new_hashes[version][spec.name]
        target = video_dir / KINDS[spec.alias].file_name
        algorithm = PROOF_ALGORITHMS[version]
        if (legacy_rows, legacy_hash) != (new_rows, new_hash):
            problems.append((target, f"{spec.alias}.{spec.new_table} differs from legacy "
                             f"{spec.name}: {legacy_rows} rows {algorithm} "
                             f"{_short(legacy_hash)} vs {new_rows} rows {algorithm} "
                             f"{_short(new_hash)}"))
        if proof is None:
            problems.append((video_db, f"no stored migration proof for {spec.name}"))
        elif (proof.legacy_sha256 or empty_table_hash(spec.name, version)) != legacy_hash:
            problems.append((old, f"{spec.name}: the legacy file no longer matches the proof "
                             "stored at migration time"))
    return problems


def _short(table_hash: str) -> str:
    """The first 12 hex digits of a table hash, without its algorithm prefix."""
    return table_hash.rpartition(":")[2][:12]
