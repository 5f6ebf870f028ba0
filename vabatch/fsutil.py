"""File safety: atomic writes with fsync, link-or-copy, temporary names owned by a process.

Every file vabatch writes outside SQLite goes through :func:`atomic_write` (a hidden
temporary name, fsync, rename, fsync of the folder): a killed process leaves the old file
or the new one, never half of one, and a power cut after the rename keeps the new one.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
from pathlib import Path

from vabatch.errors import InputError


# -- temporary files owned by a process -----------------------------------------------------
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


def remove_own_temporaries(directory: Path) -> None:
    """Delete the temporary files this process left in ``directory`` (an interrupted write,
    e.g. a new database stopped before its rename into place)."""
    try:
        for leftover in Path(directory).glob(f".*.{process_tag()}.tmp*"):
            leftover.unlink(missing_ok=True)
    except OSError:
        pass


def temporary_owner_alive(path: Path) -> bool:
    """True for a temporary file whose process still runs on this host."""
    tag = temporary_tag(path)
    return tag is not None and not owner_is_dead(tag)


# -- names read from data ---------------------------------------------------------------------
class UnsafeNameError(ValueError):
    """A name read from a database, a journal or a plan does not name an entry directly
    inside its directory (absolute, with a separator, '.', '..' or empty)."""


def child_path(directory: Path, name: object) -> Path:
    """``directory / name`` for a file name read from data, refused unless it names an
    entry directly inside ``directory``: data is never trusted as a path. (Unlinking such
    an entry, even a symbolic link, cannot touch anything outside the directory.)"""
    if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name
            or "\x00" in name):
        raise UnsafeNameError(f"{name!r} is not a file name inside {directory}")
    return Path(directory) / name


class UnsafePathError(InputError):
    """A path vabatch would write or delete resolves outside the directory it belongs to
    (a symbolic link on the way leads out)."""


def proven_inside(root: Path, path: Path) -> Path:
    """``path`` once proven to resolve inside ``root`` (or to be ``root``): a symbolic link
    anywhere below ``root`` that leads outside it is refused. ``root`` itself may be a link
    (a data root kept on another disk is the user's choice)."""
    real_root = Path(root).resolve()
    real = Path(path).resolve()
    if real != real_root and real_root not in real.parents:
        raise UnsafePathError(
            f"{path} resolves to {real}, outside {root} (a symbolic link or '..' leads "
            "out); vabatch writes and deletes nothing there")
    return Path(path)


def remove_tree_entry(path: Path) -> None:
    """Delete one entry of a folder vabatch owns: a symbolic link is unlinked (never
    followed), a folder removed with what it holds, a file unlinked."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


# -- folders built whole, then renamed into place ----------------------------------------------
def check_destination(out_dir: Path, force: bool) -> None:
    """Refuse a ``DIR`` that is a file, or a non-empty folder without ``force``."""
    if os.path.lexists(out_dir) and (out_dir.is_symlink() or not out_dir.is_dir()):
        raise InputError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise InputError(f"{out_dir}: not empty (give --force to replace it)")


def remove_abandoned_builds(out_dir: Path) -> list[Path]:
    """Delete what killed processes of this host left while building ``out_dir`` (its
    ``.<name>.<host>.<pid>.tmp`` folder, or the old one moved aside as ``.tmp-old``); entries
    of other names, or of live processes, are left alone."""
    removed = []
    parent = Path(out_dir).parent
    if not parent.is_dir():
        return removed
    for leftover in parent.glob(f".{glob.escape(Path(out_dir).name)}.*.tmp*"):
        tag = temporary_tag(leftover)
        if tag is not None and owner_is_dead(tag):
            remove_tree_entry(leftover)
            removed.append(leftover)
    return removed


def install_folder(built: Path, out_dir: Path) -> None:
    """Rename the finished folder ``built`` to ``out_dir``; an existing ``out_dir`` (checked
    by ``check_destination``) is moved aside first and removed once the new one is in."""
    parent = out_dir.parent
    aside = None
    if os.path.lexists(out_dir):
        aside = temporary_name(out_dir, ".tmp-old")
        os.replace(out_dir, aside)
    os.replace(built, out_dir)
    fsync_path(parent)
    if aside is not None:
        remove_tree_entry(aside)


def sync_filesystem(path: Path) -> None:
    """Flush every written file of the file system holding ``path`` to disk at once (Linux
    ``syncfs``; ``sync`` elsewhere): one call instead of an fsync per file of a folder built
    whole (an exported dataset), before it is renamed into place."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (AttributeError, OSError):
        pass
    os.sync()


# -- durable writes -------------------------------------------------------------------------
def fsync_path(path: Path) -> None:
    """Flush a file's bytes, or a folder's entries (a rename inside it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | str, *, unless_equal: bool = False) -> bool:
    """Write ``data`` to ``path`` through a temporary name, fsync and a rename.

    Text is written as UTF-8. With ``unless_equal``, a file that already holds exactly
    ``data`` is left alone (its time stamps too) and False is returned; else True.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if unless_equal:
        try:
            if path.read_bytes() == payload:
                return False
        except (FileNotFoundError, IsADirectoryError):
            pass
    temporary = temporary_name(path)
    try:
        with open(temporary, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_path(path.parent)
    return True


def link_or_copy(source: Path, destination: Path) -> None:
    """Hard-link ``source`` as ``destination``, or copy it (durably) where links fail.

    A symbolic link is followed: the file it names is stored, never the link itself (which
    breaks once the original moves)."""
    source = Path(os.path.realpath(source))
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)
        fsync_path(destination)


# -- files that must not be edited in place -------------------------------------------------
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
        fsync_path(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_path(path.parent)
