-- fullOCR.db: written only by `vabatch ocr`.
CREATE TABLE ocr_run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    engine TEXT NOT NULL,
    engine_version TEXT NOT NULL,
    parameters TEXT NOT NULL            -- JSON
);

-- One row per frame of video.full_frames that OCR has dealt with (also frames with no text),
-- so a killed run resumes after the last committed frame.
CREATE TABLE ocr_frames (
    frame_index INTEGER PRIMARY KEY,
    box_count INTEGER NOT NULL,
    reused_from_frame_index INTEGER     -- set when the frame's pixels matched an earlier frame
);

CREATE TABLE full_frame_ocr (
    frame_index INTEGER NOT NULL,
    box_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    confidence REAL,
    x INTEGER NOT NULL,
    y INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    x1 REAL, y1 REAL, x2 REAL, y2 REAL, x3 REAL, y3 REAL, x4 REAL, y4 REAL,
    UNIQUE (frame_index, box_index)
);
