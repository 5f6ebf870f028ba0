-- Columns `vabatch migrate` fills from a legacy monolithic captions.db: the legacy row id, and
-- which legacy columns were NULL where this table needs a value (bit 0 text, 1 x, 2 y,
-- 3 width, 4 height; the main column then holds '' or 0). NULL in rows `vabatch ocr` made.
ALTER TABLE full_frame_ocr ADD COLUMN legacy_id INTEGER;
ALTER TABLE full_frame_ocr ADD COLUMN legacy_nulls INTEGER;

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
