-- fullOCR.db step 3: full-text search on the OCR text, kept in sync by triggers.
--   SELECT frame_index FROM fullOCR.full_frame_ocr_fts WHERE full_frame_ocr_fts MATCH 'word'
-- trigram tokens match any substring of 3 or more characters: 'quick' is found in
-- 'Thequickbrownfox' (the recogniser often drops spaces between English words) and Chinese
-- needs no word splitting. Shorter queries: use LIKE '%..%' on full_frame_ocr.text.
-- The table keeps its own copy of the text rather than pointing at full_frame_ocr's rowids,
-- because VACUUM may renumber the rowids of a table without an INTEGER PRIMARY KEY.
CREATE VIRTUAL TABLE full_frame_ocr_fts USING fts5(
    text,
    frame_index UNINDEXED,
    box_index UNINDEXED,
    tokenize = 'trigram'
);

INSERT INTO full_frame_ocr_fts (text, frame_index, box_index)
    SELECT text, frame_index, box_index FROM full_frame_ocr ORDER BY frame_index, box_index;

CREATE TRIGGER full_frame_ocr_fts_after_insert AFTER INSERT ON full_frame_ocr BEGIN
    INSERT INTO full_frame_ocr_fts (text, frame_index, box_index)
        VALUES (new.text, new.frame_index, new.box_index);
END;

CREATE TRIGGER full_frame_ocr_fts_after_delete AFTER DELETE ON full_frame_ocr BEGIN
    DELETE FROM full_frame_ocr_fts
        WHERE frame_index = old.frame_index AND box_index = old.box_index;
END;

CREATE TRIGGER full_frame_ocr_fts_after_update AFTER UPDATE ON full_frame_ocr BEGIN
    DELETE FROM full_frame_ocr_fts
        WHERE frame_index = old.frame_index AND box_index = old.box_index;
    INSERT INTO full_frame_ocr_fts (text, frame_index, box_index)
        VALUES (new.text, new.frame_index, new.box_index);
END;
