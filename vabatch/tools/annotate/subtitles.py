"""``vabatch annotate captions export|import``: a video's captions as SRT/WebVTT for any
subtitle editor, and the corrected file back as human edits (only what differs).

Import compares the file with what the export writes: a cue with the same times and text
as a caption changes nothing; the others are paired with the captions they overlap most
(one to one), and each difference becomes an edit: new text, times moved (to the nearest
frame), captions deleted, cues added. All of one file is one logged edit (one undo), in one
transaction; a file that differs in nothing writes nothing (captions.db keeps its bytes).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field, replace
from pathlib import Path

from vabatch.db import VideoDatabase
from vabatch.errors import InputError
from vabatch.tools.annotate.edits import (
    DELETED,
    VISIBLE,
    CaptionEditor,
    CaptionView,
    Edit,
    EditError,
    Timeline,
    clean_text,
    mark_deleted,
    view_of,
)
from vabatch.tools.export import load_captions, to_srt, to_vtt, why_not_written
from vabatch.tools.score import Cue, read_subtitles

FORMATS = ("srt", "vtt")


def export_subtitles(video_dir: Path, subtitle_format: str) -> str:
    """The captions of one video as SRT or WebVTT text (exactly what `vabatch export`
    writes for it)."""
    if subtitle_format not in FORMATS:
        raise InputError(f"subtitle format {subtitle_format!r} is not srt or vtt")
    if not (Path(video_dir) / "captions.db").exists():
        raise InputError(f"{video_dir}: no captions yet (run `vabatch captions`)")
    _, captions = load_captions(video_dir)
    return to_srt(captions) if subtitle_format == "srt" else to_vtt(captions)


@dataclass
class FrameCue:
    """A cue of the file with its frames (the nearest frames to its times)."""

    number: int  # 1-based position in the file
    start_ms: int
    end_ms: int
    text: str
    start_frame_index: int
    end_frame_index: int


@dataclass
class ImportPlan:
    """The differences between a subtitle file and the captions as exported."""

    unchanged: int = 0
    text: list[tuple[int, str]] = field(default_factory=list)  # (caption id, new text)
    bounds: list[tuple[int, int, int]] = field(default_factory=list)  # (id, start, end)
    deleted: list[int] = field(default_factory=list)
    added: list[FrameCue] = field(default_factory=list)
    not_exported: list[tuple[int, str]] = field(default_factory=list)  # (id, why): left alone
    # With ``checked``: automatic captions the file confirms as they are, made a person's
    # (the person checked the whole file, so training and re-runs keep them as checked).
    confirmed: list[int] = field(default_factory=list)

    @property
    def edits(self) -> int:
        return (len(self.text) + len(self.bounds) + len(self.deleted) + len(self.added)
                + len(self.confirmed))

    def summary(self) -> dict:
        return {"unchanged": self.unchanged, "confirmed": len(self.confirmed),
                "text_changed": len(self.text),
                "times_moved": len(self.bounds), "deleted": len(self.deleted),
                "added": len(self.added),
                "left_alone": [{"caption_id": i, "reason": r} for i, r in self.not_exported]}


def frame_cues(cues: list[Cue], timeline: Timeline, name: str) -> list[FrameCue]:
    """Each cue with the frames nearest its times; a cue without text or starting after
    the video's end is refused, naming it."""
    times = timeline.frame_times()
    result = []
    for number, cue in enumerate(cues, 1):
        where = f"{name}: cue {number} ({cue.start_ms} ms -> {cue.end_ms} ms)"
        try:
            text = clean_text(cue.text)
        except EditError:
            raise EditError(f"{where} has no text (delete the cue instead)") from None
        start, end = _nearest(times, cue.start_ms), _nearest(times, cue.end_ms)
        if start >= timeline.frame_count:
            raise EditError(f"{where} starts at or after the video's end "
                            f"({times[-1]} ms)")
        end = max(end, start + 1)  # shorter than a frame: it still shows on one
        result.append(FrameCue(number, cue.start_ms, cue.end_ms, text, start, end))
    return result


def _nearest(times: list[int], ms: int) -> int:
    position = bisect_left(times, ms)
    if position == 0:
        return 0
    if position == len(times):
        return len(times) - 1
    return position if times[position] - ms < ms - times[position - 1] else position - 1


def plan_import(captions: list[CaptionView], cues: list[FrameCue],
                checked: bool = False) -> ImportPlan:
    """What to change so that the exported captions become the file's cues; with
    ``checked``, also the automatic captions the file confirms (``ImportPlan.confirmed``)."""
    plan = ImportPlan()
    exported, plan.not_exported = [], []
    for caption in captions:
        reason = why_not_written(caption.start_ms, caption.end_ms, caption.text, None)
        if reason:
            plan.not_exported.append((caption.caption_id, reason))
        else:
            exported.append(caption)
    # Cues exactly as exported change nothing.
    waiting: dict[tuple, list[CaptionView]] = {}
    for caption in exported:
        waiting.setdefault((caption.start_ms, caption.end_ms, caption.text), []).append(caption)
    left_cues = []
    for cue in cues:
        same = waiting.get((cue.start_ms, cue.end_ms, cue.text))
        if same:
            kept = same.pop(0)
            plan.unchanged += 1
            if checked and kept.source != "human":
                plan.confirmed.append(kept.caption_id)
        else:
            left_cues.append(cue)
    left_captions = [c for group in waiting.values() for c in group]
    # The others: paired with the caption they overlap most, one to one.
    pairs = sorted(((min(c.end_frame_index, q.end_frame_index)
                     - max(c.start_frame_index, q.start_frame_index), c.caption_id, q.number)
                    for c in left_captions for q in left_cues
                    if c.start_frame_index < q.end_frame_index
                    and q.start_frame_index < c.end_frame_index), key=lambda p: (-p[0], p[1:]))
    by_id = {c.caption_id: c for c in left_captions}
    by_number = {q.number: q for q in left_cues}
    paired_captions, paired_cues = set(), set()
    for _, caption_id, number in pairs:
        if caption_id in paired_captions or number in paired_cues:
            continue
        paired_captions.add(caption_id)
        paired_cues.add(number)
        caption, cue = by_id[caption_id], by_number[number]
        # A time left as exported keeps its frame (even where the stored time and frame
        # disagree with today's frame times, e.g. in a migrated file).
        cue = replace(cue, start_frame_index=caption.start_frame_index
                      if cue.start_ms == caption.start_ms else cue.start_frame_index,
                      end_frame_index=caption.end_frame_index
                      if cue.end_ms == caption.end_ms else cue.end_frame_index)
        if (cue.start_frame_index, cue.end_frame_index) != (caption.start_frame_index,
                                                           caption.end_frame_index):
            plan.bounds.append((caption_id, cue.start_frame_index, cue.end_frame_index))
        if cue.text != caption.text:
            plan.text.append((caption_id, cue.text))
        if (cue.start_frame_index, cue.end_frame_index) == (
                caption.start_frame_index, caption.end_frame_index) and cue.text == caption.text:
            plan.unchanged += 1  # moved within the same frames
            if checked and caption.source != "human":
                plan.confirmed.append(caption_id)
    plan.deleted = sorted(c.caption_id for c in left_captions
                          if c.caption_id not in paired_captions)
    plan.added = [q for q in left_cues if q.number not in paired_cues]
    return plan


@dataclass
class SubtitleImport:
    """What importing one subtitle file into one video did."""

    video_id: str
    file: str
    plan: ImportPlan
    written: bool  # False: nothing differed, captions.db untouched

    def to_json(self) -> dict:
        return {"video_id": self.video_id, "file": self.file, "written": self.written,
                **self.plan.summary()}


def import_subtitles(video_dir: Path, path: Path, checked: bool = False) -> SubtitleImport:
    """Record the differences between ``path`` (.srt or .vtt) and the video's exported
    captions as human edits, in one transaction (one undo). ``checked``: the person checked
    the whole file, so the automatic captions it confirms become a person's too."""
    video_dir, path = Path(video_dir), Path(path)
    editor = CaptionEditor(video_dir, origin=f"import {path.name}")
    cues = read_subtitles(path)  # InputError: unreadable, bad suffix, reversed cue
    with VideoDatabase(video_dir, only=("video", "cropping"), require=("video",)) as db:
        timed = frame_cues(cues, Timeline(db), str(path))
    plan = plan_import(editor.captions(), timed, checked)
    if not plan.edits:
        return SubtitleImport(video_dir.name, str(path), plan, False)
    with editor.transaction("import", {"file": path.name, **plan.summary()},
                            needs_file=False) as edit:
        plan = plan_import(_views(edit), timed, checked)  # the same, inside the transaction
        apply_plan(edit, plan)
    return SubtitleImport(video_dir.name, str(path), plan, True)


def _views(edit: Edit) -> list[CaptionView]:
    ids = [i for (i,) in edit.db.execute(f"SELECT id FROM captions.captions WHERE {VISIBLE}"
                                         " ORDER BY start_frame_index, id")]
    return [view_of(edit.row(i)) for i in ids]


def apply_plan(edit: Edit, plan: ImportPlan) -> None:
    """Write the plan: the file's cues become the captions where they differ.

    Overlaps the file has are kept (they are the person's); an automatic caption left
    overlapping a person's row becomes a person's too, so a rerun keeps what is shown.
    Frames a changed caption gave up and no caption covers now are marked deleted."""
    given_up = []
    for caption_id in plan.confirmed:
        edit.make_human(caption_id)
    for caption_id in plan.deleted:
        edit.make_human(caption_id, boundary_state=DELETED, text=None)
    new_bounds = {caption_id: (start, end) for caption_id, start, end in plan.bounds}
    for caption_id, (start, end) in new_bounds.items():
        row = edit.row(caption_id)
        given_up.append((row["start_frame_index"], row["end_frame_index"]))
        edit.make_human(caption_id, start_frame_index=start, end_frame_index=end)
    for caption_id, text in plan.text:
        edit.make_human(caption_id, text=text)
    for cue in plan.added:
        edit.insert(start_frame_index=cue.start_frame_index,
                    end_frame_index=cue.end_frame_index, text=cue.text)
    for start, end in given_up:
        mark_deleted(edit, start, end, set())
    _adopt_overlapped(edit)


def _adopt_overlapped(edit: Edit) -> None:
    """Automatic captions overlapping a person's row become a person's (unchanged)."""
    overlapped = [i for (i,) in edit.db.execute(
        "SELECT DISTINCT a.id FROM captions.captions a JOIN captions.captions h"
        " ON h.source = 'human' AND a.start_frame_index < h.end_frame_index"
        " AND h.start_frame_index < a.end_frame_index"
        " WHERE a.source = 'auto' ORDER BY a.id")]
    for caption_id in overlapped:
        edit.make_human(caption_id)
