"""People's caption edits: one video's captions.db, one transaction per edit, undoable.

An edited caption becomes a human row (``source = 'human'``), which every rerun of the
captions stage carries over and which keeps the automatic captions it overlaps out. A
deleted caption stays as a human row with ``boundary_state = 'deleted'`` and no text: it
keeps the automatic captions under it out of every rerun and is never listed or exported.
Every edit is logged in ``caption_edits`` with the rows it touched before and after, so
``undo`` can restore them (docs/annotate.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from vabatch.db import KINDS, VideoDatabase
from vabatch.db.checksums import checksum
from vabatch.errors import InputError
from vabatch.tools.annotate.labels import set_box_label
from vabatch.vision.layout_analysis import normalise_text

__all__ = ["DELETED", "CaptionEditor", "CaptionView", "EditError", "set_box_label"]

DELETED = "deleted"  # boundary_state of a caption a person deleted
VISIBLE = "boundary_state IS NOT 'deleted'"
_ATTACHED = ("video", "cropping", "captions")  # frame times come from video and cropping


class EditError(InputError):
    """An edit that cannot be made: an unknown caption, a frame range outside the video,
    a range that would swallow another caption... (one line at the CLI)."""


@dataclass(frozen=True)
class CaptionView:
    """One caption as a person sees it: what the export writes (deleted ones left out)."""

    caption_id: int
    start_frame_index: int
    end_frame_index: int  # first frame after it (half-open)
    start_ms: int | None
    end_ms: int | None  # time of end_frame_index
    text: str
    source: str  # 'auto' or 'human'
    confidence: float | None  # None for human rows
    agreement: float | None  # None for human rows

    @property
    def certainty(self) -> float | None:
        """confidence x agreement of an automatic caption (None when unknown or human)."""
        if self.source == "human" or self.confidence is None:
            return None
        return self.confidence * (1.0 if self.agreement is None else self.agreement)


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clean_text(text: object) -> str:
    """Caption text as stored: lines stripped, blank lines dropped; empty is refused."""
    if not isinstance(text, str):
        raise EditError("caption text must be a string")
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    cleaned = "\n".join(line for line in lines if line)
    if not cleaned:
        raise EditError("a caption needs text (to remove one, delete it)")
    return cleaned


class Timeline:
    """Frame count and frame times of one video, as the captions stage uses them: the
    band signature's time of each frame, else the stored frame's, else from the frame
    rate; the frame after the last one is at the video's duration."""

    def __init__(self, db: VideoDatabase) -> None:
        self.db = db
        row = db.execute("SELECT frame_count, fps, duration_ms FROM video.video_metadata"
                         ).fetchone()
        if row is None:
            raise EditError(f"{db.path('video')}: no video metadata")
        self.frame_count, self.fps, self.duration_ms = row
        self.signatures = db.has("cropping") and bool(db.execute(
            "SELECT 1 FROM cropping.sqlite_master WHERE name = 'band_signatures'").fetchall())

    def check(self, start_frame_index: object, end_frame_index: object) -> tuple[int, int]:
        """The range as ints, refused unless 0 <= start < end <= frame count."""
        for value in (start_frame_index, end_frame_index):
            if not isinstance(value, int) or isinstance(value, bool):
                raise EditError(f"frame index {value!r} is not a whole number")
        if not 0 <= start_frame_index < end_frame_index:
            raise EditError(f"frames {start_frame_index}-{end_frame_index}: a caption needs "
                            "0 <= start < end (end is the first frame after it)")
        if end_frame_index > self.frame_count:
            raise EditError(f"frames {start_frame_index}-{end_frame_index}: the video has "
                            f"{self.frame_count} frames (0-{self.frame_count - 1}; the end "
                            f"may be {self.frame_count})")
        return start_frame_index, end_frame_index

    def frame_times(self) -> list[int]:
        """The time of every frame and of the frame after the last (frame count + 1)."""
        times: dict[int, int] = {}
        if self.fps:
            times = {f: round(f * 1000 / self.fps) for f in range(self.frame_count + 1)}
        times.update(self.db.execute("SELECT frame_index, timestamp_ms FROM video.full_frames"
                                     " WHERE timestamp_ms IS NOT NULL"))
        if self.signatures:
            times.update(self.db.execute("SELECT frame_index, timestamp_ms FROM"
                                         " cropping.band_signatures"))
        if self.duration_ms is not None:
            times[self.frame_count] = self.duration_ms
        if len(times) < self.frame_count + 1:
            raise EditError(f"{self.db.path('video')}: no frame rate and no time for every "
                            "frame: times cannot be turned into frames")
        return [times[f] for f in range(self.frame_count + 1)]

    def time_of(self, frame_index: int) -> int | None:
        """Milliseconds from the start of the video at which frame ``frame_index`` shows."""
        if frame_index >= self.frame_count and self.duration_ms is not None:
            return self.duration_ms
        queries = (["SELECT timestamp_ms FROM cropping.band_signatures WHERE frame_index = ?"]
                   if self.signatures else [])
        queries.append("SELECT timestamp_ms FROM video.full_frames WHERE frame_index = ?")
        for query in queries:
            row = self.db.execute(query, (frame_index,)).fetchone()
            if row is not None and row[0] is not None:
                return row[0]
        return round(frame_index * 1000 / self.fps) if self.fps else None


class Edit:
    """One edit in progress inside a transaction: every row it touches is remembered as it
    was, so the log can say what changed and undo can put it back."""

    def __init__(self, db: VideoDatabase) -> None:
        self.db = db
        self.timeline = Timeline(db)
        self.columns = [r[1] for r in db.execute("PRAGMA captions.table_info(captions)")]
        self.before: dict[int, dict | None] = {}

    def row(self, caption_id: int) -> dict | None:
        found = self.db.execute(f"SELECT {', '.join(self.columns)} FROM captions.captions"
                                " WHERE id = ?", (caption_id,)).fetchone()
        return None if found is None else dict(zip(self.columns, found, strict=True))

    def visible(self, caption_id: object) -> dict:
        """The row of a caption that is shown (not deleted); a clear error otherwise."""
        if not isinstance(caption_id, int) or isinstance(caption_id, bool):
            raise EditError(f"caption id {caption_id!r} is not a whole number")
        row = self.row(caption_id)
        if row is None:
            raise EditError(f"no caption {caption_id} in {self.db.path('captions')}")
        if row["boundary_state"] == DELETED:
            raise EditError(f"caption {caption_id} was deleted (undo brings it back)")
        return row

    def _touch(self, caption_id: int) -> None:
        if caption_id not in self.before:
            self.before[caption_id] = self.row(caption_id)

    def update(self, caption_id: int, **values) -> None:
        """Change a row; start/end frames bring their times along."""
        self._touch(caption_id)
        values = self._with_times(values) | {"updated_at": now_utc()}
        assignments = ", ".join(f"{name} = ?" for name in values)
        self.db.execute(f"UPDATE captions.captions SET {assignments} WHERE id = ?",
                        (*values.values(), caption_id))

    def make_human(self, caption_id: int, **values) -> None:
        """The row becomes a person's: no automatic certainty any more."""
        automatic = {name: None for name in ("confidence", "agreement", "readings")
                     if name in self.columns}
        self.update(caption_id, source="human", **automatic, **values)

    def insert(self, **values) -> int:
        values = self._with_times(values) | {"source": "human", "created_at": now_utc(),
                                             "updated_at": now_utc()}
        self.db.execute(f"INSERT INTO captions.captions ({', '.join(values)}) VALUES"
                        f" ({', '.join('?' * len(values))})", tuple(values.values()))
        caption_id = self.db.conn.last_insert_rowid()
        self.before[caption_id] = None
        return caption_id

    def remove(self, caption_id: int) -> None:
        self._touch(caption_id)
        self.db.execute("DELETE FROM captions.captions WHERE id = ?", (caption_id,))

    def _with_times(self, values: dict) -> dict:
        """``values`` with the times of their frames, and the checksum of their text (every
        writer stores it: vabatch/db/checksums.py)."""
        times = {}
        if "text" in values and "text_xxh3" in self.columns:
            times["text_xxh3"] = checksum(values["text"])
        if "start_frame_index" in values:
            times["start_ms"] = self.timeline.time_of(values["start_frame_index"])
        if "end_frame_index" in values:
            times["end_ms"] = self.timeline.time_of(values["end_frame_index"])
        return values | times

    def overlapping(self, start: int, end: int, keep: set[int]) -> list[dict]:
        found = self.db.execute("SELECT id FROM captions.captions WHERE start_frame_index < ?"
                                " AND ? < end_frame_index ORDER BY start_frame_index, id",
                                (end, start)).fetchall()
        return [self.row(caption_id) for (caption_id,) in found if caption_id not in keep]

    def changes(self) -> list[dict]:
        """Each touched row before and after (rows left as they were are not listed)."""
        rows = []
        for caption_id, before in sorted(self.before.items()):
            after = self.row(caption_id)
            if before is not None and after is not None:
                same = {k: v for k, v in after.items() if k != "updated_at"} == \
                    {k: v for k, v in before.items() if k != "updated_at"}
                if same:
                    continue
            rows.append({"id": caption_id, "before": before, "after": after})
        return rows

    def log(self, operation: str, arguments: dict, origin: str) -> bool:
        """Record the edit; False (nothing logged) when it changed nothing."""
        rows = self.changes()
        if not rows:
            return False
        self.db.execute("INSERT INTO captions.caption_edits (operation, arguments, rows,"
                        " origin, edited_at) VALUES (?, ?, ?, ?, ?)",
                        (operation, json.dumps(arguments, ensure_ascii=False),
                         json.dumps(rows, ensure_ascii=False), origin, now_utc()))
        return True


# -- how an edit makes room -----------------------------------------------------------------
def claim(edit: Edit, start: int, end: int, keep: set[int]) -> None:
    """Make frames ``start``-``end`` free for a caption a person sets there: a neighbour
    reaching in is trimmed (and becomes a person's, so no rerun brings its old edge back),
    deleted-caption marks there are cut away. A caption that would vanish, or that the
    range lies inside, is refused: merge, delete or split it first."""
    for row in edit.overlapping(start, end, keep):
        row_start, row_end, caption_id = (row["start_frame_index"], row["end_frame_index"],
                                          row["id"])
        inside = start <= row_start and row_end <= end
        around = row_start < start and end < row_end
        if row["boundary_state"] == DELETED:
            if inside:
                edit.remove(caption_id)
            elif around:
                edit.update(caption_id, end_frame_index=start)
                edit.insert(start_frame_index=end, end_frame_index=row_end,
                            boundary_state=DELETED, text=None)
            elif row_start < start:
                edit.update(caption_id, end_frame_index=start)
            else:
                edit.update(caption_id, start_frame_index=end)
        elif inside:
            raise EditError(f"caption {caption_id} (frames {row_start}-{row_end}) lies within "
                            f"frames {start}-{end}: delete or merge it first")
        elif around:
            raise EditError(f"frames {start}-{end} lie inside caption {caption_id} (frames "
                            f"{row_start}-{row_end}): split it first")
        elif row_start < start:
            edit.make_human(caption_id, end_frame_index=start)
        else:
            edit.make_human(caption_id, start_frame_index=end)


def mark_deleted(edit: Edit, start: int, end: int, keep: set[int]) -> None:
    """A person said no caption shows on frames ``start``-``end``: mark the frames no other
    caption covers, so no rerun of the captions stage puts an automatic one there."""
    pieces = [(start, end)]
    for row in edit.overlapping(start, end, keep):
        if row["boundary_state"] == DELETED:
            continue
        cut_start, cut_end = row["start_frame_index"], row["end_frame_index"]
        pieces = [part for piece_start, piece_end in pieces
                  for part in ((piece_start, min(piece_end, cut_start)),
                               (max(piece_start, cut_end), piece_end))
                  if part[0] < part[1]]
    for piece_start, piece_end in pieces:
        edit.insert(start_frame_index=piece_start, end_frame_index=piece_end,
                    boundary_state=DELETED, text=None)


def view_of(row: dict) -> CaptionView:
    human = row["source"] == "human"
    return CaptionView(row["id"], row["start_frame_index"], row["end_frame_index"],
                       row["start_ms"], row["end_ms"], row["text"] or "", row["source"],
                       None if human else row.get("confidence"),
                       None if human else row.get("agreement"))


class CaptionEditor:
    """The captions of one video directory, for a person to correct.

    Every method is one transaction on captions.db and nothing else (the file is first
    made a private copy when it is a link into DVC's cache, as every vabatch write does);
    every edit goes into the persistent log that ``undo`` walks back. Usable as a context
    manager: ``with CaptionEditor(video_dir) as editor: ...``.
    """

    def __init__(self, video_dir: Path, *, origin: str = "editor") -> None:
        self.video_dir = Path(video_dir)
        self.origin = origin  # recorded with each edit: 'editor', 'import <file>', ...
        if not (self.video_dir / KINDS["video"].file_name).is_file():
            raise EditError(f"{self.video_dir}: not a video directory (no video.db)")

    def __enter__(self) -> CaptionEditor:
        return self

    def __exit__(self, *_exc) -> None:
        return None

    @property
    def path(self) -> Path:
        return self.video_dir / KINDS["captions"].file_name

    # -- reading ------------------------------------------------------------------------
    def captions(self) -> list[CaptionView]:
        """The captions in order of their start frame; deleted ones left out."""
        if not self.path.exists():
            return []
        with VideoDatabase(self.video_dir, only=("captions",), require=("captions",)) as db:
            columns = db.columns("captions", "captions")
            wanted = ["id", "start_frame_index", "end_frame_index", "start_ms", "end_ms",
                      "text", "source", "confidence"] + \
                (["agreement"] if "agreement" in columns else [])
            rows = db.execute(f"SELECT {', '.join(wanted)} FROM captions.captions WHERE"
                              f" {VISIBLE} ORDER BY start_frame_index, id").fetchall()
        return [view_of(dict(zip(wanted, row, strict=True))) for row in rows]

    def least_certain(self) -> list[CaptionView]:
        """The captions to check first: automatic ones of unknown certainty, then by
        confidence x agreement ascending; people's captions last."""
        def key(view: CaptionView):
            certainty = view.certainty
            return (view.source == "human", -1.0 if certainty is None else certainty,
                    view.start_frame_index)
        return sorted(self.captions(), key=key)

    def caption(self, caption_id: int) -> CaptionView:
        """One shown caption by id (EditError when unknown or deleted)."""
        with self._reading() as edit:
            return view_of(edit.visible(caption_id))

    # -- editing --------------------------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[Edit]:
        if not self.path.exists():
            raise EditError(f"{self.path}: no captions yet (run `vabatch captions`)")
        with VideoDatabase(self.video_dir, only=_ATTACHED, require=("video", "captions")
                           ) as db:
            yield Edit(db)

    @contextmanager
    def transaction(self, operation: str, arguments: dict, *, needs_file: bool = True
                    ) -> Iterator[Edit]:
        """One transaction on captions.db, logged as ``operation`` if it changed a row (for
        edits made of several steps, such as an import; undone as one)."""
        if needs_file and not self.path.exists():
            raise EditError(f"{self.path}: no captions yet (run `vabatch captions`)")
        with VideoDatabase(self.video_dir, write="captions", only=_ATTACHED,
                           require=("video",)) as db, db.conn:
            edit = Edit(db)
            yield edit
            edit.log(operation, arguments, self.origin)

    def _view(self, edit: Edit, caption_id: int) -> CaptionView:
        return view_of(edit.row(caption_id))

    def set_text(self, caption_id: int, text: str) -> CaptionView:
        """Correct a caption's text."""
        text = clean_text(text)
        with self.transaction("set_text", {"caption_id": caption_id, "text": text}) as edit:
            row = edit.visible(caption_id)
            if row["text"] != text:
                edit.make_human(caption_id, text=text)
            return self._view(edit, caption_id)

    def set_bounds(self, caption_id: int, start_frame_index: int, end_frame_index: int
                   ) -> CaptionView:
        """Move a caption's first frame and the first frame after it. Frames it no longer
        covers are marked as without caption; a neighbour it now reaches into is trimmed."""
        arguments = {"caption_id": caption_id, "start_frame_index": start_frame_index,
                     "end_frame_index": end_frame_index}
        with self.transaction("set_bounds", arguments) as edit:
            row = edit.visible(caption_id)
            start, end = edit.timeline.check(start_frame_index, end_frame_index)
            old_start, old_end = row["start_frame_index"], row["end_frame_index"]
            if (start, end) == (old_start, old_end):
                return self._view(edit, caption_id)
            claim(edit, start, end, {caption_id})
            edit.make_human(caption_id, start_frame_index=start, end_frame_index=end)
            for gap_start, gap_end in ((old_start, min(old_end, start)),
                                       (max(old_start, end), old_end)):
                if gap_start < gap_end:
                    mark_deleted(edit, gap_start, gap_end, {caption_id})
            return self._view(edit, caption_id)

    def split(self, caption_id: int, at_frame_index: int
              ) -> tuple[CaptionView, CaptionView]:
        """Cut a caption in two at a frame: the second part starts there. Both keep the
        text (correct each afterwards)."""
        with self.transaction("split", {"caption_id": caption_id,
                                     "at_frame_index": at_frame_index}) as edit:
            row = edit.visible(caption_id)
            start, end = row["start_frame_index"], row["end_frame_index"]
            if not isinstance(at_frame_index, int) or not start < at_frame_index < end:
                raise EditError(f"caption {caption_id} covers frames {start}-{end}: it can "
                                f"be split at frames {start + 1}-{end - 1}, not "
                                f"{at_frame_index!r}")
            edit.make_human(caption_id, end_frame_index=at_frame_index)
            second = edit.insert(start_frame_index=at_frame_index, end_frame_index=end,
                                 text=row["text"], boundary_state=row["boundary_state"])
            return self._view(edit, caption_id), self._view(edit, second)

    def merge(self, first_id: int, second_id: int) -> CaptionView:
        """Join two captions into one from the first frame of either to the last; the
        text is kept once when both read the same, else joined line under line."""
        with self.transaction("merge", {"first_id": first_id, "second_id": second_id}) as edit:
            if first_id == second_id:
                raise EditError(f"caption {first_id} cannot be merged with itself")
            first, second = sorted((edit.visible(first_id), edit.visible(second_id)),
                                   key=lambda r: (r["start_frame_index"], r["id"]))
            start = first["start_frame_index"]
            end = max(first["end_frame_index"], second["end_frame_index"])
            texts = [first["text"] or "", second["text"] or ""]
            same = normalise_text(texts[0]) == normalise_text(texts[1])
            text = texts[0] if same else "\n".join(t for t in texts if t)
            claim(edit, start, end, {first["id"], second["id"]})
            edit.remove(second["id"])
            edit.make_human(first["id"], start_frame_index=start, end_frame_index=end,
                            text=text or None)
            return self._view(edit, first["id"])

    def delete(self, caption_id: int) -> None:
        """Delete a caption: it stays deleted through every rerun (undo brings it back)."""
        with self.transaction("delete", {"caption_id": caption_id}) as edit:
            edit.visible(caption_id)
            edit.make_human(caption_id, boundary_state=DELETED, text=None)

    def add(self, start_frame_index: int, end_frame_index: int, text: str) -> CaptionView:
        """A caption the captions stage missed, over frames start to end (half-open)."""
        text = clean_text(text)
        arguments = {"start_frame_index": start_frame_index,
                     "end_frame_index": end_frame_index, "text": text}
        with self.transaction("add", arguments, needs_file=False) as edit:
            start, end = edit.timeline.check(start_frame_index, end_frame_index)
            claim(edit, start, end, set())
            caption_id = edit.insert(start_frame_index=start, end_frame_index=end, text=text)
            return self._view(edit, caption_id)

    def undo(self) -> bool:
        """Undo the last edit of this video; False when there is none. Refused (EditError)
        when the rows it touched changed since (e.g. by hand)."""
        if not self.path.exists():
            return False
        with self._reading() as edit:
            if not edit.db.execute("SELECT 1 FROM captions.sqlite_master"
                                   " WHERE name = 'caption_edits'").fetchall() or \
                    not edit.db.execute("SELECT 1 FROM captions.caption_edits").fetchall():
                return False
        with self.transaction("undo", {}) as edit:
            last = edit.db.execute("SELECT id, operation, rows FROM captions.caption_edits"
                                   " ORDER BY id DESC LIMIT 1").fetchone()
            if last is None:
                return False
            log_id, operation, rows = last[0], last[1], json.loads(last[2])
            restore(edit, rows, operation)
            edit.db.execute("DELETE FROM captions.caption_edits WHERE id = ?", (log_id,))
            edit.before.clear()  # the undo itself is not an edit to log
        return True


def restore(edit: Edit, rows: list[dict], operation: str) -> None:
    """Put the rows of one logged edit back as they were before it."""
    for item in rows:
        current, after = edit.row(item["id"]), item["after"]
        unchanged = (current is None) if after is None else current is not None and all(
            current.get(name) == value for name, value in after.items())
        if not unchanged:
            raise EditError(f"the last edit ({operation}) cannot be undone: caption "
                            f"{item['id']} changed since (a captions run, or a hand edit)")
    for item in rows:
        edit.db.execute("DELETE FROM captions.captions WHERE id = ?", (item["id"],))
    for item in rows:
        before = {k: v for k, v in (item["before"] or {}).items() if k in edit.columns}
        if before:
            edit.db.execute(f"INSERT INTO captions.captions ({', '.join(before)}) VALUES"
                            f" ({', '.join('?' * len(before))})", tuple(before.values()))
