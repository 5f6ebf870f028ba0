-- How sure each automatic caption is, and the candidates the captions stage read but did
-- not keep (each with its reason: nothing is dropped silently).
ALTER TABLE captions ADD COLUMN agreement REAL;   -- share of its readings that gave its text
ALTER TABLE captions ADD COLUMN readings INTEGER; -- band strips OCR read for it

CREATE TABLE rejected_captions (
    id INTEGER PRIMARY KEY,
    start_frame_index INTEGER NOT NULL,
    end_frame_index INTEGER NOT NULL,   -- first frame after the candidate (half-open)
    start_ms INTEGER,
    end_ms INTEGER,
    text TEXT,
    confidence REAL,
    reason TEXT NOT NULL                -- why it is not a caption, in words a user reads
);
