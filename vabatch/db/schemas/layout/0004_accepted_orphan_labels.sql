-- Label rows whose OCR box fullOCR does not have ("orphans", e.g. kept by `vabatch migrate`
-- from the old tool) that a person looked at and accepted with
-- `vabatch annotate labels orphans --accept`: `vabatch verify` reports those as notes, not
-- problems. A new orphan is a problem again until accepted too.
CREATE TABLE accepted_orphan_labels (
    frame_index INTEGER NOT NULL,
    box_index INTEGER NOT NULL,
    accepted_at TEXT NOT NULL,
    PRIMARY KEY (frame_index, box_index)
);
