-- XXH3-64 of each stored value's bytes (a text: its UTF-8 bytes, as CAST(x AS BLOB) gives),
-- a signed 64-bit integer written with the value (vabatch/db/checksums.py); `vabatch verify`
-- recomputes it. NULL means "not checked yet" (rows written before this step, or by code that
-- does not set it), never damage. A value changed without its checksum gets NULL again.

ALTER TABLE full_frame_ocr ADD COLUMN text_xxh3 INTEGER;
CREATE TRIGGER full_frame_ocr_text_xxh3_unknown AFTER UPDATE OF text ON full_frame_ocr
WHEN new.text_xxh3 IS old.text_xxh3 AND CAST(new.text AS BLOB) IS NOT CAST(old.text AS BLOB)
BEGIN
    UPDATE full_frame_ocr SET text_xxh3 = NULL WHERE rowid = new.rowid;
END;

-- The search index follows what it holds only: without OF, the trigger above (which changes
-- the checksum alone) would re-index the row once more for nothing.
DROP TRIGGER full_frame_ocr_fts_after_update;
CREATE TRIGGER full_frame_ocr_fts_after_update
AFTER UPDATE OF text, frame_index, box_index ON full_frame_ocr BEGIN
    DELETE FROM full_frame_ocr_fts
        WHERE frame_index = old.frame_index AND box_index = old.box_index;
    INSERT INTO full_frame_ocr_fts (text, frame_index, box_index)
        VALUES (new.text, new.frame_index, new.box_index);
END;
