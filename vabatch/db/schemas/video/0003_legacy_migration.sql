-- Columns `vabatch migrate` fills when it converts a legacy monolithic captions.db. The
-- legacy_* columns keep legacy values the main columns cannot hold exactly (NULLs, seconds,
-- the recorded path and hash), so the migration can prove that nothing was lost. They stay
-- NULL in files made by `vabatch ingest`.
ALTER TABLE video_metadata ADD COLUMN legacy_id INTEGER;
ALTER TABLE video_metadata ADD COLUMN legacy_video_path TEXT;
ALTER TABLE video_metadata ADD COLUMN legacy_video_hash TEXT;
ALTER TABLE video_metadata ADD COLUMN legacy_width INTEGER;
ALTER TABLE video_metadata ADD COLUMN legacy_height INTEGER;
ALTER TABLE video_metadata ADD COLUMN legacy_total_frames INTEGER;
ALTER TABLE video_metadata ADD COLUMN legacy_duration_seconds REAL;
ALTER TABLE video_metadata ADD COLUMN legacy_created_at TEXT;

ALTER TABLE full_frames ADD COLUMN legacy_timestamp_seconds REAL;
ALTER TABLE full_frames ADD COLUMN legacy_width INTEGER;
ALTER TABLE full_frames ADD COLUMN legacy_height INTEGER;
ALTER TABLE full_frames ADD COLUMN legacy_created_at TEXT;

-- One row when this directory was migrated: what migrate found and what it added.
CREATE TABLE migration (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    legacy_file TEXT NOT NULL,          -- the kept original, next to this file
    legacy_size_bytes INTEGER NOT NULL,
    legacy_mtime_ns INTEGER NOT NULL,
    tool_version TEXT NOT NULL,
    source_status TEXT NOT NULL,        -- how the source video was (or was not) found
    installed_files TEXT NOT NULL,      -- JSON list of files migrate added besides databases
    notes TEXT NOT NULL                 -- JSON list of findings (kept rows, opaque models, ...)
);

-- What `vabatch migrate` checked when it made this file from a legacy monolithic captions.db:
-- per legacy table, the row count and canonical content hash (docs/migrate.md) of the legacy
-- rows and of the rows they became, mapped back to legacy form. Empty in files a stage made.
CREATE TABLE migration_proof (
    legacy_table TEXT PRIMARY KEY,
    legacy_rows INTEGER,                -- NULL when the legacy file had no such table
    legacy_sha256 TEXT,
    new_table TEXT NOT NULL,            -- alias.table the rows went to
    new_rows INTEGER NOT NULL,
    new_sha256 TEXT NOT NULL
);
