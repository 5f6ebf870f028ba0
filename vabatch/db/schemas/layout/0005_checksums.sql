-- XXH3-64 of each stored value's bytes (a text: its UTF-8 bytes, as CAST(x AS BLOB) gives),
-- a signed 64-bit integer written with the value (vabatch/db/checksums.py); `vabatch verify`
-- recomputes it. NULL means "not checked yet" (rows written before this step, or by code that
-- does not set it), never damage. A value changed without its checksum gets NULL again.

ALTER TABLE box_classification_model ADD COLUMN model_data_xxh3 INTEGER;
CREATE TRIGGER box_classification_model_model_data_xxh3_unknown AFTER UPDATE OF model_data ON box_classification_model
WHEN new.model_data_xxh3 IS old.model_data_xxh3 AND CAST(new.model_data AS BLOB) IS NOT CAST(old.model_data AS BLOB)
BEGIN
    UPDATE box_classification_model SET model_data_xxh3 = NULL WHERE rowid = new.rowid;
END;
