"""Queries on people's and the model's box labels that several layers need: no numpy, no
stage (``vabatch verify`` runs them and starts fast)."""

from __future__ import annotations

from vabatch.db.video_database import VideoDatabase

_ORPHANS = ("SELECT l.frame_index, l.box_index, l.label, l.label_source, {accepted}"
            " FROM layout.full_frame_box_labels l LEFT JOIN fullOCR.full_frame_ocr o"
            " USING (frame_index, box_index) {join} WHERE o.frame_index IS NULL"
            " ORDER BY l.frame_index, l.box_index")


def orphans_in(db: VideoDatabase) -> list[tuple[int, int, str, str, bool]]:
    """Labels naming an OCR box fullOCR does not have, on an open VideoDatabase with layout
    and fullOCR attached: (frame_index, box_index, label, label_source, accepted by a
    person)."""
    if db.columns("layout", "accepted_orphan_labels"):  # absent in files made before
        sql = _ORPHANS.format(accepted="a.frame_index IS NOT NULL", join=(
            "LEFT JOIN layout.accepted_orphan_labels a USING (frame_index, box_index)"))
    else:
        sql = _ORPHANS.format(accepted="0", join="")
    return [(f, b, label, source, bool(accepted))
            for f, b, label, source, accepted in db.execute(sql)]
