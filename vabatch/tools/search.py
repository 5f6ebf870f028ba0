"""``vabatch search``: full-text search of caption text or OCR text across all videos.

Each word of 3 or more characters is looked up in the stage's own FTS5 table
(``captions.captions_fts``, ``fullOCR.full_frame_ocr_fts``: trigram tokens, kept in step by
triggers) and ranked by bm25. The trigram index cannot see shorter words (most Chinese words
have one or two characters; English has 'at', 'go'), so those are matched as substrings:
as a filter on the index's hits when the query also has a longer word, else by a scan of
the text column, ranked by a bm25-like score (occurrences, whole-word hits counted four times,
shorter texts first). Videos are searched side by side in a thread pool (apsw releases the
GIL while SQLite works). OCR hits of the same text on consecutive frames are merged
into one hit with the time range they cover.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import apsw

from vabatch.db import VideoDatabase
from vabatch.errors import InputError, VabatchError

PLACES = ("captions", "ocr")
TRIGRAM = 3  # the FTS5 trigram tokenizer indexes substrings of this many characters
SNIPPET_CHARS = 60
MARKS = ("[", "]")


@dataclass
class SearchHit:
    """One caption, or one OCR text on a run of consecutive sampled frames."""

    video_id: str
    source_name: str | None
    start_ms: int | None
    end_ms: int | None  # half-open: the time of the first frame after the hit
    text: str
    snippet: str
    score: float  # lower is better (bm25 convention)
    caption_id: int | None = None
    start_frame_index: int | None = None
    end_frame_index: int | None = None  # half-open, like captions
    boxes: int = 1  # OCR: boxes merged into this hit
    tie: float = 0.0  # breaks ties of ``score``: the whole-word score (see score_sql)

    def to_json(self) -> dict:
        data = asdict(self)
        del data["tie"]
        return data


@dataclass
class SearchResult:
    query: str
    place: str
    hits: list[SearchHit]
    videos_searched: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (video_id, why)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (video_id, error)
    total_hits: int = 0  # hits collected before the cut to ``limit`` (at most limit a video)

    def to_json(self) -> dict:
        return {"query": self.query, "in": self.place, "total_hits": self.total_hits,
                "videos_searched": self.videos_searched,
                "hits": [h.to_json() for h in self.hits],
                "skipped": [{"video_id": v, "reason": r} for v, r in self.skipped],
                "errors": [{"video_id": v, "error": e} for v, e in self.errors]}


def parse_terms(query: str) -> list[str]:
    """The words of a query, case-folded; a "quoted phrase" is one term."""
    try:
        terms = shlex.split(query)
    except ValueError:  # an unbalanced quote: take the words as they are
        terms = query.split()
    terms = [t.casefold() for t in terms if t.strip()]
    if not terms:
        raise InputError("nothing to search for: give a word or a \"quoted phrase\"")
    return terms


def fts_expression(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression: every term as a quoted phrase, all of them required."""
    return " AND ".join('"' + term.replace('"', '""') + '"' for term in terms)


def search_videos(query: str, video_dirs: Sequence[Path], *, place: str = "captions",
                  limit: int | None = 20, workers: int | None = None) -> SearchResult:
    """Search ``place`` ('captions' or 'ocr') of every video; hits best first."""
    if place not in PLACES:
        raise InputError(f"--in is one of {', '.join(PLACES)}")
    terms = parse_terms(query)
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    search_one = _search_captions if place == "captions" else _search_ocr
    result = SearchResult(query, place, [], len(video_dirs))

    def one(video_dir: Path):
        try:
            return search_one(Path(video_dir), terms, limit)
        except apsw.Error as error:  # a damaged file: reported, the others go on
            return ("error", f"{type(error).__name__}: {error}")
        except VabatchError as error:
            return ("error", str(error))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(one, video_dirs))
        _rank(result, video_dirs, outcomes, terms, limit)
        _add_source_names(result.hits, video_dirs, pool)
    return result


def _rank(result: SearchResult, video_dirs, outcomes, terms, limit: int | None) -> None:
    for video_dir, outcome in zip(video_dirs, outcomes, strict=True):
        if isinstance(outcome, tuple):
            kind, why = outcome
            (result.errors if kind == "error" else result.skipped).append(
                (Path(video_dir).name, why))
        else:
            result.hits.extend(outcome)
    # bm25 flattens where a word is in most texts of a video: whole-word hits break ties
    result.hits.sort(key=lambda h: (h.score, h.tie, h.video_id, h.start_ms or 0))
    result.total_hits = len(result.hits)
    if limit is not None:
        result.hits = result.hits[:limit]
    for hit in result.hits:  # only for what is shown
        hit.snippet = make_snippet(hit.text, terms)


def _add_source_names(hits: list[SearchHit], video_dirs, pool: ThreadPoolExecutor) -> None:
    """The source names of the videos with a hit shown (video.db opened for those only)."""
    by_id = {Path(d).name: Path(d) for d in video_dirs}
    wanted = sorted({h.video_id for h in hits if h.source_name is None})

    def source_of(video_id: str) -> str | None:
        try:
            return _video_facts(by_id[video_id])[0]
        except (apsw.Error, VabatchError):  # a damaged video.db: the hit stays, unnamed
            return None

    names = dict(zip(wanted, pool.map(source_of, wanted), strict=True))
    for hit in hits:
        if hit.source_name is None:
            hit.source_name = names.get(hit.video_id)


def _split(terms: Sequence[str]) -> tuple[list[str], list[str]]:
    """(terms the trigram index can find, shorter terms matched as substrings)."""
    return ([t for t in terms if len(t) >= TRIGRAM], [t for t in terms if len(t) < TRIGRAM])


# Characters that end a word for the whole-word bonus (besides the ends of the text).
WORD_SEPARATORS = "\n,.!?"  # each one is a pass over the text: only the common ones


def _bindings(terms: Sequence[str]) -> dict[str, str]:
    bindings = {}
    for number, term in enumerate(terms):
        bindings[f"t{number}"] = term
        bindings[f"w{number}"] = f" {term} "
    return bindings


def _filters(column: str, terms: Sequence[str]) -> str:
    """``instr`` conditions for the short terms (1-2 characters) of ``terms``."""
    return "".join(f" AND instr(lower({column}), :t{n})" for n, term in enumerate(terms)
                   if len(term) < TRIGRAM)


def score_sql(column: str, count: int) -> str:
    """A bm25-like score in SQL, lower is better: per term its occurrences in ``column``
    (case-folded), a whole-word occurrence (bounded by spaces, punctuation or the ends)
    counted four times (a short query is far more often meant as a word than as part of
    one), divided by the text's length as bm25 does. Terms are bound as :t0.. and :w0..
    (the term between spaces)."""
    folded = f"lower({column})"
    padded = folded
    for separator in WORD_SEPARATORS:
        literal = {"\n": "char(10)", "\t": "char(9)"}.get(separator, f"'{separator}'")
        padded = f"replace({padded}, {literal}, ' ')"
    padded = f"(' ' || {padded} || ' ')"

    def occurrences(text: str, term: str) -> str:
        return f"(length({text}) - length(replace({text}, {term}, ''))) / length({term})"

    weight = " + ".join(f"{occurrences(folded, f':t{n}')} + 3 * {occurrences(padded, f':w{n}')}"
                        for n in range(count))
    return f"-({weight}) / (1.0 + length({column}) / 40.0)"


def _open(video_dir: Path, alias: str):
    """A VideoDatabase with ``video`` and ``alias``, or ('skipped', why)."""
    from vabatch.db.schema import KINDS

    if not (video_dir / KINDS[alias].file_name).is_file():
        producer = KINDS[alias].producer
        return ("skipped", f"no {KINDS[alias].file_name} yet (run `vabatch {producer}`)")
    return VideoDatabase(video_dir, only=(alias,), require=(alias,))


def _video_facts(video_dir: Path, frames=()) -> tuple[str | None, int | None, dict]:
    """(source name, duration_ms, {frame_index: timestamp_ms} of ``frames``) from video.db;
    read only for the videos that have hits (most of a large collection has none)."""
    with VideoDatabase(video_dir, only=("video",)) as db:
        if not db.has("video"):
            return None, None, {}
        row = db.execute("SELECT source_name, duration_ms FROM video.video_metadata"
                         ).fetchone() or (None, None)
        times = dict(db.execute(
            "SELECT frame_index, timestamp_ms FROM video.full_frames WHERE frame_index IN"
            " (SELECT value FROM json_each(?))", (json.dumps(list(frames)),))) if frames else {}
    return row[0], row[1], times


def _search_captions(video_dir: Path, terms: list[str], limit: int | None):
    opened = _open(video_dir, "captions")
    if isinstance(opened, tuple):
        return opened
    indexed, _ = _split(terms)
    words = score_sql("c.text", len(terms))
    bindings = _bindings(terms)
    columns = "c.id, c.start_frame_index, c.end_frame_index, c.start_ms, c.end_ms, c.text"
    if indexed:
        # the tie-break only for the best of bm25 (with room for ties at the cut)
        bindings["match"] = fts_expression(indexed)
        sql = (f"SELECT *, {words.replace('c.text', 'text')} AS tie FROM ("
               f"SELECT {columns.replace('c.text', 'c.text AS text')}, bm25(captions_fts)"
               " AS score FROM captions.captions_fts JOIN captions.captions c"
               " ON c.id = captions_fts.rowid WHERE captions_fts MATCH :match"
               + _filters("c.text", terms) + " ORDER BY score"
               + (f" LIMIT {4 * int(limit)}" if limit else "") + ") ORDER BY score, tie")
    else:
        sql = (f"SELECT {columns}, {words} AS score, 0 AS tie FROM captions.captions c"
               " WHERE 1" + _filters("c.text", terms) + " ORDER BY score")
    sql += f" LIMIT {int(limit)}" if limit else ""
    with opened as db:
        if db.legacy:
            return ("skipped", "legacy captions.db (run `vabatch migrate` first)")
        rows = db.execute(sql, bindings).fetchall()
    video_id = video_dir.name
    return [SearchHit(video_id, None, start_ms, end_ms, text or "", "", score,
                      caption_id=caption_id, start_frame_index=start_frame,
                      end_frame_index=end_frame, tie=tie)
            for caption_id, start_frame, end_frame, start_ms, end_ms, text, score, tie in rows]


def _search_ocr(video_dir: Path, terms: list[str], limit: int | None):
    opened = _open(video_dir, "fullOCR")
    if isinstance(opened, tuple):
        return opened
    sql, bindings = ocr_runs_sql(terms, limit)
    with opened as db:
        if db.legacy:
            return ("skipped", "legacy captions.db (run `vabatch migrate` first)")
        runs = db.execute(sql, bindings).fetchall()
    if not runs:
        return []
    source, duration_ms, times = _video_facts(
        video_dir, {r[0] for r in runs} | {r[2] for r in runs if r[2] is not None})
    video_id = video_dir.name
    return [SearchHit(video_id, source, times.get(first), duration_ms if end is None
                      else times.get(end), text, "", score, start_frame_index=first,
                      end_frame_index=last + 1 if end is None else end, boxes=boxes, tie=tie)
            for first, last, end, score, tie, text, boxes in runs]


def ocr_runs_sql(terms: Sequence[str], limit: int | None) -> tuple[str, dict]:
    """The SQL (and its bindings) of the best OCR hits of one fullOCR database.

    Boxes with the same text (case-folded) on consecutive frames that OCR read are one hit:
    a match starts a new run unless the previous match of its text was on the frame OCR
    read just before it. Each row: ``(first_frame, last_frame, end_frame, score, tie, text,
    boxes)``, ``end_frame`` the next frame OCR read after the last (None: the run lasts to
    the end of the video). The ranking score is computed once per run, in SQLite, so
    Python sees only the rows it shows.
    """
    indexed, _ = _split(terms)
    bindings = _bindings(terms)
    if indexed:
        bindings["match"] = fts_expression(indexed)
        matches = ("SELECT frame_index, text, bm25(full_frame_ocr_fts) AS fts"
                   " FROM fullOCR.full_frame_ocr_fts WHERE full_frame_ocr_fts MATCH :match")
    else:
        matches = "SELECT frame_index, text, 0 AS fts FROM fullOCR.full_frame_ocr WHERE 1"
    words = score_sql("text", len(terms))
    score, tie = ("fts", words) if indexed else (words, "0")
    sql = f"""WITH matches AS (
        SELECT frame_index, text, fts, lower(trim(text)) AS folded,
               (SELECT min(n.frame_index) FROM fullOCR.ocr_frames n
                WHERE n.frame_index > m.frame_index) AS next_frame
        FROM ({matches}{_filters("text", terms)}) m),
    marked AS (
        SELECT *, CASE WHEN lag(next_frame) OVER (PARTITION BY folded ORDER BY frame_index)
                            = frame_index THEN 0 ELSE 1 END AS starts
        FROM matches),
    numbered AS (
        SELECT *, sum(starts) OVER (PARTITION BY folded ORDER BY frame_index
                                    ROWS UNBOUNDED PRECEDING) AS run
        FROM marked),
    runs AS (
        SELECT min(frame_index) AS first_frame, max(frame_index) AS last_frame,
               min(fts) AS fts, min(text) AS text, count(*) AS boxes
        FROM numbered GROUP BY folded, run)
    SELECT first_frame, last_frame,
           (SELECT min(n.frame_index) FROM fullOCR.ocr_frames n
            WHERE n.frame_index > last_frame),
           {score} AS score, {tie} AS tie, text, boxes
    FROM runs ORDER BY score, tie, first_frame"""
    return sql + (f" LIMIT {int(limit)}" if limit else ""), bindings


def make_snippet(text: str, terms: Sequence[str], width: int = SNIPPET_CHARS,
                 marks: tuple[str, str] = MARKS) -> str:
    """The text around its first match, every match wrapped in ``marks``, on one line."""
    flat = " ".join(text.split())
    folded = flat.casefold()
    spans = []
    for term in terms if len(folded) == len(flat) else ():  # else offsets would not match
        start = folded.find(term)
        while start >= 0:
            spans.append((start, start + len(term)))
            start = folded.find(term, start + len(term))
    spans = _union(spans)
    first = spans[0][0] if spans else 0
    begin = max(0, min(first - width // 3, len(flat) - width))
    end = min(len(flat), begin + width)
    pieces, cursor = [], begin
    for start, stop in spans:
        if stop <= begin or start >= end:
            continue
        start, stop = max(start, begin), min(stop, end)
        pieces += [flat[cursor:start], marks[0], flat[start:stop], marks[1]]
        cursor = stop
    pieces.append(flat[cursor:end])
    return ("…" if begin > 0 else "") + "".join(pieces) + ("…" if end < len(flat) else "")


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged
