"""``vabatch migrate``: a legacy monolithic captions.db becomes the split databases, with proof.

One directory at a time, holding an exclusive ``flock`` on the directory:

0. *Check*: ``PRAGMA integrity_check`` of the legacy file; damage stops it, nothing changed.
1. *Build*: every new database is written in the staging folder ``.migrate.tmp/`` of the
   directory, by ``INSERT ... SELECT`` from the legacy file attached read-only (blobs never
   pass through Python): video.db in the calling thread while its pages are sent to disk,
   the small databases in a second thread, while a third hashes the legacy tables.
2. *Prove*: the rows each legacy table became are read back from the new files, mapped back
   to legacy form, and hashed the same way (row count + canonical XXH3-128, proof version 2,
   in primary-key order). Any difference stops the migration; nothing in the directory has
   changed.
3. *Commit*: the files are fsynced, a manifest is written into the staging folder, and the
   legacy ``captions.db`` is renamed to ``captions.db.old``: that rename is the commit point.
4. *Install*: the staged files are renamed into the directory, ``video.db`` last, and the
   staging folder is removed.

A run killed before the commit point leaves the legacy state (plus a staging folder the next
run deletes); killed after it, the next run finds the manifest and finishes the install.
``--rollback`` refuses when the split databases changed since the migration (unless
``force``), then writes a small journal, removes what migrate added and renames
``captions.db.old`` back. Nothing is ever unpickled or evaluated: a legacy model is bytes.

Where each part lives (a module imports only the ones listed above it):

- ``legacy``: the legacy format (``LEGACY_TABLES``), opening and describing a legacy file.
- ``proof``: canonical row encodings, table hashes (versions 1 and 2), stored proofs.
- ``iothreads``: ``Background`` threads and ``Writeback`` of dirty pages during the build.
- ``source``: finding the source video by its recorded path and hash.
- ``builder``: ``Builder``, which writes the new databases into the staging folder.
- ``state``: directory states, the lock, the migration record, ``run_locked``.
- ``rollback``: ``rollback_directory`` and finishing an interrupted rollback.
- ``directory``: ``migrate_directory``, the steps above, and the install.
- ``check``: ``check_against_legacy`` for ``verify --against-legacy``.
- ``tree``: finding legacy directories at any depth; placing migrated ones in a data root.
- ``batch``: ``migrate_many``, many directories in a process pool.
"""

from vabatch.tools.migrate.batch import migrate_many
from vabatch.tools.migrate.builder import Builder
from vabatch.tools.migrate.check import check_against_legacy
from vabatch.tools.migrate.directory import INSTALL_ORDER, migrate_directory
from vabatch.tools.migrate.legacy import (
    LEGACY_BY_NAME,
    LEGACY_TABLES,
    OLD_FILE,
    LegacyFile,
    LegacyTable,
    MigrationError,
    image_format_of,
    image_size,
    legacy_uri,
    open_legacy,
)
from vabatch.tools.migrate.proof import (
    CURRENT_PROOF,
    PROOF_ALGORITHMS,
    PROOF_V1,
    PROOF_V2,
    ImageFindings,
    TableHasher,
    TableProof,
    empty_table_hash,
    encode_row_v2,
    file_fingerprint,
    hash_legacy,
    hash_migrated,
    proof_version,
    row_digest,
)
from vabatch.tools.migrate.rollback import changes_since_migration, rollback_directory
from vabatch.tools.migrate.source import VideoFinding, find_video
from vabatch.tools.migrate.state import (
    MANIFEST,
    PAUSE_ENV,
    PAUSE_FILE_ENV,
    ROLLBACK_JOURNAL,
    STAGING_DIR,
    MigrationResult,
    ProgressCallback,
    directory_lock,
    directory_state,
)
from vabatch.tools.migrate.tree import expand_arguments, find_legacy_dirs

__all__ = [
    "CURRENT_PROOF", "INSTALL_ORDER", "LEGACY_BY_NAME", "LEGACY_TABLES", "MANIFEST", "OLD_FILE",
    "PAUSE_ENV", "PAUSE_FILE_ENV", "PROOF_ALGORITHMS", "PROOF_V1", "PROOF_V2",
    "ROLLBACK_JOURNAL", "STAGING_DIR", "Builder", "ImageFindings", "LegacyFile", "LegacyTable",
    "MigrationError", "MigrationResult", "ProgressCallback", "TableHasher", "TableProof",
    "VideoFinding", "changes_since_migration", "check_against_legacy", "directory_lock",
    "directory_state", "empty_table_hash", "encode_row_v2", "expand_arguments",
    "file_fingerprint", "find_legacy_dirs", "find_video",
    "hash_legacy", "hash_migrated", "image_format_of", "image_size", "legacy_uri",
    "migrate_directory", "migrate_many", "open_legacy", "proof_version", "rollback_directory",
    "row_digest",
]
