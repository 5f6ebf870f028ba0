-- captions.db: written only by `vabatch captions` and caption edits/imports.
CREATE TABLE captions (
    id INTEGER PRIMARY KEY,
    start_frame_index INTEGER NOT NULL,
    end_frame_index INTEGER NOT NULL,   -- first frame after the caption (half-open)
    start_ms INTEGER,
    end_ms INTEGER,                     -- time of end_frame_index
    text TEXT,
    confidence REAL,
    source TEXT NOT NULL DEFAULT 'auto' CHECK (source IN ('auto', 'human')),
    boundary_state TEXT,
    text_pending INTEGER DEFAULT 0,
    created_at TEXT,
    updated_at TEXT
);
