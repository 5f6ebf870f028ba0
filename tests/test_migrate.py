"""``vabatch migrate``: legacy monolithic captions.db -> split databases, with proof."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import apsw
from typer.testing import CliRunner

from testkit.legacy import (
    BAND,
    EVERY,
    FPS,
    HEIGHT,
    WIDTH,
    LegacyOptions,
    build_legacy_dir,
    frame_image,
    pickle_tripwire,
    png_bytes,
    snapshot,
)
from vabatch.cli import app
from vabatch.db import DATABASE_ORDER, KINDS, VideoDatabase
from vabatch.db.files import sidecars
from vabatch.tools.migrate import (
    OLD_FILE,
    PAUSE_ENV,
    PAUSE_FILE_ENV,
    PROOF_V1,
    ROLLBACK_JOURNAL,
    Builder,
    hash_legacy,
    hash_migrated,
    open_legacy,
)

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def legacy_dir(tmp_path: Path, name: str = "ep01", **options) -> Path:
    """A legacy directory in a data root, under a non-shard parent (no id/hash naming)."""
    return build_legacy_dir(tmp_path / "data" / "videos" / "legacy" / name,
                            LegacyOptions(**options))


def migrate(*args: str):
    return runner.invoke(app, ["migrate", "--quiet", *[str(a) for a in args]])


def migrate_json(*args) -> list[dict]:
    result = migrate("--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rows(path: Path, sql: str, bindings=()) -> list[tuple]:
    conn = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_URI
                           | apsw.SQLITE_OPEN_READONLY)
    try:
        return conn.execute(sql, bindings).fetchall()
    finally:
        conn.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- full round trip ----------------------------------------------------------------------
def test_round_trip_with_proof(tmp_path):
    directory = legacy_dir(tmp_path)
    legacy = directory / "captions.db"
    legacy_sha, legacy_stat = sha256(legacy), legacy.stat()
    legacy_frames = rows(legacy, "SELECT frame_index, timestamp_seconds, image_data"
                                 " FROM full_frames ORDER BY frame_index")

    [result] = migrate_json(directory)

    assert result["status"] == "migrated" and result["ok"]
    assert len(result["proofs"]) == 8 and all(p["ok"] for p in result["proofs"])
    by_table = {p["legacy_table"]: p for p in result["proofs"]}
    assert by_table["full_frames"]["legacy_rows"] == by_table["full_frames"]["new_rows"] == 10
    assert by_table["full_frames"]["legacy_sha256"] == by_table["full_frames"]["new_sha256"]
    # The original is kept untouched (same inode, same bytes).
    old = directory / OLD_FILE
    assert sha256(old) == legacy_sha and old.stat().st_ino == legacy_stat.st_ino
    assert old.stat().st_mtime_ns == legacy_stat.st_mtime_ns
    for alias in DATABASE_ORDER:
        path = directory / KINDS[alias].file_name
        assert path.exists(), path
        assert not sidecars(path)
        assert rows(path, "PRAGMA application_id")[0][0] == KINDS[alias].application_id
        stored = rows(path, "SELECT count(*) FROM migration_proof"
                            " WHERE legacy_table NOT LIKE 'file:%'")[0][0]
        assert stored == 8
    # video.db also fingerprints the other four files as migrate left them (for --rollback).
    assert rows(directory / "video.db", "SELECT legacy_table, new_rows FROM migration_proof"
                " WHERE legacy_table LIKE 'file:%' ORDER BY 1") == [
        (f"file:{KINDS[a].file_name}", (directory / KINDS[a].file_name).stat().st_size)
        for a in sorted(DATABASE_ORDER[1:], key=lambda a: KINDS[a].file_name)]
    assert not list(directory.glob(".*"))  # no staging folder, no journal
    # The video was found by name and linked in as source.mp4.
    source = directory / "source.mp4"
    assert source.stat().st_ino == (directory / "episode.mp4").stat().st_ino
    video_db = directory / "video.db"
    (meta,) = rows(video_db, "SELECT source_name, source_file, content_sha256, width, height,"
                             " fps, frame_count, duration_ms, sampling_mode FROM video_metadata")
    assert meta == ("episode.mp4", "source.mp4", sha256(source), WIDTH, HEIGHT, FPS, 30, 3000,
                    "legacy")
    # Frames: bytes carried byte for byte, seconds -> rounded milliseconds.
    new_frames = rows(video_db, "SELECT frame_index, timestamp_ms, image_data, image_format,"
                                " width, height FROM full_frames ORDER BY frame_index")
    assert [(f, round(t * 1000), data) for f, t, data in legacy_frames] == [
        (f, t, data) for f, t, data, *_ in new_frames]
    assert {(fmt, w, h) for *_, fmt, w, h in new_frames} == {("jpeg", WIDTH, HEIGHT)}
    # Crops are the legacy PNG bytes, with the frame's time.
    crops = rows(directory / "cropping.db", "SELECT frame_index, timestamp_ms, image_data,"
                 " image_format, crop_left, crop_top, crop_right, crop_bottom"
                 " FROM cropped_frames ORDER BY frame_index")
    assert crops[1][:2] == (EVERY, round(EVERY / FPS * 1000))
    assert crops[1][3:] == ("png", *BAND)
    left, top, right, bottom = BAND
    assert crops[1][2] == png_bytes(frame_image(EVERY)[top:bottom, left:right])
    # OCR: legacy engine, one ocr_frames row per sampled frame.
    ocr = directory / "fullOCR.db"
    assert rows(ocr, "SELECT engine FROM ocr_run") == [("legacy",)]
    assert rows(ocr, "SELECT count(*), sum(box_count) FROM ocr_frames") == [(10, 20)]
    # Captions: half-open frame ranges, times from the frame timestamps; kept as human.
    captions = rows(directory / "captions.db", "SELECT start_frame_index, end_frame_index,"
                    " start_ms, end_ms, text, source FROM captions ORDER BY id")
    assert captions[0] == (0, 10, 0, 1000, "line 0", "human")
    # verify, with and without the legacy comparison.
    data = tmp_path / "data"
    checked = runner.invoke(app, ["verify", "--data", str(data), "--against-legacy", "--json"])
    assert checked.exit_code == 0, checked.output
    assert "against legacy" in json.loads(checked.stdout)["videos"][0]["checked"]


def test_verify_against_legacy_sees_a_changed_row(tmp_path):
    directory = legacy_dir(tmp_path)
    migrate_json(directory)
    conn = apsw.Connection(str(directory / "fullOCR.db"))
    conn.execute("UPDATE full_frame_ocr SET text = 'changed' WHERE legacy_id = 3")
    conn.close()
    checked = runner.invoke(app, ["verify", "--data", str(tmp_path / "data"),
                                  "--against-legacy", "--json"])
    assert checked.exit_code == 1
    [problem] = json.loads(checked.stdout)["videos"][0]["problems"]
    assert problem["file"].endswith("fullOCR.db")
    assert "full_frame_ocr differs from legacy full_frame_ocr: 20 rows" in problem["message"]


def test_stages_read_the_migrated_directory(tmp_path):
    directory = legacy_dir(tmp_path)
    migrate_json(directory)
    data = tmp_path / "data"
    status = runner.invoke(app, ["status", "--data", str(data), "--json"])
    assert status.exit_code == 0, status.output
    [entry] = json.loads(status.stdout)
    assert entry["source_name"] == "episode.mp4"
    assert {a: d["state"] for a, d in entry["databases"].items()} == dict.fromkeys(
        DATABASE_ORDER, "present")
    assert entry["databases"]["video"]["rows"] == 10
    verified = runner.invoke(app, ["verify", "--data", str(data), "--deep"])
    assert verified.exit_code == 0, verified.output
    # Each stage opens its database for writing as if it had made it, and leaves no sidecar.
    for alias in DATABASE_ORDER:
        with VideoDatabase(directory, write=alias) as db:
            assert not db.legacy and all(db.has(a) for a in DATABASE_ORDER)
            joined = db.execute(
                "SELECT count(*) FROM video.full_frames f JOIN fullOCR.full_frame_ocr o"
                " USING (frame_index)").fetchall()[0][0]
            assert joined == 20
        assert not sidecars(directory / KINDS[alias].file_name)
    assert not list(directory.glob("*-wal")) and not list(directory.glob("*-shm"))


# -- what old files hold ------------------------------------------------------------------
def test_old_file_without_optional_tables(tmp_path):
    directory = legacy_dir(tmp_path, optional_tables=False)
    [result] = migrate_json(directory)
    assert result["status"] == "migrated"
    by_table = {p["legacy_table"]: p for p in result["proofs"]}
    assert by_table["cropped_frames"]["legacy_rows"] is None
    assert by_table["video_layout_config"]["legacy_rows"] is None
    assert all(p["ok"] for p in result["proofs"])
    assert not (directory / "cropping.db").exists()  # not produced yet: absent
    assert rows(directory / "layout.db", "SELECT count(*) FROM video_layout_config") == [(0,)]
    assert any("no cropped_frames table" in note for note in result["notes"])


def test_nulls_are_kept_and_proven(tmp_path):
    directory = legacy_dir(tmp_path, nulls=True, video="none", hash_kind=None)
    [result] = migrate_json(directory)
    assert result["status"] == "migrated", result
    assert all(p["ok"] for p in result["proofs"])
    video_db = directory / "video.db"
    (meta,) = rows(video_db, "SELECT source_file, content_sha256, width, height, fps,"
                             " frame_count, duration_ms, legacy_width FROM video_metadata")
    # Width/height from the first JPEG's header; frame count from the frames; no video.
    assert meta == (None, "unknown", WIDTH, HEIGHT, None, 28, None, None)
    assert "not found" in result["source_status"]
    sizes = rows(video_db, "SELECT width, height, legacy_width FROM full_frames"
                           " WHERE frame_index = 0")
    assert sizes == [(WIDTH, HEIGHT, None)]
    blank = rows(directory / "fullOCR.db", "SELECT text, x, width, legacy_nulls"
                                           " FROM full_frame_ocr WHERE box_index = 1 LIMIT 1")
    assert blank == [("", 0, 0, 0b01011)]
    labels = rows(directory / "layout.db", "SELECT label_source, legacy_nulls,"
                  " legacy_label_source FROM full_frame_box_labels ORDER BY legacy_id LIMIT 2")
    assert labels == [("user", 0, None), ("user", 1, None)]
    crop = rows(directory / "cropping.db", "SELECT crop_left, crop_right, legacy_nulls"
                                           " FROM cropped_frames WHERE frame_index = 0")
    assert crop == [(BAND[0], BAND[2], 0b0101)]  # NULL edges take the layout's band


def test_unknown_label_source_is_kept(tmp_path):
    directory = legacy_dir(tmp_path)
    migrate_json(directory)
    kept = rows(directory / "layout.db", "SELECT label_source, legacy_label_source FROM"
                " full_frame_box_labels WHERE box_index = 1 LIMIT 1")
    assert kept == [("user", "old-tool-v1")]


def test_labels_whose_ocr_box_is_missing_are_reported_and_kept(tmp_path):
    directory = legacy_dir(tmp_path, orphan_labels=3)
    result = migrate(directory)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert "3 label rows name an OCR box that full_frame_ocr does not have (kept" in flat
    assert rows(directory / "layout.db", "SELECT count(*) FROM full_frame_box_labels") == [(23,)]
    assert rows(directory / "layout.db", "SELECT frame_index, box_index FROM"
                " full_frame_box_labels WHERE box_index >= 7 ORDER BY box_index") == [
        (0, 7), (3, 8), (6, 9)]
    # verify names the same finding rather than hiding it.
    checked = runner.invoke(app, ["verify", "--data", str(tmp_path / "data"), "--json"])
    assert checked.exit_code == 1
    [problem] = json.loads(checked.stdout)["videos"][0]["problems"]
    assert "labels name OCR boxes" in problem["message"]
    assert "annotate labels orphans --accept|--drop" in problem["message"]


def test_a_person_accepts_or_drops_orphan_labels(tmp_path):
    directory = legacy_dir(tmp_path, orphan_labels=3)
    migrate_json(directory)
    data = str(tmp_path / "data")
    listed = runner.invoke(app, ["annotate", "labels", "orphans", "--data", data])
    assert "ep01: 3 orphan labels; 0 accepted before, 3 to settle" in listed.stdout
    accepted = runner.invoke(app, ["annotate", "labels", "orphans", "--accept", "--data", data])
    assert accepted.exit_code == 0 and "3 accepted" in accepted.stdout
    # Accepted: verify passes and says so in a note; the rows are all still there.
    checked = runner.invoke(app, ["verify", "--data", data, "--json"])
    assert checked.exit_code == 0, checked.output
    [video] = json.loads(checked.stdout)["videos"]
    assert any("3 labels name OCR boxes that fullOCR does not have, accepted by a person"
               in note for note in video["notes"])
    assert rows(directory / "layout.db", "SELECT count(*) FROM full_frame_box_labels") == [(23,)]
    # The decision survives a layout run (which rebuilds layout.db) ...
    assert runner.invoke(app, ["layout", "--data", data, "-q", "--json"]).exit_code == 0
    assert runner.invoke(app, ["verify", "--data", data]).exit_code == 0
    # ... and a new orphan is a problem again until settled.
    conn = apsw.Connection(str(directory / "layout.db"))
    conn.execute("INSERT INTO full_frame_box_labels (frame_index, box_index, label,"
                 " label_source) VALUES (9, 42, 'caption', 'human')")
    conn.close()
    assert runner.invoke(app, ["verify", "--data", data]).exit_code == 1
    dropped = runner.invoke(app, ["annotate", "labels", "orphans", "--drop", "--data", data])
    assert dropped.exit_code == 0 and "4 dropped" in dropped.stdout
    assert rows(directory / "layout.db", "SELECT count(*) FROM full_frame_box_labels"
                " WHERE box_index >= 7") == [(0,)]
    checked = runner.invoke(app, ["verify", "--data", data, "--json"])
    assert checked.exit_code == 0 and not json.loads(checked.stdout)["videos"][0]["notes"]


def test_pickled_model_is_copied_and_never_loaded(tmp_path):
    marker = tmp_path / "UNPICKLED"
    blob = pickle_tripwire(marker)
    directory = legacy_dir(tmp_path, model_data=blob)
    [result] = migrate_json(directory)
    assert result["status"] == "migrated"
    assert any("a pickle" in note and "never loaded" in note for note in result["notes"])
    model = rows(directory / "layout.db",
                 "SELECT model_format, model_data FROM box_classification_model")
    assert model == [("legacy-pickle", blob)]
    checked = runner.invoke(app, ["verify", "--data", str(tmp_path / "data"),
                                  "--against-legacy", "--deep"])
    assert checked.exit_code == 0, checked.output
    assert not marker.exists()


def test_video_elsewhere_found_by_absolute_path_and_md5(tmp_path):
    directory = legacy_dir(tmp_path, video="elsewhere", hash_kind="md5")
    [result] = migrate_json(directory)
    assert "absolute path" in result["source_status"] and "md5" in result["source_status"]
    source = directory / "source.mp4"
    (meta,) = rows(directory / "video.db", "SELECT source_file, content_sha256, size_bytes"
                                           " FROM video_metadata")
    assert meta == ("source.mp4", sha256(source), source.stat().st_size)


def test_corrupt_legacy_file_one_error_nothing_changed(tmp_path):
    garbage = legacy_dir(tmp_path, "garbage")
    (garbage / "captions.db").write_bytes(os.urandom(20000))
    truncated = legacy_dir(tmp_path, "truncated")
    data = (truncated / "captions.db").read_bytes()
    (truncated / "captions.db").write_bytes(data[: len(data) // 2])
    for directory in (garbage, truncated):
        before = snapshot(directory)
        result = migrate(directory)
        assert result.exit_code == 1
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, result.stderr
        assert "captions.db" in errors[0] and "Traceback" not in result.output
        assert snapshot(directory) == before


def test_dry_run_writes_nothing(tmp_path):
    directory = legacy_dir(tmp_path)
    before = snapshot(directory)
    result = migrate("--dry-run", directory)
    assert result.exit_code == 0, result.output
    assert "would migrate" in result.stdout
    assert snapshot(directory) == before
    assert {p.name for p in directory.iterdir()} == {"captions.db", "episode.mp4"}


def test_running_twice_changes_nothing(tmp_path):
    directory = legacy_dir(tmp_path)
    migrate_json(directory)
    after_first = snapshot(directory)
    mtimes = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}
    [again] = migrate_json(directory)
    assert again["status"] == "unchanged"
    assert all(p["ok"] for p in again["proofs"]) and len(again["proofs"]) == 8
    assert snapshot(directory) == after_first
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == mtimes


def test_rollback_restores_legacy_byte_for_byte(tmp_path):
    directory = legacy_dir(tmp_path)
    before = snapshot(directory)
    migrate_json(directory)
    assert snapshot(directory) != before
    [result] = migrate_json("--rollback", directory)
    assert result["status"] == "rolled back"
    assert snapshot(directory) == before
    # ... and migrating again gives the same files as the first time.
    migrate_json(directory)
    assert runner.invoke(app, ["verify", "--data", str(tmp_path / "data"),
                               "--against-legacy"]).exit_code == 0


def test_many_directories_in_parallel_one_bad(tmp_path):
    good = [legacy_dir(tmp_path, f"ep{n}") for n in range(3)]
    bad = legacy_dir(tmp_path, "bad")
    (bad / "captions.db").write_bytes(b"not a database at all" * 100)
    result = migrate("--workers", "2", *good, bad)
    assert result.exit_code == 1
    assert "1 of 4 directories failed" in result.stderr
    for directory in good:
        assert (directory / "video.db").exists() and (directory / OLD_FILE).exists()
    assert (bad / "captions.db").read_bytes() == b"not a database at all" * 100
    assert not (bad / "video.db").exists()


def test_without_arguments_migrates_legacy_dirs_of_the_data_root(tmp_path):
    directories = [legacy_dir(tmp_path, f"ep{n}") for n in range(2)]
    result = runner.invoke(app, ["migrate", "-q", "--data", str(tmp_path / "data"), "--json"])
    assert result.exit_code == 0, result.output
    assert [r["status"] for r in json.loads(result.stdout)] == ["migrated", "migrated"]
    assert all((d / "video.db").exists() for d in directories)


def test_not_a_directory_and_already_split(tmp_path, ingested):
    result = migrate("--json", tmp_path / "nowhere", ingested)
    assert result.exit_code == 1
    statuses = [r["status"] for r in json.loads(result.stdout)]
    assert statuses == ["failed", "skipped"]


# -- SIGKILL at any point -----------------------------------------------------------------
def _run_killed(arguments: list[str], step: str, tmp_path: Path) -> None:
    """Run migrate in a subprocess, pause it at ``step``, and SIGKILL it there."""
    marker = tmp_path / f"paused-{step}"
    env = os.environ | {PAUSE_ENV: step, PAUSE_FILE_ENV: str(marker),
                        "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "vabatch", "migrate", "-q", *arguments],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"ended before {step}: {process.stderr.read().decode()}")
        assert time.monotonic() < deadline, f"never reached {step}"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


MIGRATE_STEPS = ["staging-created", "built-video", "built-layout", "manifest-written",
                 "committed", "installed-source.mp4", "installed-captions.db",
                 "installed-video.db"]


def test_sigkill_during_migrate_then_rerun_equals_uninterrupted(tmp_path):
    template = legacy_dir(tmp_path / "template")
    reference = tmp_path / "reference"
    shutil.copytree(template, reference)
    migrate_json(reference)
    expected = snapshot(reference)
    for step in MIGRATE_STEPS:
        directory = tmp_path / "runs" / step
        shutil.copytree(template, directory)
        _run_killed([str(directory)], step, tmp_path)
        [result] = migrate_json(directory)
        assert result["ok"] and all(p["ok"] for p in result["proofs"]), (step, result)
        assert snapshot(directory) == expected, step


ROLLBACK_STEPS = ["rollback-journal", "rollback-removed", "rollback-restored"]


def test_sigkill_during_rollback_then_rerun_restores_legacy(tmp_path):
    template = legacy_dir(tmp_path / "template")
    expected = snapshot(template)
    migrate_json(template)
    migrated = tmp_path / "migrated"
    shutil.copytree(template, migrated)
    for step in ROLLBACK_STEPS:
        directory = tmp_path / "runs" / step
        shutil.copytree(migrated, directory)
        _run_killed(["--rollback", str(directory)], step, tmp_path)
        [result] = migrate_json("--rollback", directory)
        assert result["status"] == "rolled back", step
        assert snapshot(directory) == expected, step


def test_sigkill_during_rollback_then_migrate_finishes_both(tmp_path):
    directory = legacy_dir(tmp_path)
    reference = tmp_path / "reference"
    shutil.copytree(directory, reference)
    migrate_json(reference)
    migrate_json(directory)
    _run_killed(["--rollback", str(directory)], "rollback-removed", tmp_path)
    [result] = migrate_json(directory)
    assert result["status"] == "migrated"
    assert snapshot(directory) == snapshot(reference)


# -- building blocks ----------------------------------------------------------------------
def test_ingest_still_works_with_the_new_schema_steps(ingested):
    (meta,) = rows(ingested / "video.db", "SELECT sampling_mode, legacy_id FROM video_metadata")
    assert meta == ("every", None)
    assert rows(ingested / "video.db", "SELECT count(*) FROM migration_proof") == [(0,)]


# -- proof format versions ----------------------------------------------------------------
def test_proof_is_xxh3_and_verify_still_reads_old_sha256_proofs(tmp_path):
    directory = legacy_dir(tmp_path)
    [result] = migrate_json(directory)
    assert {p["algorithm"] for p in result["proofs"]} == {"xxh3_128"}
    assert all(p["new_sha256"].startswith("xxh3_128:") for p in result["proofs"])
    # Rewrite the stored proofs as a first-version migration left them (bare SHA-256 hex).
    files = {a: directory / KINDS[a].file_name for a in DATABASE_ORDER}
    legacy = open_legacy(directory / OLD_FILE)
    try:
        old_legacy = hash_legacy(legacy.uri, legacy, {}, PROOF_V1)
    finally:
        legacy.close()
    old_new = hash_migrated(files, version=PROOF_V1)
    assert all(len(h) == 64 for _, h in old_new.values())
    for path in files.values():
        conn = apsw.Connection(str(path))
        for table, (_rows, new_hash) in old_new.items():
            legacy_side = old_legacy[table]
            conn.execute("UPDATE migration_proof SET legacy_sha256 = ?, new_sha256 = ?"
                         " WHERE legacy_table = ?",
                         (legacy_side[1] if legacy_side else None, new_hash, table))
        conn.close()
    data = tmp_path / "data"
    checked = runner.invoke(app, ["verify", "--data", str(data), "--against-legacy"])
    assert checked.exit_code == 0, checked.output
    conn = apsw.Connection(str(directory / "captions.db"))
    conn.execute("UPDATE captions SET text = 'edited' WHERE id = 1")
    conn.close()
    checked = runner.invoke(app, ["verify", "--data", str(data), "--against-legacy", "--json"])
    assert checked.exit_code == 1
    [problem] = json.loads(checked.stdout)["videos"][0]["problems"]
    assert "captions.captions differs from legacy captions: 2 rows sha256" in problem["message"]


# -- refusals: nothing changes ------------------------------------------------------------
def test_proof_failure_stops_before_anything_changes(tmp_path, monkeypatch):
    directory = legacy_dir(tmp_path)
    before = snapshot(directory)
    original = Builder.build

    def build_then_damage(self, alias):  # a bug in the copy, seen only by the proof
        original(self, alias)
        if alias == "captions":
            conn = apsw.Connection(str(self.path(alias)))
            conn.execute("UPDATE captions SET text = 'lost' WHERE id = 2")
            conn.close()

    monkeypatch.setattr(Builder, "build", build_then_damage)
    result = migrate(directory)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    flat = " ".join(result.stderr.split())
    assert "proof failed for captions (2 rows -> 2); nothing was changed" in flat
    assert "Traceback" not in result.output
    assert snapshot(directory) == before  # no staging folder, no new file, legacy untouched


def test_damaged_index_page_is_refused(tmp_path):
    directory = legacy_dir(tmp_path)
    legacy = directory / "captions.db"
    (page_size,), = rows(legacy, "PRAGMA page_size")
    # The UNIQUE(frame_index, box_index) index of the labels: the copy never reads it (the
    # first release migrated this file without a word), only an integrity check does.
    (root,), = rows(legacy, "SELECT rootpage FROM sqlite_master WHERE type = 'index'"
                            " AND tbl_name = 'full_frame_box_labels'")
    data = bytearray(legacy.read_bytes())
    end = root * page_size  # the index's (leaf) root page: its cells sit at the page's end
    data[end - 300:end - 100] = bytes(range(200))
    legacy.write_bytes(bytes(data))
    assert rows(legacy, "SELECT count(*) FROM full_frame_box_labels NOT INDEXED") == [(20,)]
    before = snapshot(directory)
    result = migrate(directory)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "damaged legacy database (integrity_check" in " ".join(result.stderr.split())
    assert snapshot(directory) == before


def test_rollback_refuses_work_done_since_unless_forced(tmp_path):
    directory = legacy_dir(tmp_path)
    original = snapshot(directory)
    migrate_json(directory)
    # A person corrects a caption in the new captions.db.
    conn = apsw.Connection(str(directory / "captions.db"))
    conn.execute("UPDATE captions SET text = 'corrected' WHERE id = 1")
    conn.close()
    edited = snapshot(directory)
    refused = migrate("--rollback", directory)
    assert refused.exit_code == 1
    flat = " ".join(refused.stderr.split())
    assert "changed since the migration (captions.db was rewritten" in flat
    assert "--force" in flat and "Traceback" not in refused.output
    assert snapshot(directory) == edited
    [forced] = migrate_json("--rollback", "--force", directory)
    assert forced["status"] == "rolled back"
    assert any("discards changes made since the migration" in n for n in forced["notes"])
    assert snapshot(directory) == original


def test_rollback_of_a_migration_without_file_records_checks_the_proof(tmp_path):
    directory = legacy_dir(tmp_path)
    original = snapshot(directory)
    migrate_json(directory)
    conn = apsw.Connection(str(directory / "video.db"))  # as the first release left it
    conn.execute("DELETE FROM migration_proof WHERE legacy_table LIKE 'file:%'")
    conn.close()
    migrated = tmp_path / "migrated"
    shutil.copytree(directory, migrated)
    conn = apsw.Connection(str(directory / "captions.db"))
    conn.execute("INSERT INTO captions (start_frame_index, end_frame_index, text, source)"
                 " VALUES (20, 25, 'added by hand', 'human')")
    conn.close()
    refused = migrate("--rollback", directory)
    assert refused.exit_code == 1
    assert "captions.captions: 2 rows at migration, 3 now" in " ".join(refused.stderr.split())
    [result] = migrate_json("--rollback", migrated)  # unchanged since: no refusal
    assert result["status"] == "rolled back" and snapshot(migrated) == original


def test_rollback_sees_rows_changed_in_video_db(tmp_path):
    directory = legacy_dir(tmp_path)
    migrate_json(directory)
    conn = apsw.Connection(str(directory / "video.db"))
    conn.execute("DELETE FROM full_frames WHERE frame_index = 3")
    conn.close()
    refused = migrate("--rollback", directory)
    assert refused.exit_code == 1
    assert "video.full_frames: 10 rows at migration, 9 now" in " ".join(refused.stderr.split())
    assert migrate("--force", directory).exit_code != 0  # --force is for --rollback only


# -- the stage commands on a migrated directory -------------------------------------------
def test_stage_commands_run_on_a_migrated_directory(tmp_path):
    directory = legacy_dir(tmp_path)  # the video is found and linked in as source.mp4
    migrate_json(directory)
    data = tmp_path / "data"
    ran = runner.invoke(app, ["run", "--data", str(data), "--json", str(directory)])
    assert ran.exit_code == 0, ran.output
    [entry] = json.loads(ran.stdout)
    assert entry["error"] is None and set(entry["stages"]) == {"ocr", "layout", "crop",
                                                                "captions"}
    # The migrated captions are the old tool's human work: kept as they were.
    assert rows(directory / "captions.db", "SELECT id, start_frame_index, end_frame_index,"
                " text, source FROM captions WHERE source = 'human' ORDER BY id") == [
        (1, 0, 10, "line 0", "human"), (2, 10, 20, "line 1", "human")]
    # Box labels of people ('user') are carried over by layout.
    assert rows(directory / "layout.db", "SELECT count(*) FROM full_frame_box_labels"
                " WHERE label_source = 'user'") == [(20,)]
    out = tmp_path / "srt"
    exported = runner.invoke(app, ["export", "srt", "--data", str(data), "--out", str(out),
                                   "--video", str(directory)])
    assert exported.exit_code == 0, exported.output
    srt = (out / "episode.srt").read_text()
    assert "00:00:00,000 --> 00:00:01,000\nline 0" in srt
    assert "00:00:01,000 --> 00:00:02,000\nline 1" in srt
    # A second run has nothing to do.
    again = runner.invoke(app, ["run", "--data", str(data), "--json", str(directory)])
    assert again.exit_code == 0, again.output
    assert set(json.loads(again.stdout)[0]["stages"].values()) == {"unchanged"}


def test_ocr_keeps_migrated_boxes_that_human_labels_point_at(tmp_path):
    directory = legacy_dir(tmp_path)
    migrate_json(directory)
    ran = runner.invoke(app, ["ocr", "--data", str(tmp_path / "data"), "--json",
                              str(directory)])
    assert ran.exit_code == 0, ran.output
    assert rows(directory / "fullOCR.db", "SELECT engine FROM ocr_run") == [("legacy",)]
    assert rows(directory / "fullOCR.db", "SELECT count(*) FROM full_frame_ocr"
                " WHERE legacy_id IS NOT NULL") == [(20,)]


# -- names read from data are never paths ----------------------------------------------------
def test_rollback_refuses_to_delete_a_file_the_migration_record_names_outside(tmp_path):
    directory = legacy_dir(tmp_path)
    migrate_json(directory)
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("keep me")
    for name in (str(victim), "../../../../outside/victim.txt"):
        conn = apsw.Connection(str(directory / "video.db"))
        conn.execute("UPDATE migration SET installed_files = ?",
                     (json.dumps(["source.mp4", name]),))
        conn.close()
        result = migrate("--rollback", directory)
        assert result.exit_code == 1, result.output
        assert "not a file of this directory" in result.output
        assert victim.read_text() == "keep me"
        assert (directory / "video.db").exists()  # nothing was removed
        assert (directory / "captions.db.old").exists()


def test_an_interrupted_rollback_whose_journal_names_a_path_outside_deletes_nothing(tmp_path):
    directory = legacy_dir(tmp_path)
    migrate_json(directory)
    victim = tmp_path / "y"
    victim.write_text("keep me")
    (directory / ROLLBACK_JOURNAL).write_text(json.dumps(
        {"remove": ["video.db", "../../../../y"]}))
    result = runner.invoke(app, ["migrate", "--quiet", "--data", str(tmp_path / "data")])
    assert result.exit_code == 1, result.output
    assert "rollback journal" in result.output and "'../../../../y'" in result.output
    assert victim.read_text() == "keep me"
    assert (directory / "video.db").exists()
