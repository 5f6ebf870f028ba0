-- XXH3-64 of each stored value's bytes (a text: its UTF-8 bytes, as CAST(x AS BLOB) gives),
-- a signed 64-bit integer written with the value (vabatch/db/checksums.py); `vabatch verify`
-- recomputes it. NULL means "not checked yet" (rows written before this step, or by code that
-- does not set it), never damage. A value changed without its checksum gets NULL again.

ALTER TABLE cropped_frames ADD COLUMN image_data_xxh3 INTEGER;
CREATE TRIGGER cropped_frames_image_data_xxh3_unknown AFTER UPDATE OF image_data ON cropped_frames
WHEN new.image_data_xxh3 IS old.image_data_xxh3 AND CAST(new.image_data AS BLOB) IS NOT CAST(old.image_data AS BLOB)
BEGIN
    UPDATE cropped_frames SET image_data_xxh3 = NULL WHERE rowid = new.rowid;
END;

ALTER TABLE band_signatures ADD COLUMN mask_xxh3 INTEGER;
CREATE TRIGGER band_signatures_mask_xxh3_unknown AFTER UPDATE OF mask ON band_signatures
WHEN new.mask_xxh3 IS old.mask_xxh3 AND CAST(new.mask AS BLOB) IS NOT CAST(old.mask AS BLOB)
BEGIN
    UPDATE band_signatures SET mask_xxh3 = NULL WHERE rowid = new.rowid;
END;
