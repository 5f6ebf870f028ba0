-- People's caption edits (`vabatch annotate`, the review page, SRT/VTT imports): one row per
-- edit, newest last, with every captions row it touched as it was before and after (JSON
-- objects of the row's columns; null: the row did not exist). `undo` restores the before
-- images of the last edit when the rows are still as the edit left them. Carried over by
-- `vabatch captions` reruns with the human rows. A caption a person deleted stays in
-- `captions` as a human row with boundary_state = 'deleted' and no text: it keeps the
-- automatic captions under it out of every rerun, and nothing lists or exports it.
CREATE TABLE caption_edits (
    id INTEGER PRIMARY KEY,
    operation TEXT NOT NULL,            -- set_text, set_bounds, split, merge, delete, add, import
    arguments TEXT NOT NULL,            -- JSON: what the person asked for
    rows TEXT NOT NULL,                 -- JSON list of {"id", "before", "after"}
    origin TEXT NOT NULL,               -- 'editor', or 'import <file name>'
    edited_at TEXT NOT NULL             -- UTC, ISO 8601
);
