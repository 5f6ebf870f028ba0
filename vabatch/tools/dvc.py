"""DVC support: the video list that ``dvc.yaml`` depends on, and tracking setup.

``dvc.yaml`` stays static; the videos are named in ``dvc-videos.yaml`` next to it. That file
is data about the data root, so vabatch writes it: ``vabatch ingest`` updates it after every
run (when the data root belongs to a project whose ``dvc.yaml`` uses it), ``vabatch dvc
sync`` rewrites it, ``vabatch dvc setup`` sets up a whole project. It is sorted by video id,
written atomically (temporary name, then rename) and only when its content changes, so git
sees a change exactly when a video came or went. Besides where each video is, it records how
its video.db was made (original file name, sampling, encoding, ingest time), so ``vabatch dvc
ingest`` can rebuild a lost video.db with the same bytes.

Why one wide DVC stage in which vabatch skips up-to-date videos, and not one DVC stage per
video: docs/dvc.md, with the measurements (bench/dvc_scale_bench.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from vabatch.dataroot import list_video_dirs
from vabatch.errors import InputError, VabatchError
from vabatch.fsutil import (
    UnsafeNameError,
    UnsafePathError,
    atomic_write,
    child_path,
    link_or_copy,
    proven_inside,
)

LIST_FILE = "dvc-videos.yaml"
PIPELINE_FILE = "dvc.yaml"
DEFAULT_DATA = "data"
DATABASES = ("video.db", "fullOCR.db", "layout.db", "cropping.db", "captions.db")

# SQLite sidecars, temporary and partial files: never versioned, by git or by DVC.
TRANSIENT_PATTERNS = (
    "*.db-wal", "*.db-shm", "*.db-journal", "*-wal", "*-shm", "*-journal",
    "*.tmp", "*.tmp.*", ".*.tmp*", "*.part", "*.partial", ".*.partial.*", ".staging/",
)
# What `vabatch dvc setup` makes sure the project's .gitignore holds (besides the above):
# the data itself is DVC's; DVC then needs no .gitignore of its own in every video folder.
GITIGNORE_DATA_PATTERNS = ("/{data}/videos/", "/{data}/export/", "/{data}/samples/",
                           "/{data}/runs.db")

# The pipeline, as shipped in the repository's dvc.yaml (a test keeps the two equal) and
# written by `vabatch dvc setup` into a data project that has none.
PIPELINE_TEMPLATE = """\
# The data pipeline: `dvc repro` rebuilds what is stale, `dvc push`/`dvc pull` share it.
# Which videos: dvc-videos.yaml, kept up to date by `vabatch ingest` (and `vabatch dvc
# sync`), so this file does not change when videos come and go.
#
# One wide stage runs every vabatch stage over every listed video; each vabatch stage
# records what it was made from and skips the videos that are up to date, so a changed
# layout.db of one video re-runs crop and captions of that video only. Why wide, and not
# one DVC stage per video: docs/dvc.md (measured with 300 videos).
vars:
  - dvc-videos.yaml
stages:
  videos:
    cmd:
      - vabatch dvc ingest --data ${data}
      - vabatch ocr --data ${data} --quiet
      - vabatch layout --data ${data} --quiet
      - vabatch crop --data ${data} --quiet
      - vabatch captions --data ${data} --quiet
    deps:
      - dvc-videos.yaml
    outs:
      # Persistent: DVC must not delete the databases before the run. layout.db and
      # captions.db hold human edits (box labels, caption corrections) that every stage
      # keeps, and the stored source videos cannot be made again from anything here.
      - ${data}/videos:
          persist: true
  # One SRT file per video, named after its source file.
  export:
    cmd: vabatch export srt --out ${data}/export/srt --data ${data}
    deps:
      - ${data}/videos
    outs:
      - ${data}/export/srt
"""


MIGRATED_SAMPLING = "legacy"  # video_metadata.sampling_mode of a migrated video.db


@dataclass(frozen=True)
class VideoEntry:
    """One video of the list: where it is and how to rebuild its video.db the same way."""

    video_id: str
    dir: str  # relative to the project root, with '/'
    source: str | None  # file name of the stored source video inside ``dir`` (None: a video
    # migrated without it)
    name: str  # the original file name, recorded in video.db (and naming the export)
    sampling_mode: str  # 'legacy' for `vabatch migrate` output: its video.db is data, never
    # rebuilt by ingest
    sampling_value: float | None
    image_format: str
    image_quality: int | None
    source_date_epoch: int | None  # the recorded ingest time, for a byte-identical rebuild
    path: str | None = None  # the path given to ingest (video_metadata.source_path)


@dataclass
class SyncResult:
    path: Path
    changed: bool
    videos: int
    skipped: dict[str, str] = field(default_factory=dict)  # video directory -> why


# -- the list file -------------------------------------------------------------------------
def render_list(data: str, entries: Iterable[VideoEntry]) -> str:
    """The list file's text: sorted by video id, one block per video (stable for git)."""
    lines = [
        "# The videos of the data root, for dvc.yaml. Written by `vabatch ingest` and",
        "# `vabatch dvc sync`; do not edit by hand.",
        f"data: {json.dumps(data)}",
    ]
    entries = sorted(entries, key=lambda e: e.video_id)
    if not entries:
        lines.append("videos: {}")
    else:
        lines.append("videos:")
    for e in entries:
        lines += [
            f"  {json.dumps(e.video_id)}:",
            f"    dir: {json.dumps(e.dir)}",
            f"    source: {json.dumps(e.source)}",
            f"    name: {json.dumps(e.name)}",
            f"    sampling_mode: {json.dumps(e.sampling_mode)}",
            f"    sampling_value: {json.dumps(e.sampling_value)}",
            f"    image_format: {json.dumps(e.image_format)}",
            f"    image_quality: {json.dumps(e.image_quality)}",
            f"    source_date_epoch: {json.dumps(e.source_date_epoch)}",
            *([f"    path: {json.dumps(e.path)}"] if e.path is not None else []),
        ]
    return "\n".join(lines) + "\n"


def read_list(path: Path) -> tuple[str, dict[str, VideoEntry]]:
    """``(data, {video_id: entry})`` from a list file this module wrote.

    The file is the restricted YAML that ``render_list`` writes (every scalar in JSON form),
    so it is read without a YAML library.
    """
    data, entries = DEFAULT_DATA, {}
    current: dict | None = None
    rows: dict[str, dict] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return data, {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            if line.startswith("data:"):
                data = json.loads(line.partition(":")[2])
            elif line.startswith("videos:"):
                continue
            elif line.startswith("    "):
                key, _, value = line.strip().partition(": ")
                current[key] = json.loads(value)  # type: ignore[index]
            elif line.startswith("  "):
                current = rows.setdefault(json.loads(line.strip().rstrip(":")), {})
            else:
                raise ValueError("unexpected line")
        except (ValueError, TypeError) as error:
            raise InputError(f"{path}:{number}: not a list written by vabatch ({error}); "
                             "rewrite it with `vabatch dvc sync`") from None
    for video_id, row in rows.items():
        try:
            entries[video_id] = VideoEntry(video_id, row["dir"], row["source"], row["name"],
                                           row["sampling_mode"], row["sampling_value"],
                                           row["image_format"], row.get("image_quality"),
                                           row.get("source_date_epoch"), row.get("path"))
        except KeyError as error:
            raise InputError(f"{path}: video {video_id} lacks {error}; rewrite it with "
                             "`vabatch dvc sync`") from None
    return data, entries


def entry_for(video_dir: Path, project_root: Path) -> VideoEntry:
    """The list entry of one video directory, from its video.db (read-only)."""
    from vabatch.db import VideoDatabase

    with VideoDatabase(video_dir, require=("video",)) as db:
        if db.legacy:
            raise InputError("a legacy monolithic directory (run `vabatch migrate`)")
        has_path = "source_path" in db.columns("video", "video_metadata")
        rows = db.execute("SELECT source_file, source_name, sampling_mode, sampling_value,"
                          " image_format, image_quality, ingested_at, "
                          + ("source_path" if has_path else "NULL")
                          + " FROM video.video_metadata").fetchall()
    if not rows:
        raise InputError("video.db has no video_metadata row")
    source, name, mode, value, image_format, quality, ingested_at, path = rows[0]
    migrated = mode == MIGRATED_SAMPLING
    if not migrated and (not source or not (video_dir / source).is_file()):
        raise InputError("no stored source video (DVC needs it to rebuild the data)")
    return VideoEntry(video_dir.name, video_dir.relative_to(project_root).as_posix(),
                      source or None, name, mode, None if value is None else float(value),
                      image_format, quality, _epoch(ingested_at), path)


def _epoch(stamp: str | None) -> int | None:
    try:
        moment = datetime.strptime(stamp or "", "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


def sync_video_list(project_root: Path, data_root: Path | None = None) -> SyncResult:
    """Rewrite ``project_root/dvc-videos.yaml`` from the video directories of the data root.

    Entries of videos already listed are kept as they are unless their video.db is newer
    than the list (a ``--force`` re-ingest), so a sync reads only new or rebuilt videos.
    """
    project_root = Path(project_root).absolute()
    path = project_root / LIST_FILE
    data, known = read_list(path)
    if data_root is not None:
        data_root = Path(data_root).absolute()
        try:
            data = data_root.relative_to(project_root).as_posix()
        except ValueError:
            raise InputError(f"{data_root}: the data root must be inside the DVC project "
                             f"{project_root}") from None
    else:
        data_root = project_root / data
    listed_at = path.stat().st_mtime_ns if path.exists() else 0
    entries, skipped = [], {}
    for video_dir in list_video_dirs(data_root):
        entry = known.get(video_dir.name)
        video_db = video_dir / "video.db"
        fresh = (entry is not None and video_db.exists()
                 and video_db.stat().st_mtime_ns <= listed_at
                 and (entry.source is None or (video_dir / entry.source).exists()))
        if not fresh:
            try:
                entry = entry_for(video_dir, project_root)
            except VabatchError as error:
                skipped[str(video_dir)] = str(error)
                continue
        entries.append(entry)
    changed = atomic_write(path, render_list(data, entries), unless_equal=True)
    return SyncResult(path, changed, len(entries), skipped)


def project_for(data_root: Path) -> Path | None:
    """The DVC project whose dvc.yaml iterates over ``data_root``'s videos, if any.

    That is the nearest folder above the data root with a ``dvc.yaml`` that names the list
    file, and whose list (if present) names this data root.
    """
    data_root = Path(data_root).absolute()
    for folder in data_root.parents:
        pipeline = folder / PIPELINE_FILE
        if not pipeline.is_file():
            continue
        try:
            if LIST_FILE not in pipeline.read_text(encoding="utf-8"):
                return None
            data, _ = read_list(folder / LIST_FILE)
        except (OSError, VabatchError):
            return None
        return folder if (folder / data).absolute() == data_root else None
    return None


def update_video_list(data_root: Path) -> SyncResult | None:
    """After an ingest: bring the project's video list up to date, if there is one.

    Never fails the ingest: a problem is one line on stderr saying how to fix it.
    """
    try:
        project = project_for(data_root)
        if project is None:
            return None
        return sync_video_list(project, data_root)
    except (OSError, VabatchError) as error:
        print(f"warning: the DVC video list was not updated ({error}); "
              "run `vabatch dvc sync`", file=sys.stderr)
        return None


# -- the ingest step of dvc.yaml ---------------------------------------------------------
def listed_video_dirs(project_root: Path) -> list[Path]:
    """The video directories named in the project's list, sorted by video id."""
    _, entries = read_list(Path(project_root) / LIST_FILE)
    return [Path(project_root) / entries[v].dir for v in sorted(entries)]


def ingest_missing(project_root: Path, data_root: Path) -> dict[str, str]:
    """Rebuild every listed video's missing video.db from its stored source, as first made.

    The list records the original file name, the sampling, the image encoding and the
    ingest time, so the rebuilt file has the same bytes: the source is ingested under its
    original name (a hard link in a temporary folder) with ``SOURCE_DATE_EPOCH`` set to the
    recorded time. Returns ``{video_id: status}``; a missing source is an error.
    """
    import tempfile

    from vabatch.media import Sampling
    from vabatch.stages.ingest import IngestOptions

    project_root, data_root = Path(project_root), Path(data_root)
    _, entries = read_list(project_root / LIST_FILE)
    statuses = {}
    for video_id in sorted(entries):
        entry = entries[video_id]
        if entry.sampling_mode == MIGRATED_SAMPLING or entry.source is None:
            video_dir = _entry_paths(project_root, entry, with_source=False)[0]
            if (video_dir / "video.db").exists():
                statuses[video_id] = "unchanged"
                continue
            raise InputError(f"{video_dir / 'video.db'}: missing, and it was made by `vabatch "
                             "migrate` from a legacy file, not by ingest: `dvc pull` it")
        video_dir, source, name = _entry_paths(project_root, entry)
        if (video_dir / "video.db").exists():
            statuses[video_id] = "unchanged"
            continue
        if not source.is_file():
            raise InputError(f"{source}: the stored source video is missing (`dvc pull` it, "
                             "or ingest the original again)")
        options = IngestOptions(Sampling(entry.sampling_mode, entry.sampling_value),
                                entry.image_format, entry.image_quality or 90,
                                recorded_path=entry.path)
        with tempfile.TemporaryDirectory(dir=data_root, prefix=".ingest.",
                                         suffix=".tmp") as folder:
            named = Path(folder) / name
            link_or_copy(source, named)
            result = _ingest_at(named, data_root, options, entry.source_date_epoch)
        if not result.ok:
            raise InputError(result.error or f"{source}: ingest failed")
        statuses[video_id] = result.status
    return statuses


def _entry_paths(project_root: Path, entry: VideoEntry, with_source: bool = True
                 ) -> tuple[Path, Path | None, str | None]:
    """The video directory, stored source and original name of a list entry, each proven
    to stay where it belongs: the list is a file anyone may edit, its values are data.
    ``with_source=False``: the directory only (a migrated video may have no source)."""
    where = f"{LIST_FILE}: video {entry.video_id}"
    if not isinstance(entry.dir, str) or Path(entry.dir).is_absolute():
        raise InputError(f"{where}: dir {entry.dir!r} is not a folder of the project")
    try:
        video_dir = proven_inside(project_root, project_root / entry.dir)
        if not with_source:
            return video_dir, None, None
        return video_dir, child_path(video_dir, entry.source), child_path(Path("."),
                                                                           entry.name).name
    except (UnsafeNameError, UnsafePathError) as error:
        raise InputError(f"{where}: {error}") from None


def _ingest_at(source: Path, data_root: Path, options, epoch: int | None):
    """Ingest ``source`` on the engine, in this process (so the recorded time applies)."""
    from vabatch.engine import EngineSettings, run_tasks, stage_tasks
    from vabatch.stages.registry import get_stage

    saved = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    try:
        tasks = stage_tasks([source], [get_stage("ingest")], {"ingest": options})
        report = run_tasks(tasks, data_root, EngineSettings(backend="inprocess", record=False))
        return report.results()[0]
    finally:
        if saved is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = saved


# -- ignore files --------------------------------------------------------------------------
def ensure_lines(path: Path, lines: Iterable[str], header: str) -> list[str]:
    """Append the ``lines`` that ``path`` lacks (under ``header``); return those added."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in lines if line not in present]
    if missing:
        addition = ("" if not text or text.endswith("\n") else "\n") + (
            ("\n" if text else "") + f"# {header}\n" + "\n".join(missing) + "\n")
        atomic_write(path, text + addition)
    return missing


def fix_ignore_files(project_root: Path, data: str = DEFAULT_DATA) -> dict[str, list[str]]:
    """Make .gitignore and .dvcignore keep sidecars and partial files out (and git keep the
    data out, which DVC versions). Idempotent: only missing lines are appended."""
    project_root = Path(project_root)
    git_lines = [*TRANSIENT_PATTERNS, *(p.format(data=data) for p in GITIGNORE_DATA_PATTERNS)]
    return {
        ".gitignore": ensure_lines(project_root / ".gitignore", git_lines,
                                   "vabatch: SQLite sidecars, partial files; data is DVC's"),
        ".dvcignore": ensure_lines(project_root / ".dvcignore", TRANSIENT_PATTERNS,
                                   "vabatch: SQLite sidecars and partial files, never versioned"),
    }


# -- tracking setup ------------------------------------------------------------------------
@dataclass
class SetupResult:
    project_root: str
    initialised: bool = False
    pipeline_written: bool = False
    ignore_lines_added: dict[str, list[str]] = field(default_factory=dict)
    videos: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    committed: list[str] = field(default_factory=list)  # DVC stages recorded as they are
    left_for_repro: list[str] = field(default_factory=list)  # videos with databases missing

    def to_json(self) -> dict:
        return dict(vars(self))


def dvc_command() -> list[str]:
    """How to run DVC: the ``dvc`` next to this interpreter, else ``python -m dvc``."""
    beside = Path(sys.executable).with_name("dvc")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("dvc")
    if found:
        return [found]
    try:
        import dvc  # noqa: F401
    except ImportError:
        raise InputError("DVC is not installed (pip install 'dvc>=3.50')") from None
    return [sys.executable, "-m", "dvc"]


def run_dvc(project_root: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([*dvc_command(), *args], cwd=project_root, text=True,
                            capture_output=True)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise VabatchError(f"dvc {' '.join(args[:2])} failed: "
                           f"{message[-1] if message else result.returncode}")
    return result


def setup_tracking(project_root: Path, data_root: Path | None = None,
                   commit: bool = True) -> SetupResult:
    """Set up DVC versioning of an existing data folder; safe to run again.

    1. ``dvc init`` when the project has no ``.dvc/`` (inside git when there is one).
    2. dvc.yaml from the template when the project has none (an existing one is kept).
    3. dvc-videos.yaml from the data folder; .gitignore and .dvcignore fixed.
    4. With ``commit``, when every listed video has all its databases: the ``videos``
       stage is recorded as it is (``dvc commit``), human edits included, without
       recomputing anything. Otherwise ``dvc repro`` does the rest (vabatch skips the
       videos that are complete).
    """
    project_root = Path(project_root).absolute()
    if not project_root.is_dir():
        raise InputError(f"{project_root}: no such folder")
    data_root = Path(data_root).absolute() if data_root else project_root / DEFAULT_DATA
    if not (data_root / "videos").is_dir():
        raise InputError(f"{data_root}: no videos/ folder (is this a vabatch data root?)")
    if not data_root.is_relative_to(project_root):
        raise InputError(f"{data_root}: the data root must be inside {project_root}")
    data = data_root.relative_to(project_root).as_posix()
    result = SetupResult(str(project_root))
    if not (project_root / ".dvc").is_dir():
        in_git = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=project_root,
                                capture_output=True, text=True)
        run_dvc(project_root, "init", *(() if in_git.returncode == 0 else ("--no-scm",)))
        result.initialised = True
    pipeline = project_root / PIPELINE_FILE
    if not pipeline.exists():
        atomic_write(pipeline, PIPELINE_TEMPLATE)
        result.pipeline_written = True
    elif LIST_FILE not in pipeline.read_text(encoding="utf-8"):
        raise InputError(f"{pipeline}: an existing dvc.yaml that does not use {LIST_FILE}; "
                         "merge the stages of docs/dvc.md into it first")
    result.ignore_lines_added = fix_ignore_files(project_root, data)
    sync = sync_video_list(project_root, data_root)
    result.videos, result.skipped = sync.videos, sync.skipped
    if commit:
        incomplete = [d.name for d in listed_video_dirs(project_root)
                      if not all((d / name).is_file() for name in DATABASES)]
        if incomplete or not sync.videos:
            result.left_for_repro = incomplete
        else:
            run_dvc(project_root, "commit", "--force", "--quiet", "videos")
            result.committed = ["videos"]
    return result
