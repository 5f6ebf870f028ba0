-- What the last automatic layout run used, so a re-run on the same inputs does nothing
-- and `status` can tell when the layout is stale.
CREATE TABLE layout_run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    inputs_sha256 TEXT NOT NULL,        -- OCR boxes, frame size, classifier, parameters
    method TEXT NOT NULL,               -- 'rules' or 'classifier:<where>'
    tool_version TEXT NOT NULL,
    message TEXT
);
