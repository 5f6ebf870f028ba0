-- Columns `vabatch migrate` fills from a legacy monolithic captions.db; NULL in rows that
-- `vabatch crop` made. legacy_nulls: bits 0-3 crop_left/top/right/bottom were NULL in the
-- legacy row (the main column then holds the layout's band, else 0).
ALTER TABLE cropped_frames ADD COLUMN legacy_nulls INTEGER;
ALTER TABLE cropped_frames ADD COLUMN legacy_created_at TEXT;

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
