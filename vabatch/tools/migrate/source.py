"""Finding the source video a legacy file names, and the name it gets in the directory.

The legacy file records a path (often from another machine) and maybe a hash. A file is
taken for the video only when its bytes match that hash, so another video of the same name
is never linked in its place.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

_HASH_KINDS = {64: "sha256", 40: "sha1", 32: "md5"}


@dataclass
class VideoFinding:
    """Where the source video is, as far as migration could tell."""

    status: str  # one line for the user and for the migration record
    path: Path | None = None
    sha256: str | None = None
    size_bytes: int | None = None


def _digests(path: Path, kinds: set[str]) -> dict[str, str]:
    hashers = {kind: hashlib.new(kind) for kind in kinds}
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {kind: hasher.hexdigest() for kind, hasher in hashers.items()}


def find_video(directory: Path, video_path: str | None, video_hash: str | None) -> VideoFinding:
    """Look for the recorded video: as an absolute path, relative to the directory, by name.

    A file counts only when its bytes match the recorded hash (SHA-256, SHA-1 or MD5, by
    length); with no usable recorded hash nothing is linked, because an unchecked file may
    be another video of the same name.
    """
    if not video_path:
        return VideoFinding("no video path recorded")
    recorded = Path(video_path)
    candidates = []
    if recorded.is_absolute():
        candidates.append((recorded, "at its recorded absolute path"))
    else:
        candidates.append((directory / recorded, "at its recorded path, relative to the "
                           "directory"))
    candidates.append((directory / recorded.name, "by name in the directory"))
    text = (video_hash or "").strip().lower()
    kind = _HASH_KINDS.get(len(text)) if re.fullmatch(r"[0-9a-f]+", text or "x") else None
    seen: set[Path] = set()
    mismatch = []
    for candidate, how in candidates:
        try:
            if not candidate.is_file():
                continue
            resolved = candidate.resolve()
        except OSError:
            continue
        if resolved in seen:
            continue
        seen.add(resolved)
        if kind is None:
            return VideoFinding(f"video found {how}, but the recorded hash "
                                f"({video_hash or 'none'}) cannot check it: not linked")
        digests = _digests(candidate, {kind, "sha256"})
        if digests[kind] == text:
            return VideoFinding(f"found {how}, {kind} matches", candidate, digests["sha256"],
                                candidate.stat().st_size)
        mismatch.append(how)
    if mismatch:
        return VideoFinding(f"a file {' and '.join(mismatch)} has another {kind} than recorded: "
                            "not linked")
    return VideoFinding(f"video {recorded.name} not found: metadata carried over, no source "
                        "file")


def stored_source_name(directory: Path, video: VideoFinding) -> tuple[str | None, bool]:
    """The video's name in the directory, and whether migrate has to link it there."""
    if video.path is None:
        return None, False
    name = "source" + (video.path.suffix.lower() or ".video")
    target = directory / name
    if not target.exists():
        return name, True
    if os.path.samefile(target, video.path):
        return name, False
    # source.<ext> is some other file: never overwrite it; name the video where it lies.
    if video.path.parent.resolve() == directory.resolve():
        return video.path.name, False
    return None, False
