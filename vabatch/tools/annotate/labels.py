"""People's box labels: one OCR box marked caption or noise in layout.db, in one transaction.

A label a person sets is a human label (``label_source = 'human'``): no automatic step
overwrites it, and ``vabatch train layout`` learns from it. Clearing it (label None) drops
the person's label; the model's label comes back with the next ``vabatch layout --force``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from vabatch.db import VideoDatabase
from vabatch.errors import InputError

LABELS = ("caption", "noise")


def set_box_label(video_dir: Path, frame_index: int, box_index: int,
                  label: str | None) -> tuple[str, str] | None:
    """Mark one OCR box 'caption' or 'noise' as a person's label, or clear a person's
    label (None). Returns the (label, label_source) now stored for the box, or None.

    The box must exist in fullOCR.db (InputError otherwise); only layout.db is written, and
    not at all when the box already holds that human label.
    """
    if label is not None and label not in LABELS:
        raise InputError(f"label {label!r} is not caption, noise or None")
    for value in (frame_index, box_index):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InputError(f"frame and box index must be whole numbers, not {value!r}")
    key = (frame_index, box_index)
    with VideoDatabase(video_dir, require=("video", "fullOCR")) as db:
        if not db.execute("SELECT 1 FROM fullOCR.full_frame_ocr WHERE frame_index = ? AND"
                          " box_index = ?", key).fetchall():
            raise InputError(f"{db.path('fullOCR')}: no OCR box {box_index} on frame "
                             f"{frame_index}")
        current = _stored(db, key) if db.has("layout") else None
    if current == (label, "human") or (label is None and (current is None
                                                          or current[1] == "model")):
        return current
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with VideoDatabase(video_dir, write="layout", only=("fullOCR", "layout"),
                       require=("fullOCR",)) as db, db.conn:
        if label is None:
            db.execute("DELETE FROM layout.full_frame_box_labels WHERE frame_index = ? AND"
                       " box_index = ?", key)
        else:
            db.execute(
                "INSERT INTO layout.full_frame_box_labels (frame_index, box_index, label,"
                " label_source, confidence, created_at) VALUES (?, ?, ?, 'human', 1.0, ?)"
                " ON CONFLICT (frame_index, box_index) DO UPDATE SET label = excluded.label,"
                " label_source = 'human', confidence = 1.0, created_at = excluded.created_at",
                (*key, label, now))
        return _stored(db, key)


def _stored(db: VideoDatabase, key: tuple[int, int]) -> tuple[str, str] | None:
    row = db.execute("SELECT label, label_source FROM layout.full_frame_box_labels"
                     " WHERE frame_index = ? AND box_index = ?", key).fetchone()
    return None if row is None else (row[0], row[1])
