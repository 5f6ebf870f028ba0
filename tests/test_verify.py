"""`vabatch verify` and `vabatch status` on healthy data and on real, injected damage."""

from __future__ import annotations

import json
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner

from testkit.databases import add_ocr_rows
from vabatch.cli import app
from vabatch.db import VideoDatabase

runner = CliRunner()


def verify(data_root: Path, *args: str):
    result = runner.invoke(app, ["verify", "--data", str(data_root), "--json", *args])
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def problems(report) -> list[tuple[str, str]]:
    return [(Path(p["file"]).name, p["message"]) for v in report["videos"]
            for p in v["problems"]]


def add_labels(video_dir: Path, rows) -> None:
    with VideoDatabase(video_dir, write="layout") as db, db.conn:
        db.conn.executemany("INSERT INTO layout.full_frame_box_labels (frame_index, box_index,"
                            " label, label_source) VALUES (?, ?, ?, 'human')", rows)


@pytest.fixture
def healthy(ingested: Path) -> Path:
    """A video with video.db, fullOCR.db and layout.db that agree with each other."""
    add_ocr_rows(ingested, [(0, 0, "hello"), (5, 0, "world")])
    add_labels(ingested, [(0, 0, "caption"), (5, 0, "noise")])
    return ingested


def data_root_of(video_dir: Path) -> Path:
    return video_dir.parents[2]


def raw(path: Path) -> apsw.Connection:
    return apsw.Connection(str(path))


def test_healthy_data_verifies_including_deep_decoding(healthy):
    code, report = verify(data_root_of(healthy), "--deep")
    assert code == 0 and report["ok"], problems(report)
    assert report["videos"][0]["checked"] == ["video", "fullOCR", "layout"]


def test_flipped_bytes_inside_a_page_are_found(healthy):
    path = healthy / "fullOCR.db"
    conn = raw(path)
    root_page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name ="
                             " 'full_frame_ocr'").fetchall()[0][0]
    page_size = conn.execute("PRAGMA page_size").fetchall()[0][0]
    conn.close()
    data = bytearray(path.read_bytes())
    start = (root_page - 1) * page_size
    for offset in range(start + 3, start + 12):  # cell count and cell pointers
        data[offset] ^= 0xA5
    path.write_bytes(bytes(data))
    code, report = verify(data_root_of(healthy))
    assert code == 1
    [(name, message)] = problems(report)
    assert name == "fullOCR.db" and ("integrity" in message or "malformed" in message)


def test_a_truncated_file_is_found(healthy):
    path = healthy / "video.db"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, report = verify(data_root_of(healthy))
    assert code == 1
    assert [name for name, _ in problems(report)] == ["video.db"]


def test_a_dropped_table_is_found(healthy):
    conn = raw(healthy / "layout.db")
    conn.execute("DROP TABLE video_layout_config")
    conn.close()
    code, report = verify(data_root_of(healthy))
    assert code == 1
    assert problems(report) == [("layout.db",
                                 "required table 'video_layout_config' is missing")]


def test_a_wrong_application_id_is_found(healthy):
    conn = raw(healthy / "layout.db")
    conn.execute("PRAGMA application_id = 1234")
    conn.close()
    code, report = verify(data_root_of(healthy))
    assert code == 1
    [(name, message)] = problems(report)
    assert name == "layout.db" and "application_id is 0x4d2" in message


def test_orphan_rows_are_found_with_their_frames(healthy):
    add_ocr_rows(healthy, [(7, 0, "orphan")])  # frame 7 was not sampled (every 5th)
    add_labels(healthy, [(10, 3, "caption")])  # a sampled frame, but no such OCR box
    code, report = verify(data_root_of(healthy))
    assert code == 1
    found = problems(report)
    assert ("fullOCR.db", "full_frame_ocr rows name frames that video.full_frames does not"
            " have: 7") in found
    assert ("layout.db", "labels name OCR boxes that fullOCR does not have, in frames 10 "
            "(`vabatch annotate labels orphans --accept|--drop` settles them)") in found


def test_stray_sidecar_and_a_changed_source_video_are_found(healthy):
    # As a writer killed in WAL mode leaves it: the header says WAL, the -wal stays.
    video_db = healthy / "video.db"
    video_db.chmod(0o644)
    conn = raw(video_db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    assert video_db.read_bytes()[18:20] == b"\x02\x02"
    (healthy / "video.db-wal").write_bytes(b"")
    with open(healthy / "source.mp4", "ab") as stream:
        stream.write(b"appended")
    code, report = verify(data_root_of(healthy))
    assert code == 1
    names = [name for name, _ in problems(report)]
    assert sorted(names) == ["source.mp4", "video.db-wal"]


def test_deep_finds_an_image_that_does_not_decode(healthy):
    # Keep the database sound, damage one stored image: only --deep can see it.
    video_db = healthy / "video.db"
    video_db.chmod(0o644)
    conn = raw(video_db)
    conn.execute("UPDATE full_frames SET image_data = x'ffd8ffe000' WHERE frame_index = 10")
    conn.close()
    assert verify(data_root_of(healthy))[0] == 0
    code, report = verify(data_root_of(healthy), "--deep")
    assert code == 1
    [(name, message)] = problems(report)
    assert name == "video.db" and "frames 10" in message


def test_status_lists_databases_rows_and_sizes_and_survives_damage(healthy):
    data_root = data_root_of(healthy)
    result = runner.invoke(app, ["status", "--data", str(data_root), "--json"])
    assert result.exit_code == 0
    [video] = json.loads(result.stdout)
    assert video["video_id"] == healthy.name and video["source_name"] == "small.mp4"
    databases = video["databases"]
    assert databases["video"]["rows"] == 10 and databases["fullOCR"]["rows"] == 2
    assert databases["layout"]["rows"] == 2 and databases["captions"]["state"] == "missing"
    assert databases["video"]["size_bytes"] == (healthy / "video.db").stat().st_size
    (healthy / "layout.db").write_bytes(b"garbage" * 100)
    result = runner.invoke(app, ["status", "--data", str(data_root), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["databases"]["layout"]["state"] == "damaged"
    table = runner.invoke(app, ["status", "--data", str(data_root)])
    assert table.exit_code == 0 and "damaged" in table.output


def test_unknown_video_name_is_one_clear_error(healthy):
    result = runner.invoke(app, ["verify", "nosuchvideo", "--data",
                                 str(data_root_of(healthy))])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: nosuchvideo: no such video in the data root (see `vabatch status`)"]


HOLDER = """
import sys, time
from vabatch.db import VideoDatabase
with VideoDatabase(sys.argv[1], write="fullOCR") as db:
    db.execute("INSERT INTO fullOCR.ocr_frames VALUES (5, 0, NULL)")
    print("writing", flush=True)
    time.sleep(30)
"""


def test_a_database_being_written_is_a_note_not_a_problem(healthy):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(healthy)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "writing"
        assert (healthy / "fullOCR.db-wal").exists()
        code, report = verify(data_root_of(healthy))
        assert code == 0, problems(report)
        assert report["videos"][0]["notes"] == ["fullOCR.db: being written by a running stage"]
    finally:
        holder.kill()
        holder.wait()
    # Killed while writing: now the sidecars are stray.
    code, report = verify(data_root_of(healthy))
    assert code == 1
    assert {name for name, _ in problems(report)} >= {"fullOCR.db-wal"}


def test_a_wrong_data_root_is_one_clear_error(tmp_path):
    for command in (["status"], ["verify"], ["run"], ["export", "srt", "--out",
                                                      str(tmp_path / "out")]):
        result = runner.invoke(app, [*command, "--data", str(tmp_path / "no-such-root")])
        assert result.exit_code == 2, (command, result.output)
        assert result.output.strip().splitlines() == [
            f"error: {tmp_path / 'no-such-root'}: no such data root (give --data DIR or set "
            "VABATCH_DATA)"]


def _files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_videos_checked_side_by_side_report_as_when_checked_one_at_a_time(tmp_path):
    from testkit.videos import make_video
    from vabatch.media import Sampling
    from vabatch.stages.ingest import IngestOptions, ingest_file
    from vabatch.tools.verify import verify_videos

    data_root = tmp_path / "data"
    dirs = {}
    for source in ("testsrc2", "mandelbrot", "smptebars", "rgbtestsrc"):
        video = make_video(tmp_path / "inputs" / f"{source}.mp4", seconds=0.6, source=source)
        result = ingest_file(video, data_root, IngestOptions(Sampling("every", 5)))
        dirs[source] = Path(result.video_dir)
    with open(dirs["testsrc2"] / "source.mp4", "ab") as stream:  # the source changed
        stream.write(b"appended")
    (dirs["smptebars"] / "source.mp4").unlink()  # ... or is gone
    conn = raw(dirs["mandelbrot"] / "video.db")  # bytes of a frame changed beneath SQLite
    [(rowid,)] = conn.execute("SELECT rowid FROM full_frames WHERE frame_index = 5").fetchall()
    with conn.blob_open("main", "full_frames", "image_data", rowid, True) as blob:
        blob.seek(300)
        blob.write(bytes(64))
    conn.close()
    before = _files_under(data_root)

    alone = [r.to_json() for r in verify_videos(data_root, threads=1)]
    side_by_side = [r.to_json() for r in verify_videos(data_root, threads=4)]
    assert side_by_side == alone
    assert [r["video_dir"] for r in alone] == sorted(str(d) for d in dirs.values())
    found = {Path(r["video_dir"]): [f"{Path(p['file']).name}: {p['message']}"
                                    for p in r["problems"]] for r in alone}
    expected = {"testsrc2": ["source.mp4: the source video's XXH3-128 does not match"],
                "mandelbrot": ["video.db: full_frames: image_data does not match its "
                               "checksum (damaged bytes) in rows frame_index=5"],
                "smptebars": ["source.mp4: the source video named in video_metadata is "
                              "missing"],
                "rgbtestsrc": []}
    for source, messages in expected.items():
        assert len(found[dirs[source]]) == len(messages), found[dirs[source]]
        for problem, message in zip(found[dirs[source]], messages, strict=True):
            assert problem.startswith(message), problem
    assert _files_under(data_root) == before  # verify only looks


IMPORTS_OF_COMMAND = """
import sys
sys.argv = ["vabatch", *sys.argv[1:]]
from vabatch.cli import main
try:
    main()
except SystemExit as done:
    print("EXIT", done.code)
print("LOADED", *sorted(sys.modules))
"""
# Never needed by `vabatch verify` without --deep: the stages' and OCR's libraries, the
# image decoders of --deep, the other commands, and the parts of rich that only other
# commands or typer's help and tracebacks use.
NOT_FOR_VERIFY = ("numpy", "cv2", "rapidocr", "onnxruntime", "dask", "PIL", "simplejpeg",
                  "vabatch.stages", "vabatch.engine", "vabatch.api", "vabatch.ocr_engines",
                  "vabatch.cli.stages", "vabatch.cli.annotate", "vabatch.cli.score",
                  "vabatch.cli.display", "rich.table", "rich.progress", "rich.live",
                  "rich.markdown", "rich.traceback", "rich.pretty", "rich.syntax",
                  "typer.rich_utils")


def modules_loaded_by(*args: str) -> tuple[int, str, list[str], str]:
    """(exit status, stdout, modules loaded, stderr) of ``vabatch ARGS`` in a fresh process."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", IMPORTS_OF_COMMAND, *args],
                          capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    printed, _, rest = done.stdout.rpartition("EXIT ")
    code, _, loaded = rest.partition("LOADED")
    return int(code), printed, loaded.split(), done.stderr


def not_for_verify(loaded: list[str]) -> list[str]:
    return [m for m in loaded
            if any(m == name or m.startswith(name + ".") for name in NOT_FOR_VERIFY)]


def test_the_verify_command_loads_no_stage_engine_ocr_or_other_command(ingested):
    """`vabatch verify` builds its own command only (vabatch/cli/__init__.py): its start-up
    is most of its time on a few GB of data. With --json it prints nothing through rich,
    so it does not import rich at all (cli/common.py makes its consoles at first use)."""
    code, printed, loaded, _ = modules_loaded_by("verify", "--data",
                                                 str(data_root_of(ingested)), "--json")
    assert code == 0 and json.loads(printed)["ok"]
    assert "vabatch.cli.data" in loaded and "vabatch.tools.verify" in loaded
    assert not_for_verify(loaded) == []
    assert [m for m in loaded if m == "rich" or m.startswith("rich.")] == []


def test_the_verify_command_stops_at_a_missing_data_root_having_loaded_little(tmp_path):
    """The start-up that bench/verify_bench.py times: everything the command loads before it
    would check. A missing data root is one error line (through rich's console, for its
    colour) and exit 2, with nothing loaded that only checking, other commands, typer's
    help or tracebacks need."""
    missing = tmp_path / "no-such-root"
    code, printed, loaded, errors = modules_loaded_by("verify", "--data", str(missing))
    assert code == 2 and printed == ""
    assert errors.splitlines() == [f"error: {missing}: no such data root (give --data DIR "
                                   "or set VABATCH_DATA)"]
    assert "rich.console" in loaded  # the list is real: the console that printed the error
    assert not_for_verify(loaded) == []
