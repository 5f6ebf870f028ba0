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

import os
import re
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

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class SearchResult:
    query: str
    place: str
    hits: list[SearchHit]
    videos_searched: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (video_id, why)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (video_id, error)
    total_hits: int = 0  # before --limit

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
    for video_dir, outcome in zip(video_dirs, outcomes, strict=True):
        if isinstance(outcome, tuple):
            kind, why = outcome
            (result.errors if kind == "error" else result.skipped).append(
                (Path(video_dir).name, why))
        else:
            result.hits.extend(outcome)
    # bm25 flattens where a word is in most texts of a video: whole-word hits break ties
    result.hits.sort(key=lambda h: (h.score, substring_score(h.text, terms), h.video_id,
                                    h.start_ms or 0))
    result.total_hits = len(result.hits)
    if limit is not None:
        result.hits = result.hits[:limit]
    return result


def _split(terms: Sequence[str]) -> tuple[list[str], list[str]]:
    """(terms the trigram index can find, shorter terms matched as substrings)."""
    return ([t for t in terms if len(t) >= TRIGRAM], [t for t in terms if len(t) < TRIGRAM])


def _substring_filter(column: str, short: Sequence[str]) -> str:
    return "".join(f" AND instr(lower({column}), ?)" for _ in short)


def _open(video_dir: Path, alias: str):
    """A VideoDatabase with ``video`` and ``alias``, or ('skipped', why)."""
    from vabatch.db.schema import KINDS

    if not (video_dir / KINDS[alias].file_name).is_file():
        producer = KINDS[alias].producer
        return ("skipped", f"no {KINDS[alias].file_name} yet (run `vabatch {producer}`)")
    return VideoDatabase(video_dir, only=("video", alias), require=(alias,))


def _source_name(db: VideoDatabase) -> str | None:
    if not db.has("video"):
        return None
    row = db.execute("SELECT source_name FROM video.video_metadata").fetchone()
    return row[0] if row else None


def _search_captions(video_dir: Path, terms: list[str], limit: int | None):
    opened = _open(video_dir, "captions")
    if isinstance(opened, tuple):
        return opened
    with opened as db:
        if db.legacy:
            return ("skipped", "legacy captions.db (run `vabatch migrate` first)")
        indexed, short = _split(terms)
        if indexed:
            sql = ("SELECT c.id, c.start_frame_index, c.end_frame_index, c.start_ms, c.end_ms,"
                   " c.text, bm25(captions_fts) FROM captions.captions_fts"
                   " JOIN captions.captions c ON c.id = captions_fts.rowid"
                   " WHERE captions_fts MATCH ?" + _substring_filter("c.text", short)
                   + " ORDER BY bm25(captions_fts)" + (f" LIMIT {int(limit)}" if limit else ""))
            rows = db.execute(sql, (fts_expression(indexed), *short)).fetchall()
        else:
            sql = ("SELECT id, start_frame_index, end_frame_index, start_ms, end_ms, text, 0"
                   " FROM captions.captions WHERE 1" + _substring_filter("text", short))
            rows = [(*r[:6], substring_score(r[5], short))
                    for r in db.execute(sql, short).fetchall()]
        source = _source_name(db)
    return [SearchHit(video_dir.name, source, start_ms, end_ms, text or "",
                      make_snippet(text or "", terms), score, caption_id=caption_id,
                      start_frame_index=start_frame, end_frame_index=end_frame)
            for caption_id, start_frame, end_frame, start_ms, end_ms, text, score in rows]


def _search_ocr(video_dir: Path, terms: list[str], limit: int | None):
    opened = _open(video_dir, "fullOCR")
    if isinstance(opened, tuple):
        return opened
    with opened as db:
        if db.legacy:
            return ("skipped", "legacy captions.db (run `vabatch migrate` first)")
        indexed, short = _split(terms)
        if indexed:
            sql = ("SELECT frame_index, text, bm25(full_frame_ocr_fts)"
                   " FROM fullOCR.full_frame_ocr_fts WHERE full_frame_ocr_fts MATCH ?"
                   + _substring_filter("text", short))
            rows = db.execute(sql, (fts_expression(indexed), *short)).fetchall()
        else:
            sql = ("SELECT frame_index, text FROM fullOCR.full_frame_ocr WHERE 1"
                   + _substring_filter("text", short))
            rows = [(f, t, substring_score(t, short))
                    for f, t in db.execute(sql, short).fetchall()]
        # the frames OCR read (a subset of the sampled ones) and their times
        frames = db.execute("SELECT o.frame_index, f.timestamp_ms FROM fullOCR.ocr_frames o"
                            " JOIN video.full_frames f USING (frame_index)"
                            " ORDER BY o.frame_index").fetchall() if rows else []
        duration = db.execute("SELECT duration_ms FROM video.video_metadata").fetchone()
        source = _source_name(db)
    hits = merge_frames(rows, frames, duration[0] if duration else None)
    hits.sort(key=lambda h: h[4])
    return [SearchHit(video_dir.name, source, start_ms, end_ms, text,
                      make_snippet(text, terms), score, start_frame_index=start_frame,
                      end_frame_index=end_frame, boxes=boxes)
            for start_frame, end_frame, start_ms, end_ms, score, text, boxes
            in (hits[:limit] if limit else hits)]


def merge_frames(rows, frames, duration_ms: int | None) -> list[tuple]:
    """OCR matches ``(frame_index, text, score)`` merged: the same text (case-folded) on
    consecutive frames of ``frames`` (the frames OCR read, with their times) is one hit
    ``(start_frame, end_frame, start_ms, end_ms, best score, text, boxes)``; the end is the
    next frame OCR read (half-open)."""
    position = {frame_index: i for i, (frame_index, _) in enumerate(frames)}
    by_text: dict[str, list[tuple]] = {}
    for frame_index, text, score in rows:
        by_text.setdefault(" ".join(text.casefold().split()), []).append(
            (position.get(frame_index, -1), frame_index, text, score))
    merged = []
    for matches in by_text.values():
        matches.sort()
        run = [matches[0]]
        for match in matches[1:]:
            if match[0] >= 0 and match[0] - run[-1][0] <= 1:
                run.append(match)
            else:
                merged.append(_one_run(run, frames, duration_ms))
                run = [match]
        merged.append(_one_run(run, frames, duration_ms))
    return merged


def _one_run(run: list[tuple], frames, duration_ms: int | None) -> tuple:
    first, last = run[0], run[-1]
    start_ms = frames[first[0]][1] if first[0] >= 0 else None
    if last[0] < 0:
        end_frame, end_ms = last[1] + 1, None
    elif last[0] + 1 < len(frames):
        end_frame, end_ms = frames[last[0] + 1]
    else:
        end_frame, end_ms = last[1] + 1, duration_ms
    return (first[1], end_frame, start_ms, end_ms, min(m[3] for m in run), first[2], len(run))


_WORDLIKE = re.compile(r"^[\w']+$", re.ASCII)


def substring_score(text: str | None, terms: Sequence[str]) -> float:
    """A bm25-like score for substring matches (lower is better): occurrences, a hit that
    is a whole word (an ASCII word, bounded by non-word characters) counted four times (a
    short query is far more often meant as a word than as part of one), divided by the
    text's length as bm25 does."""
    folded = (text or "").casefold()
    weight = 0.0
    for term in terms:
        weight += folded.count(term)
        if _WORDLIKE.match(term):
            weight += 3 * len(re.findall(rf"(?<![\w']){re.escape(term)}(?![\w'])", folded,
                                     re.ASCII))
    return -round(weight / (1 + len(folded) / 40), 6)


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
