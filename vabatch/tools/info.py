"""``vabatch info``: what a data root holds, in one look.

Videos, and per database kind how many videos have it, their total size and the schema
versions seen; the last runs (runs.db); this tool's and the OCR engine's versions, the
OCR engines and models the collection's fullOCR.db files were made with; the trained
models at the data root.

Sizes and schema versions come from each file's 100-byte SQLite header (the
``user_version`` is the 4 bytes at offset 60, the ``application_id`` those at 68), read
with one ``read`` per file instead of one connection per file: on 300 videos that was
2-3.5 times faster (docs/info.md has the figures). The header on disk is the
committed state only when no ``-wal`` or ``-journal`` file is beside it (at rest, every
vabatch database is so); a file that has one is read through a read-only connection,
which sees what SQLite sees.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import apsw

from vabatch import __version__
from vabatch.dataroot import list_video_dirs, videos_root
from vabatch.db.files import SIDECAR_SUFFIXES, sqlite_uri
from vabatch.db.schema import DATABASE_ORDER, KINDS, latest_version, read_header
from vabatch.db.video_database import open_connection
from vabatch.engine.records import list_runs
from vabatch.errors import InputError, VabatchError

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100
USER_VERSION_OFFSET, APPLICATION_ID_OFFSET = 60, 68
LAYOUT_MODEL = Path("models") / "box_classifier.json"  # as stages/layout.py stores it
BOUNDARY_MODELS = Path("models") / "boundaries"  # <version>/meta.json (train boundaries)


@dataclass
class KindInfo:
    """One database kind across the collection."""

    videos: int = 0
    size_bytes: int = 0
    versions: Counter = field(default_factory=Counter)  # user_version -> files
    latest_version: int = 0  # what this vabatch writes
    foreign: int = 0  # files that are not SQLite, or of another kind (legacy captions.db)
    being_written: int = 0  # with a -wal or -journal beside it

    def to_json(self) -> dict:
        return {"videos": self.videos, "size_bytes": self.size_bytes,
                "versions": {str(v): n for v, n in sorted(self.versions.items())},
                "latest_version": self.latest_version, "foreign": self.foreign,
                "being_written": self.being_written}


@dataclass
class CollectionInfo:
    """What ``vabatch info`` shows."""

    data_root: str
    videos: int
    tool_version: str
    sqlite_version: str
    ocr_engine: dict  # the default engine as installed here: name, version, models
    databases: dict[str, KindInfo]
    sources: dict  # the ingested video files: count and bytes
    ocr_made_with: list[dict]  # engine, version, models, videos: from each fullOCR.ocr_run
    layout_methods: dict[str, int]  # layout_run.method -> videos
    video_layout_models: int  # videos whose layout.db holds a model of their own
    models: dict  # trained models at the data root
    runs: list[dict]
    unreadable: list[str] = field(default_factory=list)  # files whose records could not be read

    def to_json(self) -> dict:
        data = dict(vars(self))
        data["databases"] = {alias: kind.to_json() for alias, kind in self.databases.items()}
        return data


def sqlite_header(path: Path) -> tuple[int, int] | None:
    """(application_id, user_version) from the file's SQLite header; None when it is not a
    SQLite database. Right only for a file with no -wal or -journal beside it."""
    with open(path, "rb") as handle:
        head = handle.read(HEADER_SIZE)
    if len(head) < HEADER_SIZE or not head.startswith(SQLITE_MAGIC):
        return None
    return (int.from_bytes(head[APPLICATION_ID_OFFSET:APPLICATION_ID_OFFSET + 4], "big"),
            int.from_bytes(head[USER_VERSION_OFFSET:USER_VERSION_OFFSET + 4], "big"))


def connection_header(path: Path) -> tuple[int, int] | None:
    """(application_id, user_version) as a read-only connection sees them (a WAL's
    commits included); None when SQLite cannot read the file."""
    try:
        conn = open_connection(sqlite_uri(path, read_only=True), busy_timeout_ms=2000)
        try:
            return read_header(conn)
        finally:
            conn.close()
    except apsw.Error:
        return None


def _scan_databases(video_dirs: list[Path]) -> tuple[dict[str, KindInfo], dict]:
    """Sizes and schema versions: one directory listing per video, then one stat and one
    header read per database (a connection only for a file with a sidecar)."""
    kinds = {alias: KindInfo(latest_version=latest_version(alias)) for alias in DATABASE_ORDER}
    sources = {"videos": 0, "size_bytes": 0}
    for video_dir in video_dirs:
        try:
            with os.scandir(video_dir) as listing:
                entries = {entry.name: entry for entry in listing}
        except OSError:  # removed since it was listed
            continue
        for name, entry in entries.items():
            if name.startswith("source.") and entry.is_file():
                sources["videos"] += 1
                sources["size_bytes"] += entry.stat().st_size
        for alias in DATABASE_ORDER:
            kind = KINDS[alias]
            entry = entries.get(kind.file_name)
            if entry is None or not entry.is_file():
                continue
            _count_database(kinds[alias], kind.application_id, Path(entry.path),
                            entry.stat().st_size,
                            any(kind.file_name + suffix in entries
                                for suffix in SIDECAR_SUFFIXES))
    return kinds, sources


def _count_database(info: KindInfo, application_id: int, path: Path, size: int,
                    sidecar: bool) -> None:
    info.videos += 1
    info.size_bytes += size
    if sidecar:
        info.being_written += 1
        header = connection_header(path)
        if header is None:  # e.g. a hot journal, which a reader cannot roll back
            return
    else:
        try:
            header = sqlite_header(path)
        except OSError:
            header = None
    if header is None or header[0] != application_id:
        info.foreign += 1
    else:
        info.versions[header[1]] += 1


def _video_records(video_dir: Path) -> tuple[tuple | None, tuple | None, list[str]]:
    """(OCR engine, version, models) and (layout method, own model) of one video."""
    ocr, layout, unreadable = None, None, []
    for alias in ("fullOCR", "layout"):
        path = video_dir / KINDS[alias].file_name
        if not path.is_file():
            continue
        try:
            conn = open_connection(sqlite_uri(path, read_only=True), busy_timeout_ms=2000)
            try:
                if alias == "fullOCR":
                    ocr = _ocr_run(conn)
                else:
                    layout = _layout_run(conn)
            finally:
                conn.close()
        except apsw.Error as error:
            unreadable.append(f"{path}: {type(error).__name__}: {error}")
    return ocr, layout, unreadable


def _ocr_run(conn: apsw.Connection) -> tuple | None:
    rows = conn.execute("SELECT engine, engine_version, parameters FROM ocr_run").fetchall()
    if not rows:
        return None
    engine, engine_version, parameters = rows[0]
    try:
        settings = json.loads(parameters)
    except (TypeError, ValueError):
        settings = {}
    engine_settings = settings.get("engine") if isinstance(settings, dict) else None
    if not isinstance(engine_settings, dict):  # older files: the engine's settings at the top
        engine_settings = settings if isinstance(settings, dict) else {}
    models = tuple(str(engine_settings[key]) for key in ("detector", "recognizer")
                   if key in engine_settings)
    return str(engine), str(engine_version), models


def _layout_run(conn: apsw.Connection) -> tuple:
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master"
                                               " WHERE type = 'table'")}
    method = (conn.execute("SELECT method FROM layout_run").fetchall()
              if "layout_run" in tables else [])  # files of schema 1-2 have none
    own = (conn.execute("SELECT count(*) FROM box_classification_model").fetchall()[0][0]
           if "box_classification_model" in tables else 0)
    return (str(method[0][0]) if method else None), own > 0


def _scan_records(video_dirs: list[Path]) -> tuple[list[dict], dict[str, int], int, list[str]]:
    """The OCR engines and layout methods recorded in the videos' databases, read one
    video after the other (threads were 4.7x slower on 300 videos: docs/info.md)."""
    engines: Counter = Counter()
    methods: Counter = Counter()
    own_models = 0
    unreadable: list[str] = []
    for ocr, layout, problems in map(_video_records, video_dirs):
        unreadable += problems
        if ocr is not None:
            engines[ocr] += 1
        if layout is not None:
            if layout[0] is not None:
                methods[layout[0]] += 1
            own_models += layout[1]
    made_with = [{"engine": engine, "version": version, "models": list(models),
                  "videos": count}
                 for (engine, version, models), count in engines.most_common()]
    return made_with, dict(methods.most_common()), own_models, unreadable


def installed_ocr_engine() -> dict:
    """The default OCR engine as installed here (no model is loaded)."""
    from vabatch.ocr_engines import DEFAULT_ENGINE, create_engine

    try:
        return create_engine(DEFAULT_ENGINE).identity
    except VabatchError as error:
        return {"name": DEFAULT_ENGINE, "error": str(error)}


def trained_models(data_root: Path) -> dict:
    """The project's layout classifier and the boundary models, read as data (JSON)."""
    found: dict = {"layout": None, "boundaries": None}
    layout = data_root / LAYOUT_MODEL
    if layout.is_file() and not layout.is_symlink():
        stat = layout.stat()
        found["layout"] = {"path": str(layout), "size_bytes": stat.st_size,
                           "modified": _utc(stat.st_mtime),
                           "format": _json_field(layout, "format")}
    folder = data_root / BOUNDARY_MODELS
    if folder.is_dir() and not folder.is_symlink():
        versions = []
        for entry in sorted(folder.iterdir()):
            if not entry.is_dir() or entry.is_symlink():
                continue
            meta = _read_json(entry / "meta.json")
            versions.append(_boundary_version(entry.name, meta))
        finished = [v for v in versions if v["state"] == "finished"]
        if finished:
            finished[-1]["state"] = "in use"  # the captions stage takes the newest finished
        found["boundaries"] = {"path": str(folder), "versions": versions}
    return found


def _boundary_version(name: str, meta: dict | None | str) -> dict:
    if meta is None:
        return {"version": name, "state": "unfinished (no meta.json)"}
    if not isinstance(meta, dict):
        return {"version": name, "state": f"unreadable meta.json ({meta})"}
    videos = meta.get("videos")
    return {"version": name, "state": "finished", "format": meta.get("format"),
            "trained_at": meta.get("trained_at"), "tool_version": meta.get("tool_version"),
            "videos": len(videos) if isinstance(videos, list) else None,
            "metrics": meta.get("metrics") if isinstance(meta.get("metrics"), dict) else None}


def _read_json(path: Path) -> dict | None | str:
    """The JSON in ``path``; None when absent; the reason as a string when unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return type(error).__name__


def _json_field(path: Path, key: str) -> str | None:
    data = _read_json(path)
    return str(data.get(key)) if isinstance(data, dict) and key in data else None


def _utc(seconds: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def collect_info(data_root: Path, runs: int = 5) -> CollectionInfo:
    """Everything ``vabatch info`` shows about ``data_root``; a missing root is one line."""
    data_root = Path(data_root).absolute()
    if not data_root.is_dir():
        raise InputError(f"{data_root}: no such data root (give --data DIR or set "
                         "VABATCH_DATA)")
    video_dirs = list_video_dirs(data_root) if videos_root(data_root).is_dir() else []
    kinds, sources = _scan_databases(video_dirs)
    made_with, methods, own_models, unreadable = _scan_records(video_dirs)
    try:
        last_runs = list_runs(data_root, limit=runs)
    except VabatchError as error:  # a damaged runs.db is a line, not a crash
        last_runs, unreadable = [], [*unreadable, str(error)]
    except apsw.Error as error:
        last_runs, unreadable = [], [*unreadable, f"{data_root / 'runs.db'}: "
                                     f"{type(error).__name__}: {error}"]
    return CollectionInfo(
        str(data_root), len(video_dirs), __version__, apsw.sqlite_lib_version(),
        installed_ocr_engine(), kinds, sources, made_with, methods, own_models,
        trained_models(data_root),
        [{key: run.get(key) for key in ("run_id", "command", "status", "started_at",
                                        "finished_at", "seconds", "tasks_total",
                                        "tasks_done", "tasks_failed")} for run in last_runs],
        unreadable)
