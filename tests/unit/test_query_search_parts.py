"""The parts of query and search that need no video: the read-only check (on empty
databases of the real schemas, in memory), terms, ranking SQL, snippets, OCR merging."""

from __future__ import annotations

import apsw
import pytest

from vabatch.db import apply_schema
from vabatch.db.video_database import open_connection
from vabatch.errors import InputError
from vabatch.tools.query import RefusedStatement, SchemaConnection, check_read_only
from vabatch.tools.search import (
    fts_expression,
    make_snippet,
    ocr_runs_sql,
    parse_terms,
    score_sql,
)


@pytest.fixture(scope="module")
def schema():
    connection = SchemaConnection()
    yield connection.conn
    connection.close()


@pytest.mark.parametrize("sql", [
    "INSERT INTO captions.captions (start_frame_index, end_frame_index) VALUES (1, 2)",
    "UPDATE fullOCR.full_frame_ocr SET text = ''", "DELETE FROM layout.full_frame_box_labels",
    "DROP TABLE video.full_frames", "CREATE TABLE captions.x (y)", "ALTER TABLE captions."
    "captions ADD COLUMN z", "ATTACH DATABASE ':memory:' AS other", "DETACH DATABASE captions",
    "PRAGMA captions.user_version = 1", "PRAGMA journal_mode = WAL", "PRAGMA optimize",
    "VACUUM", "VACUUM captions INTO '/tmp/never.db'", "REINDEX", "ANALYZE", "BEGIN",
    "SAVEPOINT s", "SELECT 1; SELECT 2", "SELECT 1; DELETE FROM captions.captions",
    "CREATE TEMP VIEW v AS SELECT 1", "SELECT load_extension('x')",
    "INSERT INTO captions.captions_fts (captions_fts) VALUES ('rebuild')",
])
def test_anything_but_one_read_is_refused(schema, sql):
    with pytest.raises(RefusedStatement, match="^refused: "):
        check_read_only(schema, sql)


@pytest.mark.parametrize("sql, columns", [
    ("SELECT id, text FROM captions.captions", ["id", "text"]),
    ("SELECT 1;  -- a comment after the one statement", ["1"]),
    ("PRAGMA captions.user_version", ["user_version"]),
    ("PRAGMA table_info(captions)", ["cid", "name", "type", "notnull", "dflt_value", "pk"]),
    ("SELECT name FROM pragma_table_info('full_frames', 'video')", ["name"]),
    ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 3) SELECT x FROM n",
     ["x"]),
    ("SELECT stage, error FROM video_tasks", ["stage", "error"]),
    ("SELECT count(*) AS n FROM runs.tasks", ["n"]),
])
def test_reads_pass_and_name_their_columns(schema, sql, columns):
    assert check_read_only(schema, sql) == columns


@pytest.mark.parametrize("sql, says", [
    ("", "no SQL statement"), ("-- nothing", "no SQL statement"),
    ("SELECT * FROM captions.nope", "no such table"), ("SELEC 1", "syntax error"),
])
def test_statements_that_cannot_run_are_one_input_error(schema, sql, says):
    with pytest.raises(InputError, match=says) as raised:
        check_read_only(schema, sql)
    assert not isinstance(raised.value, RefusedStatement)


def test_terms_fold_case_keep_phrases_and_quote_for_fts5():
    assert parse_terms('At "the Harbour"  你好') == ["at", "the harbour", "你好"]
    assert parse_terms('say "unbalanced') == ["say", '"unbalanced']
    assert fts_expression(['he said "no"', "x"]) == '"he said ""no""" AND "x"'
    with pytest.raises(InputError):
        parse_terms("   ")


def test_ranking_sql_puts_whole_words_and_short_texts_first():
    conn = apsw.Connection(":memory:")
    texts = ["Great weather that day", "at last", "we met at the station at dawn, at last",
             "我们在海边见面", "你好"]
    conn.execute("CREATE TABLE t (text TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [(t,) for t in texts])

    def ranked(term: str) -> list[str]:
        return [text for (text,) in conn.execute(
            f"SELECT text FROM t WHERE instr(lower(text), :t0) ORDER BY {score_sql('text', 1)}",
            {"t0": term, "w0": f" {term} "})]

    assert ranked("at") == ["we met at the station at dawn, at last", "at last",
                            "Great weather that day"]
    assert ranked("好") == ["你好"]
    assert ranked("海边") == ["我们在海边见面"]


def test_snippet_marks_every_match_around_the_first_one():
    text = ("A very long caption that goes on and on about the harbour and the boats that "
            "sail out at dawn every single morning")
    snippet = make_snippet(text, ["harbour", "dawn"], width=40)
    assert snippet.startswith("…") and snippet.endswith("…") and "[harbour]" in snippet
    assert len(snippet.replace("[", "").replace("]", "")) <= 42
    assert make_snippet("Go\nnorth AT dawn", ["at"]) == "Go north [AT] dawn"
    assert make_snippet("我们在海边见面", ["海边"]) == "我们在[海边]见面"


def test_ocr_hits_on_consecutive_frames_merge_into_one_time_range():
    # fullOCR of the real schema (FTS table and triggers), in memory; OCR read frames
    # 0, 30, 60, 90, 120
    holder = open_connection("file:/unit-fullocr?vfs=memdb")
    apply_schema(holder, "fullOCR")
    holder.executemany("INSERT INTO ocr_frames VALUES (?, 1, NULL)", [(f,) for f in
                                                                    (0, 30, 60, 90, 120)])
    holder.executemany(
        "INSERT INTO full_frame_ocr (frame_index, box_index, text, x, y, width, height)"
        " VALUES (?, ?, ?, 0, 0, 1, 1)",
        [(0, 0, "Hello there"), (30, 0, "hello there "), (90, 0, "Hello there"),
         (120, 0, "other there"), (60, 0, "Bye there"), (60, 1, "x")])
    conn = open_connection("file::memory:?mode=memory")
    conn.execute("ATTACH DATABASE 'file:/unit-fullocr?vfs=memdb' AS fullOCR")
    for terms in (["there"], ["re"]):  # through the trigram index, and the substring scan
        sql, bindings = ocr_runs_sql(terms, None)
        runs = sorted((first, last, end, text.casefold().strip(), boxes)
                      for first, last, end, _, _, text, boxes in conn.execute(sql, bindings))
        assert runs == [(0, 30, 60, "hello there", 2), (60, 60, 90, "bye there", 1),
                        (90, 90, 120, "hello there", 1), (120, 120, None, "other there", 1)]
    sql, bindings = ocr_runs_sql(["there"], 1)
    [(first, *_)] = conn.execute(sql, bindings).fetchall()
    assert first == 60  # the shortest text ranks first (bm25)
    conn.close()
    holder.close()
