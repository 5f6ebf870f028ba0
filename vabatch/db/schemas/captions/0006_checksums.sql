-- XXH3-64 of each stored value's bytes (a text: its UTF-8 bytes, as CAST(x AS BLOB) gives),
-- a signed 64-bit integer written with the value (vabatch/db/checksums.py); `vabatch verify`
-- recomputes it. NULL means "not checked yet" (rows written before this step, or by code that
-- does not set it), never damage. A value changed without its checksum gets NULL again.

ALTER TABLE captions ADD COLUMN text_xxh3 INTEGER;
CREATE TRIGGER captions_text_xxh3_unknown AFTER UPDATE OF text ON captions
WHEN new.text_xxh3 IS old.text_xxh3 AND CAST(new.text AS BLOB) IS NOT CAST(old.text AS BLOB)
BEGIN
    UPDATE captions SET text_xxh3 = NULL WHERE rowid = new.rowid;
END;

ALTER TABLE rejected_captions ADD COLUMN text_xxh3 INTEGER;
CREATE TRIGGER rejected_captions_text_xxh3_unknown AFTER UPDATE OF text ON rejected_captions
WHEN new.text_xxh3 IS old.text_xxh3 AND CAST(new.text AS BLOB) IS NOT CAST(old.text AS BLOB)
BEGIN
    UPDATE rejected_captions SET text_xxh3 = NULL WHERE rowid = new.rowid;
END;

-- The search index follows the text (and the rowid) only: without OF, the trigger above
-- (which changes the checksum alone) would make it delete the new text, never inserted.
DROP TRIGGER captions_fts_after_update;
CREATE TRIGGER captions_fts_after_update AFTER UPDATE OF id, text ON captions BEGIN
    INSERT INTO captions_fts (captions_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO captions_fts (rowid, text) VALUES (new.id, new.text);
END;
