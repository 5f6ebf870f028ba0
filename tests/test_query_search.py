"""`vabatch query` and `vabatch search` on a real processed video (and real run records)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner

from testkit.corpus import Caption, VideoSpec, make_video
from testkit.databases import add_ocr_rows
from vabatch.api import run_pipeline, run_stages
from vabatch.cli import app
from vabatch.db import VideoDatabase
from vabatch.engine import EngineSettings
from vabatch.media import Sampling
from vabatch.stages.ingest import IngestOptions, ingest_file
from vabatch.stages.probe import ProbeOptions

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[1] / "docs"
# Rows a person wrote (as `vabatch annotate` does): Chinese words of 1, 2 and 3+ characters,
# English words inside others ("Great", "that") and alone ("at").
HUMAN = [
    (600, 630, 20000, 21000, "我们在海边见面"),
    (630, 660, 21000, 22000, "你好"),
    (660, 690, 22000, 23000, "at last"),
    (690, 720, 23000, 24000, "Great weather that day"),
    (720, 810, 24000, 27000, "A very long caption that goes on and on about the harbour "
                             "and the boats that sail out at dawn every single morning"),
]
BURNED_IN = [Caption(500, 2500, "Meet me at the harbour"),
             Caption(3000, 5200, "Go north at dawn"),
             Caption(5800, 8200, "The boats are waiting")]
OCR_WORD = "站台"  # put on the first two frames OCR read, and on the last


def _human_captions(video_dir: Path) -> None:
    with VideoDatabase(video_dir, write="captions") as db, db.conn:
        db.conn.executemany(
            "INSERT INTO captions.captions (start_frame_index, end_frame_index, start_ms,"
            " end_ms, text, source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'human',"
            " '2026-12-01T10:00:00Z', '2026-12-01T10:00:00Z')", HUMAN)


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """One generated video through every stage (recorded in runs.db), a failed probe run
    of it, human captions and a few OCR rows; returns (data_root, video_dir)."""
    media = tmp_path_factory.mktemp("query-media")
    data_root = tmp_path_factory.mktemp("query-data")
    spec = VideoSpec("harbour", BURNED_IN, 9, width=640, height=360, fps=30,
                     background="gradients", font_size=20, seed=3)
    video, _ = make_video(spec, media)
    video_dir = Path(ingest_file(video, data_root, IngestOptions(Sampling("fps", 1.0)))
                     .video_dir)
    settings = EngineSettings(backend="inprocess", command="run")
    report = run_pipeline([video_dir], data_root, settings=settings)
    assert all(t.status == "done" for t in report.tasks), [t.error for t in report.tasks]
    run_stages([video_dir], ["probe"], data_root,
               {"probe": ProbeOptions(permanent_for=(video_dir.name,))},
               EngineSettings(backend="inprocess", command="probe"))
    _human_captions(video_dir)
    with VideoDatabase(video_dir) as db:
        frames = [f for (f,) in db.execute(
            "SELECT frame_index FROM fullOCR.ocr_frames ORDER BY frame_index")]
    assert len(frames) >= 4
    add_ocr_rows(video_dir, [(f, 90, f"{OCR_WORD}到了") for f in (*frames[:2], frames[-1])])
    return data_root, video_dir


def _invoke(*args: str):
    return runner.invoke(app, [*args])


def _digest(video_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(video_dir.iterdir()) if p.suffix == ".db"}


# -- query: read-only --------------------------------------------------------------------------
@pytest.mark.parametrize("sql, says", [
    ("INSERT INTO captions.captions (start_frame_index, end_frame_index) VALUES (1, 2)",
     "INSERT"),
    ("UPDATE captions.captions SET text = 'x'", "UPDATE"),
    ("DELETE FROM captions.captions", "DELETE"),
    ("DROP TABLE captions.captions", "changes the schema"),
    ("ATTACH DATABASE '{tmp}/evil.db' AS evil", "ATTACH"),
    ("PRAGMA captions.user_version = 1", "PRAGMA user_version = 1"),
    ("SELECT 1; DELETE FROM captions.captions", "more than one statement"),
    ("SELECT count(*) FROM captions.captions; SELECT 2", "more than one statement"),
    ("VACUUM captions INTO '{tmp}/copy.db'", "writes"),
    ("BEGIN", "TRANSACTION"),
])
def test_query_refuses_anything_but_one_read_before_it_runs(processed, tmp_path, sql, says):
    data_root, video_dir = processed
    before = _digest(video_dir)
    result = _invoke("query", sql.format(tmp=tmp_path), "--data", str(data_root))
    assert result.exit_code == 2, result.output
    assert "refused" in result.stderr and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert result.stdout == ""
    assert _digest(video_dir) == before
    assert list(tmp_path.iterdir()) == []  # neither ATTACH nor VACUUM INTO made a file


def test_query_reads_pragmas_and_joins_across_databases(processed):
    data_root, video_dir = processed
    result = _invoke("query", "PRAGMA captions.user_version", "--json", "--data",
                     str(data_root))
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    with VideoDatabase(video_dir) as db:
        expected = db.execute("PRAGMA captions.user_version").fetchone()[0]
    assert row == {"video_id": video_dir.name, "source_name": "harbour.mp4",
                   "user_version": expected}


def test_query_json_csv_and_limit_give_the_rows_of_the_databases(processed):
    data_root, video_dir = processed
    sql = "SELECT id, start_ms, end_ms, text, source FROM captions.captions ORDER BY id"
    with VideoDatabase(video_dir) as db:
        expected = [tuple(r) for r in db.execute(sql)]
    assert len(expected) >= len(HUMAN) + 1
    as_json = _invoke("query", sql, "--json", "--data", str(data_root))
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    assert [(r["id"], r["start_ms"], r["end_ms"], r["text"], r["source"]) for r in rows] \
        == expected
    assert {r["video_id"] for r in rows} == {video_dir.name}
    assert list(rows[0]) == ["video_id", "source_name", "id", "start_ms", "end_ms", "text",
                             "source"]
    as_csv = _invoke("query", sql, "--csv", "--data", str(data_root))
    assert as_csv.exit_code == 0, as_csv.output
    table = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert table[0] == ["video_id", "source_name", "id", "start_ms", "end_ms", "text",
                        "source"]
    assert [tuple(r[2:]) for r in table[1:]] == [tuple(map(str, e)) for e in expected]
    limited = _invoke("query", sql, "--json", "--limit", "2", "--data", str(data_root))
    assert [r["id"] for r in json.loads(limited.stdout)] == [e[0] for e in expected[:2]]
    blobs = _invoke("query", "SELECT image_data FROM video.full_frames LIMIT 1", "--json",
                    "--data", str(data_root))
    assert re.fullmatch(r"<blob \d+ bytes>", json.loads(blobs.stdout)[0]["image_data"])


def test_query_reports_a_damaged_video_and_skips_a_video_without_the_database(
        processed, tmp_path):
    data_root, video_dir = processed
    root = tmp_path / "data"
    good = root / "videos" / video_dir.name[:2] / video_dir.name
    shutil.copytree(video_dir, good)
    damaged = root / "videos" / "ff" / "ffff000000000000"
    shutil.copytree(video_dir, damaged)
    (damaged / "captions.db").write_bytes(b"not a database at all" * 100)
    young = root / "videos" / "ee" / "eeee000000000000"
    young.mkdir(parents=True)
    shutil.copy(video_dir / "video.db", young / "video.db")
    result = _invoke("query", "SELECT count(*) AS n FROM captions.captions", "--json",
                     "--data", str(root))
    assert result.exit_code == 1
    assert [r["video_id"] for r in json.loads(result.stdout)] == [good.name]
    assert "error: ffff000000000000: " in result.stderr and "Traceback" not in result.output
    assert "skipped: eeee000000000000: " in result.stderr and "captions" in result.stderr


def _doc_statements() -> dict[str, str]:
    text = (DOCS / "query.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n-- (.+?)\n(.*?)```", text, re.S)
    return {name: sql for name, sql in blocks}


def _doc_query(data_root: Path, name: str) -> list[dict]:
    result = _invoke("query", _doc_statements()[name], "--json", "--data", str(data_root))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_documented_questions_answer_from_the_real_databases(processed):
    data_root, video_dir = processed
    assert len(_doc_statements()) == 5
    [failed] = _doc_query(data_root, "failed in the last day")
    assert failed["stage"] == "probe" and "corrupt input" in failed["error"]
    times = {r["stage"]: r for r in _doc_query(data_root, "time per stage")}
    assert set(times) == {"ocr", "layout", "crop", "captions"}
    assert all(r["runs"] == 1 and r["seconds"] > 0 for r in times.values())
    with VideoDatabase(video_dir) as db:
        caption_frames = [f for (f,) in db.execute(
            "SELECT DISTINCT l.frame_index FROM layout.full_frame_box_labels l"
            " JOIN fullOCR.full_frame_ocr o USING (frame_index, box_index)"
            " WHERE l.label = 'caption' ORDER BY 1")]
        long_ids = [i for (i,) in db.execute(
            "SELECT id FROM captions.captions WHERE end_ms - start_ms > 1500 ORDER BY start_ms")]
    assert caption_frames  # the burned-in captions were labelled
    assert [r["frame_index"] for r in _doc_query(data_root, "frames with a caption box")] \
        == caption_frames
    long = _doc_query(data_root, "captions longer than N seconds")
    assert [r["id"] for r in long] == long_ids and all(r["seconds"] > 1.5 for r in long)
    assert any(r["text"].startswith("A very long caption") for r in long)
    [corrected] = _doc_query(data_root, "corrected by people")
    assert corrected["video_id"] == video_dir.name
    assert corrected["human_captions"] == len(HUMAN)


def test_the_documented_sqlite3_shell_examples_work_as_written(processed):
    data_root, video_dir = processed
    captions_doc = (DOCS / "captions.md").read_text(encoding="utf-8")
    [shell] = re.findall(r"```sh\nsqlite3 \S+captions\.db \\\n\s+\"(.*?)\"\n```", captions_doc,
                         re.S)
    query_doc = (DOCS / "query.md").read_text(encoding="utf-8")
    runs_sql = re.findall(r"sqlite3 data/runs\.db \"(.*?)\"", query_doc, re.S)
    assert len(runs_sql) == 2  # time per stage, failures of the last day
    checks = [(video_dir / "captions.db", shell.replace("'harbour'", "'harb'")),
              *((data_root / "runs.db", sql) for sql in runs_sql)]
    for database, sql in checks:
        if shutil.which("sqlite3"):
            done = subprocess.run(["sqlite3", "-readonly", str(database), sql],
                                  capture_output=True, text=True, check=False)
            assert done.returncode == 0 and done.stdout.strip(), done.stderr
        conn = apsw.Connection(str(database), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            rows = conn.execute(sql).fetchall()
        finally:
            conn.close()
        assert rows
    conn = apsw.Connection(str(video_dir / "captions.db"), flags=apsw.SQLITE_OPEN_READONLY)
    texts = [r[3] for r in conn.execute(shell.replace("'harbour'", "'harb'"))]
    conn.close()
    assert any("harbour" in t for t in texts)


# -- search ------------------------------------------------------------------------------------
def _search(data_root: Path, *args: str) -> dict:
    result = _invoke("search", *args, "--json", "--data", str(data_root))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("word, expected", [
    ("海", ["我们在海边见面"]),
    ("你好", ["你好"]),
    ("见面", ["我们在海边见面"]),
    ("海边见", ["我们在海边见面"]),
])
def test_search_finds_chinese_words_of_one_two_and_more_characters(processed, word, expected):
    data_root, _ = processed
    assert [h["text"] for h in _search(data_root, word)["hits"]] == expected


def test_search_finds_short_english_words_and_ranks_whole_words_first(processed):
    data_root, _ = processed
    found = _search(data_root, "at")
    texts = [h["text"] for h in found["hits"]]
    assert texts[0] == "at last"
    assert "Great weather that day" in texts
    assert found["total_hits"] == len(texts)
    # a whole-word hit beats a hit inside a word of a text of the same length
    assert texts.index("at last") < texts.index("Great weather that day")
    go = [h["text"].lower() for h in _search(data_root, "go")["hits"]]
    assert any("north at dawn" in t for t in go)  # burned in, read back by OCR
    assert _search(data_root, "harbour")["hits"][0]["text"].lower().endswith("harbour") \
        or any("harbour" in h["text"].lower() for h in _search(data_root, "harbour")["hits"])


def test_search_hits_carry_time_range_snippet_and_respect_all_words(processed):
    data_root, video_dir = processed
    found = _search(data_root, "harbour dawn")
    [hit] = found["hits"]  # only the long human caption has both words
    assert (hit["start_ms"], hit["end_ms"]) == (24000, 27000)
    assert (hit["start_frame_index"], hit["end_frame_index"]) == (720, 810)
    assert hit["video_id"] == video_dir.name and hit["source_name"] == "harbour.mp4"
    assert "[harbour]" in hit["snippet"] and hit["snippet"].startswith("…")
    assert len(hit["snippet"]) < len(hit["text"])
    phrase = _search(data_root, '"at dawn every"')["hits"]
    assert [h["caption_id"] for h in phrase] == [hit["caption_id"]]
    assert _search(data_root, "harbour zebra")["hits"] == []
    limited = _search(data_root, "a", "--limit", "2")["hits"]
    everything = _search(data_root, "a", "--limit", "100")["hits"]
    assert len(everything) > 2 and limited == everything[:2]


def test_search_in_ocr_merges_consecutive_frames_into_one_time_range(processed):
    data_root, video_dir = processed
    with VideoDatabase(video_dir) as db:
        frames = db.execute("SELECT o.frame_index, f.timestamp_ms FROM fullOCR.ocr_frames o"
                            " JOIN video.full_frames f USING (frame_index)"
                            " ORDER BY o.frame_index").fetchall()
        [duration_ms] = db.execute("SELECT duration_ms FROM video.video_metadata").fetchone()
    for word in (OCR_WORD, OCR_WORD[0], OCR_WORD + "到"):  # 2, 1 and 3 characters
        hits = sorted(_search(data_root, word, "--in", "ocr")["hits"],
                      key=lambda h: h["start_ms"])
        assert [(h["start_frame_index"], h["end_frame_index"], h["start_ms"], h["end_ms"],
                 h["boxes"]) for h in hits] == [
            (frames[0][0], frames[2][0], frames[0][1], frames[2][1], 2),
            (frames[-1][0], frames[-1][0] + 1, frames[-1][1], duration_ms, 1)], word
    table = _invoke("search", OCR_WORD, "--in", "ocr", "--data", str(data_root))
    assert table.exit_code == 0 and "2 hits" in table.stdout and OCR_WORD in table.stdout


def test_search_skips_videos_without_the_database_and_reports_damaged_ones(
        processed, tmp_path):
    _, video_dir = processed
    root = tmp_path / "data"
    shutil.copytree(video_dir, root / "videos" / video_dir.name[:2] / video_dir.name)
    young = root / "videos" / "ee" / "eeee000000000000"
    young.mkdir(parents=True)
    shutil.copy(video_dir / "video.db", young / "video.db")
    damaged = root / "videos" / "ff" / "ffff000000000000"
    shutil.copytree(video_dir, damaged)
    (damaged / "captions.db").write_bytes(b"garbage" * 1000)
    result = _invoke("search", "你好", "--data", str(root))
    assert result.exit_code == 1
    assert "你好" in result.stdout
    assert "skipped: eeee000000000000: no captions.db yet" in result.stderr
    assert "error: ffff000000000000:" in result.stderr and "Traceback" not in result.output
    empty = _invoke("search", "  ", "--data", str(root))
    assert empty.exit_code == 2 and "nothing to search for" in empty.stderr


def test_unreadable_run_records_leave_video_tasks_empty_with_a_note(processed, tmp_path):
    data_root, video_dir = processed
    root = tmp_path / "data"
    shutil.copytree(video_dir, root / "videos" / video_dir.name[:2] / video_dir.name)
    sql = "SELECT count(*) AS tasks FROM video_tasks"
    without = _invoke("query", sql, "--json", "--data", str(root))
    assert without.exit_code == 0 and json.loads(without.stdout)[0]["tasks"] == 0
    assert "note:" not in without.stderr  # no runs.db yet: nothing to say
    shutil.copy(data_root / "runs.db", root / "runs.db")
    recorded = _invoke("query", sql, "--json", "--data", str(root))
    assert json.loads(recorded.stdout)[0]["tasks"] == 5  # 4 stages and the failed probe
    (root / "runs.db").write_bytes(b"not a database" * 500)
    damaged = _invoke("query", sql, "--json", "--data", str(root))
    assert damaged.exit_code == 0 and json.loads(damaged.stdout)[0]["tasks"] == 0
    assert "note: run records not attached, video_tasks is empty: " in damaged.stderr
