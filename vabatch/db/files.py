"""File-level helpers for SQLite databases: URIs, protection, sidecars, filesystems."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from urllib.parse import quote

SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")

# Filesystems on which SQLite's WAL (shared memory between processes) is unsafe.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "ceph", "fuse.ceph",
    "glusterfs", "fuse.glusterfs", "lustre", "gpfs", "beegfs", "fuse.s3fs", "afs",
})


def sqlite_uri(path: Path, *, read_only: bool, immutable: bool = False) -> str:
    """A ``file:`` URI for ``path``, quoted so any file name is safe inside ATTACH."""
    params = ["mode=ro" if read_only else "mode=rw"]
    if immutable:
        params.append("immutable=1")
    return "file:" + quote(str(Path(path).absolute())) + "?" + "&".join(params)


def is_unwritable(path: Path) -> bool:
    """True when nobody may write the file (no write bit), as DVC leaves its cache links.

    Mode bits, not os.access: root may write anything, yet a 0444 file is still meant to be
    immutable, and SQLite's ``immutable=1`` is only right for a file that never changes.
    """
    return not (Path(path).stat().st_mode & 0o222)


def is_shared_file(path: Path) -> bool:
    """True when editing the file in place would change bytes elsewhere or a protected file:
    a symlink, a file with other hard links (e.g. DVC's cache), or a file without write bits."""
    path = Path(path)
    if path.is_symlink():
        return True
    stat = path.stat()
    return stat.st_nlink > 1 or not (stat.st_mode & 0o222)


def process_tag() -> str:
    """``host.pid``: names temporary files so a later run knows whose they were."""
    return f"{socket.gethostname()}.{os.getpid()}"


def owner_is_dead(tag: str) -> bool:
    """True when ``host.pid`` names a process of this host that no longer runs."""
    host, _, pid_text = tag.rpartition(".")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(pid_text))


def _is_zombie(pid: int) -> bool:
    """True for a process that has exited but was not reaped (state Z): a killed worker whose
    parent died too stays so where PID 1 does not reap orphans (some containers)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def temporary_name(path: Path, suffix: str = ".tmp") -> Path:
    """A hidden sibling name unique to this host and process, ignored by git and DVC."""
    path = Path(path)
    return path.with_name(f".{path.name}.{process_tag()}{suffix}")


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_with_private_copy(path: Path) -> None:
    """Turn a shared or protected file into a private writable copy, atomically.

    The copy is written under a temporary name and renamed over ``path``: the link itself is
    replaced, the file it pointed to (DVC's cache, another hard link) is never touched.
    """
    path = Path(path)
    temporary = temporary_name(path)
    try:
        shutil.copyfile(path, temporary)  # follows symlinks: copies the content
        os.chmod(temporary, 0o644)
        fsync_file(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_directory(path.parent)


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


def temporary_tag(path: Path) -> str | None:
    """The ``host.pid`` of a temporary file made by :func:`temporary_name` on this host,
    else None (not a temporary file, or another host's: not ours to judge)."""
    parts = Path(path).name.split(".")
    # ".name.host.pid.tmp", and SQLite's sidecars of it: ".tmp-journal", ".tmp-wal", ...
    marker = next((i for i, part in enumerate(parts)
                   if part == "tmp" or part.startswith("tmp-")), None)
    if marker is None:
        return None
    tag_parts = parts[:marker]
    length = len(socket.gethostname().split(".")) + 1
    candidate = tag_parts[-length:]
    if len(tag_parts) > length and ".".join(candidate[:-1]) == socket.gethostname() \
            and candidate[-1].isdigit():
        return ".".join(candidate)
    return None


def remove_abandoned_temporaries(directory: Path) -> list[Path]:
    """Delete hidden temporary files (``.name.host.pid.tmp*``) of dead processes here."""
    removed = []
    for leftover in Path(directory).glob(".*.tmp*"):
        tag = temporary_tag(leftover)
        if tag is not None and owner_is_dead(tag):
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


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


def temporary_owner_alive(path: Path) -> bool:
    """True for a temporary file whose process still runs on this host."""
    tag = temporary_tag(path)
    return tag is not None and not owner_is_dead(tag)
