-- XXH3-64 of each stored value's bytes (a text: its UTF-8 bytes, as CAST(x AS BLOB) gives),
-- a signed 64-bit integer written with the value (vabatch/db/checksums.py); `vabatch verify`
-- recomputes it. NULL means "not checked yet" (rows written before this step, or by code that
-- does not set it), never damage. A value changed without its checksum gets NULL again.

ALTER TABLE full_frames ADD COLUMN image_data_xxh3 INTEGER;
CREATE TRIGGER full_frames_image_data_xxh3_unknown AFTER UPDATE OF image_data ON full_frames
WHEN new.image_data_xxh3 IS old.image_data_xxh3 AND CAST(new.image_data AS BLOB) IS NOT CAST(old.image_data AS BLOB)
BEGIN
    UPDATE full_frames SET image_data_xxh3 = NULL WHERE rowid = new.rowid;
END;

-- XXH3-128 (hex) of the stored source video's bytes, taken by ingest in the same read as
-- content_sha256: plain `vabatch verify` checks the source with it (many times faster than
-- SHA-256); `verify --deep`, or a NULL here (older files, migrated ones), uses SHA-256.
ALTER TABLE video_metadata ADD COLUMN source_xxh3 TEXT;
