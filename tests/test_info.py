"""``vabatch info`` on real data roots: a processed video (real OCR, a recorded run, trained
layout classifiers), one only ingested; headers read from the file agree with SQLite's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner

from testkit.corpus import Caption, VideoSpec
from testkit.corpus import make_video as make_captioned_video
from testkit.videos import make_video
from vabatch.api import EngineSettings, run_pipeline, set_box_label, train_layout
from vabatch.cli import app
from vabatch.db import DATABASE_ORDER, KINDS, VideoDatabase, latest_version
from vabatch.media import Sampling
from vabatch.ocr_engines import DEFAULT_ENGINE, create_engine
from vabatch.stages.ingest import IngestOptions, ingest_file
from vabatch.tools.info import collect_info, connection_header, sqlite_header

runner = CliRunner()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(data root, the processed video, the ingested-only video)."""
    base = tmp_path_factory.mktemp("info")
    data = base / "data"
    spec = VideoSpec("talk", [Caption(500, 2300, "The river town at morning"),
                              Caption(2300, 4100, "We never thought about it")], 5, width=640,
                     height=360, fps=30, background="gradients", font_size=20, seed=1)
    video, _ = make_captioned_video(spec, base / "media")
    processed = Path(ingest_file(video, data, IngestOptions(Sampling("fps", 1.0))).video_dir)
    report = run_pipeline([processed], data, settings=EngineSettings(
        backend="inprocess", record=True, command="run"))
    assert report.ok, [t.error for t in report.tasks]
    with VideoDatabase(processed) as db:
        boxes = db.execute("SELECT frame_index, box_index FROM fullOCR.full_frame_ocr"
                           " ORDER BY frame_index, box_index").fetchall()
    assert len(boxes) >= 2, "the captioned video should give OCR boxes"
    # A person's clicks (as on the review page): human labels even where the model agrees.
    set_box_label(processed, *boxes[0], "caption")
    set_box_label(processed, *boxes[1], "noise")
    train_layout([processed], data, "project")
    train_layout([processed], data, "video")
    plain = make_video(base / "media" / "plain.mp4", seconds=1, size="160x120")
    ingested = Path(ingest_file(plain, data, IngestOptions(Sampling("every", 5))).video_dir)
    return data, processed, ingested


def _info_json(data: Path) -> dict:
    result = runner.invoke(app, ["info", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_counts_sizes_versions_runs_and_models(root) -> None:
    data, processed, ingested = root
    shown = _info_json(data)
    assert shown["videos"] == 2
    assert shown["databases"]["video"]["videos"] == 2
    for alias in DATABASE_ORDER[1:]:
        kind = shown["databases"][alias]
        assert kind["videos"] == 1, alias
        assert kind["size_bytes"] == (processed / KINDS[alias].file_name).stat().st_size
        assert kind["versions"] == {str(latest_version(alias)): 1}
        assert kind["foreign"] == kind["being_written"] == 0
    assert shown["databases"]["video"]["size_bytes"] == sum(
        (d / "video.db").stat().st_size for d in (processed, ingested))
    assert shown["sources"] == {"videos": 2, "size_bytes": sum(
        next(d.glob("source.*")).stat().st_size for d in (processed, ingested))}
    installed = create_engine(DEFAULT_ENGINE).identity
    assert shown["ocr_engine"] == installed
    [made] = shown["ocr_made_with"]
    assert (made["engine"], made["version"], made["videos"]) == (
        installed["name"], installed["version"], 1)
    assert made["models"] == installed["models"]
    assert sum(shown["layout_methods"].values()) == 1
    assert shown["video_layout_models"] == 1
    assert shown["models"]["layout"]["format"] == "vabatch-logistic-v1"
    assert shown["models"]["boundaries"] is None
    [run] = shown["runs"]
    assert (run["command"], run["status"], run["tasks_failed"]) == ("run", "done", 0)
    assert run["tasks_total"] == len(DATABASE_ORDER) - 1  # every stage after ingest
    text = runner.invoke(app, ["info", "--data", str(data)])
    assert text.exit_code == 0, text.output
    for words in ("videos      2", "fullOCR", f"v{latest_version('captions')}: 1",
                  f"OCR made by {installed['name']} {installed['version']}",
                  "layout classifier: " + str(data / "models" / "box_classifier.json")):
        assert words in text.output, words


def test_headers_read_from_the_file_agree_with_sqlite(root) -> None:
    data, processed, ingested = root
    for video_dir in (processed, ingested):
        for alias in DATABASE_ORDER:
            path = video_dir / KINDS[alias].file_name
            if path.exists():
                assert sqlite_header(path) == connection_header(path) == (
                    KINDS[alias].application_id, latest_version(alias))


def test_a_database_being_written_is_read_through_sqlite(root, tmp_path) -> None:
    """A commit that is still in the -wal file is not in the header on disk: info sees it."""
    data = tmp_path / "copy"
    shutil.copytree(root[0], data)
    captions = next(data.glob("videos/*/*/captions.db"))
    writer = apsw.Connection(str(captions))
    try:
        for pragma in ("journal_mode = WAL", "wal_autocheckpoint = 0", "user_version = 77"):
            writer.execute(f"PRAGMA {pragma}").fetchall()
        assert Path(f"{captions}-wal").exists()
        assert sqlite_header(captions)[1] == latest_version("captions")  # stale on disk
        kind = collect_info(data).databases["captions"]
        assert (kind.versions, kind.being_written) == ({77: 1}, 1)
    finally:
        writer.close()


def test_foreign_and_damaged_files_are_counted_not_fatal(root, tmp_path) -> None:
    data = tmp_path / "copy"
    shutil.copytree(root[0], data)
    layout = next(data.glob("videos/*/*/layout.db"))
    layout.write_bytes(b"not a database at all" * 10)
    collected = collect_info(data)
    assert collected.databases["layout"].foreign == 1
    assert collected.databases["layout"].versions == {}
    [problem] = collected.unreadable
    assert str(layout) in problem
    (data / "runs.db").write_bytes(b"\0" * 4096)
    result = runner.invoke(app, ["info", "--data", str(data)])
    assert result.exit_code == 0 and "not of this" in result.output
    assert f"unreadable  {data / 'runs.db'}" in result.output
    assert f"unreadable  {layout}: NotADBError" in result.output


def test_boundary_models_are_read_as_data(root, tmp_path) -> None:
    data = tmp_path / "copy"
    shutil.copytree(root[0], data)
    models = data / "models" / "boundaries"
    for version in ("20261201T000000Z", "20261202T000000Z"):
        (models / version).mkdir(parents=True)
        (models / version / "meta.json").write_text(json.dumps({
            "format": "vabatch-boundaries-lightgbm-v1", "version": version,
            "trained_at": version, "videos": [{"video_id": "a", "source": "human"}]}))
    (models / "20261203T000000Z").mkdir()  # a training that did not finish
    versions = collect_info(data).models["boundaries"]["versions"]
    assert [(v["version"], v["state"]) for v in versions] == [
        ("20261201T000000Z", "finished"), ("20261202T000000Z", "in use"),
        ("20261203T000000Z", "unfinished (no meta.json)")]
    assert versions[1]["videos"] == 1
    result = runner.invoke(app, ["info", "--data", str(data)])
    assert "boundary model 20261202T000000Z: in use" in result.output


def test_missing_and_empty_roots_are_one_line(tmp_path) -> None:
    missing = runner.invoke(app, ["info", "--data", str(tmp_path / "nowhere")])
    assert missing.exit_code != 0
    assert missing.output.strip().count("\n") == 0 and "no such data root" in missing.output
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(app, ["info", "--data", str(tmp_path / "empty")])
    assert empty.exit_code == 0 and empty.output.strip() == (
        f"no videos in {tmp_path / 'empty'} (add some with `vabatch ingest`)")
    assert json.loads(runner.invoke(app, ["info", "--data", str(tmp_path / "empty"),
                                          "--json"]).output)["videos"] == 0


HOT_WRITER = """
import os, sys, apsw
conn = apsw.Connection(sys.argv[1])
conn.execute("PRAGMA journal_mode = DELETE").fetchall()
conn.execute("PRAGMA cache_size = 1")  # pages spill to the file before the commit
conn.execute("BEGIN")
conn.execute("PRAGMA user_version = 55")
conn.execute("CREATE TABLE filler (x)")
conn.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(2000),) for _ in range(400)])
print("written", flush=True)
sys.stdin.read()  # killed here, mid-transaction
"""


def test_a_hot_journal_left_by_a_killed_writer(root, tmp_path) -> None:
    """A writer killed mid-transaction leaves a hot -journal: the file on disk may hold
    uncommitted pages (the header too) and a reader may not roll it back: info counts the
    file as being written, with no version."""
    import subprocess
    import sys

    data = tmp_path / "copy"
    shutil.copytree(root[0], data)
    captions = next(data.glob("videos/*/*/captions.db"))
    writer = subprocess.Popen([sys.executable, "-c", HOT_WRITER, str(captions)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "written"
    finally:
        writer.kill()
        writer.wait()
    assert Path(f"{captions}-journal").exists()
    assert connection_header(captions) is None  # SQLite will not read it before a rollback
    kind = collect_info(data).databases["captions"]
    assert (kind.versions, kind.being_written, kind.foreign) == ({}, 1, 0)
