"""File-level helpers for SQLite databases: URIs, sidecars, filesystems (generic file
safety is in :mod:`vabatch.fsutil`)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")

# Filesystems on which SQLite's WAL (shared memory between processes) is unsafe.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "ceph", "fuse.ceph",
    "glusterfs", "fuse.glusterfs", "lustre", "gpfs", "beegfs", "fuse.s3fs", "afs",
})


def storage_problem(error: BaseException | None) -> str | None:
    """'the disk is full' or 'read-only file system' when ``error`` (or an error in its
    chain) says so, else None: such a failure is about the disk, not the data, and is said
    in those words (retrying at once cannot help)."""
    import errno

    import apsw

    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, apsw.FullError) or (
                isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)):
            return "the disk is full"
        if isinstance(error, OSError) and error.errno == errno.EROFS:
            return "read-only file system"
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def sqlite_uri(path: Path, *, read_only: bool, immutable: bool = False) -> str:
    """A ``file:`` URI for ``path``, quoted so any file name is safe inside ATTACH."""
    params = ["mode=ro" if read_only else "mode=rw"]
    if immutable:
        params.append("immutable=1")
    return "file:" + quote(str(Path(path).absolute())) + "?" + "&".join(params)


def sidecars(path: Path) -> list[Path]:
    """SQLite sidecar files (-wal, -shm, -journal) present next to ``path``."""
    path = Path(path)
    return [
        path.with_name(path.name + suffix)
        for suffix in SIDECAR_SUFFIXES
        if path.with_name(path.name + suffix).exists()
    ]


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding ``path`` (from /proc/self/mounts), '' if unknown."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return ""
    target = os.path.realpath(path)
    best, best_type = "", ""
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > len(best):
            best, best_type = mount_point, fields[2]
    return best_type


def wal_is_safe(path: Path) -> bool:
    """Whether WAL may be used for a database in ``path``'s folder.

    ``VABATCH_JOURNAL_MODE=delete`` forces rollback journals (e.g. on a network filesystem
    that this check does not recognise); ``=wal`` forces WAL.
    """
    forced = os.environ.get("VABATCH_JOURNAL_MODE", "").lower()
    if forced in ("wal", "delete"):
        return forced == "wal"
    return filesystem_type(path) not in NETWORK_FILESYSTEMS


def open_elsewhere(paths: list[Path]) -> bool:
    """True when another process of this host has one of ``paths`` open (Linux /proc).

    A database being written by a running stage has sidecars that are not stray. Where
    /proc is not available this says False, and such files are reported.
    """
    targets = {str(Path(p).absolute()) for p in paths}
    own = str(os.getpid())
    try:
        processes = [entry for entry in os.listdir("/proc") if entry.isdigit() and entry != own]
    except OSError:
        return False
    for pid in processes:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(f"/proc/{pid}/fd/{descriptor}") in targets:
                    return True
            except OSError:
                continue
    return False
