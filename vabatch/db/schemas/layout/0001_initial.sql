-- layout.db: written only by `vabatch layout` (auto layout, label import/export, training).
CREATE TABLE full_frame_box_labels (
    frame_index INTEGER NOT NULL,
    box_index INTEGER NOT NULL,
    label TEXT NOT NULL CHECK (label IN ('caption', 'noise')),
    label_source TEXT NOT NULL CHECK (label_source IN ('model', 'human', 'user')),
    confidence REAL,
    created_at TEXT,
    UNIQUE (frame_index, box_index)
);

CREATE TABLE box_classification_model (
    id INTEGER PRIMARY KEY,
    model_version TEXT,
    model_format TEXT,                  -- how model_data is encoded (never pickle)
    model_data BLOB,
    trained_at TEXT,
    n_training_samples INTEGER,
    accuracy REAL,
    metrics TEXT                        -- JSON
);

CREATE TABLE video_layout_config (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    crop_left INTEGER NOT NULL,
    crop_top INTEGER NOT NULL,
    crop_right INTEGER NOT NULL,        -- first column outside the band
    crop_bottom INTEGER NOT NULL,       -- first row outside the band
    anchor_type TEXT,
    method TEXT,
    confidence REAL,
    updated_at TEXT
);
