-- video.db: written only by `vabatch ingest`.
CREATE TABLE video_metadata (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    source_name TEXT NOT NULL,          -- file name of the video as given to ingest
    source_file TEXT,                   -- name of the stored copy in the video directory
    content_sha256 TEXT NOT NULL,       -- SHA-256 of the source file's bytes
    size_bytes INTEGER,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    fps REAL,
    frame_count INTEGER NOT NULL,       -- frames actually decoded
    duration_ms INTEGER,
    codec TEXT,
    sampling_mode TEXT NOT NULL CHECK (sampling_mode IN ('every', 'fps', 'legacy')),
    sampling_value REAL,
    image_format TEXT NOT NULL,
    image_quality INTEGER,
    tool_version TEXT NOT NULL,
    ingested_at TEXT NOT NULL
);

CREATE TABLE full_frames (
    frame_index INTEGER PRIMARY KEY,    -- counts frames of the source video from 0
    timestamp_ms INTEGER NOT NULL,      -- the frame's presentation time
    image_data BLOB NOT NULL,
    image_format TEXT NOT NULL,         -- 'jpeg' or 'png'
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
);
