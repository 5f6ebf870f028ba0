"""``vabatch export dataset``: the samples of ``vabatch.tools.dataset`` as files.

``DIR/images/<video_id>/<frame_index>.<jpg|png>`` hold the stored image bytes as they are
(no re-encoding), ``DIR/manifest.jsonl`` one JSON object per sample, and ``DIR/dataset.json``
the dataset's content hash: XXH3-128 over each manifest line and its image's bytes, in
manifest order, so two exports of the same data give the same hash (and the same bytes),
whatever order the videos were named in. The whole folder is built under a temporary name
next to ``DIR`` and renamed into place: a killed export leaves no half-made dataset.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from vabatch import __version__
from vabatch.errors import InputError
from vabatch.fsutil import (
    check_destination,
    child_path,
    fsync_path,
    install_folder,
    proven_inside,
    remove_abandoned_builds,
    remove_tree_entry,
    sync_filesystem,
    temporary_name,
)
from vabatch.tools.dataset import DEFAULT_FRACTIONS, CaptionSamples, FrameSamples, Sample

KINDS = ("frames", "captions")
FORMAT = "vabatch-dataset/1"
HASH_PREFIX = "xxh3_128:"
EXTENSIONS = {"jpeg": "jpg", "png": "png"}


@dataclass
class DatasetExport:
    """What ``export_dataset`` wrote."""

    out_dir: str
    kind: str
    samples: int
    videos: int
    content_hash: str
    splits: dict[str, int] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)  # videos or captions without samples

    def to_json(self) -> dict:
        return vars(self).copy()


class ContentHash:
    """XXH3-128 over each sample in manifest order: its manifest line (UTF-8, without the
    newline) and its image's bytes, each preceded by its length (8 bytes, little-endian)."""

    def __init__(self) -> None:
        self._digest = xxhash.xxh3_128()

    def add(self, line: bytes, image: bytes) -> None:
        for part in (line, image):
            self._digest.update(len(part).to_bytes(8, "little"))
            self._digest.update(part)

    def hexdigest(self) -> str:
        return HASH_PREFIX + self._digest.hexdigest()


def dataset_hash(out_dir: Path) -> str:
    """The content hash of an exported dataset folder, recomputed from its files."""
    out_dir = Path(out_dir)
    digest = ContentHash()
    for line in (out_dir / "manifest.jsonl").read_bytes().splitlines():
        folder, video_id, name = json.loads(line)["image"].split("/")
        path = child_path(child_path(child_path(out_dir, folder), video_id), name)
        digest.add(line, proven_inside(out_dir, path).read_bytes())
    return digest.hexdigest()


def manifest_entry(sample: Sample, image: str) -> dict:
    """One manifest line: where the sample comes from, its image, boxes, caption, split."""
    entry = {"video_id": sample.video_id, "frame_index": sample.frame_index,
             "timestamp_ms": sample.timestamp_ms, "image": image,
             "image_format": sample.image_format, "image_kind": sample.image_kind,
             "ocr_frame_index": sample.ocr_frame_index, "boxes": sample.boxes,
             "caption": sample.caption, "split": sample.split}
    if sample.caption is not None:
        entry["caption_text"] = sample.caption["text"]
    return entry


def export_dataset(data_root: Path, out_dir: Path, videos: Sequence[str] | None = None,
                   kind: str = "frames", split: str | None = None, split_seed: int = 0,
                   fractions: Sequence[float] = DEFAULT_FRACTIONS, force: bool = False,
                   on_progress: Callable[[int, int], None] | None = None) -> DatasetExport:
    """Write the samples of ``kind`` (frames or captions) to ``out_dir``; see the module."""
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    out_dir = Path(out_dir).absolute()
    check_destination(out_dir, force)
    if not out_dir.parent.is_dir():
        raise InputError(f"{out_dir.parent}: no such folder")
    samples_type = FrameSamples if kind == "frames" else CaptionSamples
    samples = samples_type(data_root, videos, split, split_seed, fractions, decode=False,
                           keep_bytes=True)
    if not len(samples):
        samples.close()
        why = "; ".join(f"{video_id}: {reason}" for video_id, reason in samples.skipped[:3])
        chosen = f"{len(samples.videos)} videos" + (f" of split {split}" if split else "")
        raise InputError(f"no {kind.rstrip('s')} samples in the {chosen}"
                         + (f" ({why})" if why else "") + f"; {out_dir} left as it was")
    remove_abandoned_builds(out_dir)  # a killed earlier run's half-made folder
    built = temporary_name(out_dir)
    remove_tree_entry(built)
    built.mkdir()
    try:
        result = _write(samples, built, kind, on_progress)
        install_folder(built, out_dir)
    except BaseException:
        remove_tree_entry(built)
        raise
    finally:
        samples.close()
    result.out_dir = str(out_dir)
    return result


def _write(samples, built: Path, kind: str, on_progress) -> DatasetExport:
    images_root = built / "images"
    images_root.mkdir()
    digest, splits, folders = ContentHash(), Counter(), set()
    with open(child_path(built, "manifest.jsonl"), "xb") as manifest:
        for number, sample in enumerate(samples):
            relative = _write_image(sample, images_root, built, kind, folders)
            line = json.dumps(manifest_entry(sample, relative), ensure_ascii=False,
                              sort_keys=True).encode("utf-8")
            manifest.write(line + b"\n")
            digest.add(line, sample.image_bytes)
            splits[sample.split] += 1
            if on_progress is not None:
                on_progress(number + 1, len(samples))
    content_hash = digest.hexdigest()
    skipped = [{"video_id": video_id, "reason": reason} for video_id, reason in samples.skipped]
    count = sum(splits.values())
    description = {
        "format": FORMAT, "content_hash": content_hash, "kind": kind, "samples": count,
        "videos": sorted(folders), "splits": dict(sorted(splits.items())),
        "split": samples.split, "split_seed": samples.split_seed,
        "fractions": list(samples.fractions), "skipped": skipped,
        "manifest": "manifest.jsonl", "tool_version": __version__,
        "hash": "XXH3-128 over each sample in manifest order: its manifest line (UTF-8, no "
                "newline) and its image bytes, each after its length as 8 bytes little-endian",
    }
    with open(child_path(built, "dataset.json"), "xb") as stream:
        stream.write((json.dumps(description, indent=2, ensure_ascii=False) + "\n").encode())
    sync_filesystem(built)  # every file of the folder on disk before it gets its name
    for folder in (*[images_root / f for f in sorted(folders)], images_root, built):
        fsync_path(folder)
    return DatasetExport("", kind, count, len(folders), content_hash, dict(splits), skipped)


def _write_image(sample: Sample, images_root: Path, built: Path, kind: str,
                 folders: set[str]) -> str:
    """Write the sample's stored image bytes as they are; its path relative to the folder."""
    folder = child_path(images_root, sample.video_id)
    if sample.video_id not in folders:
        proven_inside(built, folder).mkdir()
        folders.add(sample.video_id)
    name = f"{sample.frame_index:08d}.{EXTENSIONS.get(sample.image_format, 'bin')}"
    if kind == "captions":  # one file per caption: two captions may share a strip
        name = f"caption-{sample.caption['caption_id']:06d}-{name}"
    # The folder is proven inside and the name is a plain file name: open's O_EXCL ("x")
    # refuses any entry already there, a symbolic link included, so nothing escapes.
    with open(child_path(folder, name), "xb") as stream:
        stream.write(sample.image_bytes)  # made durable all at once, before the rename
    return f"images/{sample.video_id}/{name}"
