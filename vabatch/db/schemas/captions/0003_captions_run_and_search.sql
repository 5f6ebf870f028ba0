-- What the last automatic captions run used, so a re-run on the same crop does nothing.
CREATE TABLE captions_run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    inputs_sha256 TEXT NOT NULL,        -- the crop it read, the parameters, the tool version
    parameters TEXT NOT NULL,           -- JSON
    tool_version TEXT NOT NULL,
    spans_read INTEGER NOT NULL         -- stable spans whose text OCR read
);

CREATE INDEX captions_by_start ON captions (start_frame_index);

-- Full-text search on caption text (trigram: substrings of 3+ characters, any script):
--   SELECT c.* FROM captions.captions_fts f JOIN captions.captions c ON c.id = f.rowid
--   WHERE captions_fts MATCH 'harbour'
CREATE VIRTUAL TABLE captions_fts USING fts5(
    text, content = 'captions', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO captions_fts (rowid, text) SELECT id, text FROM captions;

CREATE TRIGGER captions_fts_after_insert AFTER INSERT ON captions BEGIN
    INSERT INTO captions_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER captions_fts_after_delete AFTER DELETE ON captions BEGIN
    INSERT INTO captions_fts (captions_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER captions_fts_after_update AFTER UPDATE ON captions BEGIN
    INSERT INTO captions_fts (captions_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO captions_fts (rowid, text) VALUES (new.id, new.text);
END;
