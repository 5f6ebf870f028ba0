-- cropping.db: written only by `vabatch crop`.
CREATE TABLE cropped_frames (
    frame_index INTEGER PRIMARY KEY,    -- a frame of the source video (not only sampled ones)
    timestamp_ms INTEGER,
    image_data BLOB NOT NULL,
    image_format TEXT NOT NULL DEFAULT 'png',
    crop_left INTEGER NOT NULL,
    crop_top INTEGER NOT NULL,
    crop_right INTEGER NOT NULL,
    crop_bottom INTEGER NOT NULL
);
