-- Columns `vabatch migrate` fills from a legacy monolithic captions.db; NULL in rows that
-- `vabatch layout` made. legacy_nulls: bit 0 label_source (labels), bits 0-3
-- crop_left/top/right/bottom (layout config) were NULL in the legacy row.
ALTER TABLE full_frame_box_labels ADD COLUMN legacy_id INTEGER;
ALTER TABLE full_frame_box_labels ADD COLUMN legacy_nulls INTEGER;
-- A legacy label_source outside ('model', 'human', 'user'), kept as it was.
ALTER TABLE full_frame_box_labels ADD COLUMN legacy_label_source TEXT;
ALTER TABLE video_layout_config ADD COLUMN legacy_nulls INTEGER;

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
