-- What the crop run used (band, video, parameters), so a changed layout makes it stale
-- and an unchanged one makes a re-run do nothing.
CREATE TABLE crop_run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    inputs_sha256 TEXT NOT NULL,
    crop_left INTEGER,                  -- the band used; NULL when the video has no band
    crop_top INTEGER,
    crop_right INTEGER,
    crop_bottom INTEGER,
    frame_count INTEGER NOT NULL,       -- frames decoded (every frame has a signature)
    parameters TEXT NOT NULL,           -- JSON
    tool_version TEXT NOT NULL
);

-- One row per frame of the video: a small text mask of the band (bright strokes next to
-- dark outlines), so caption boundaries are found to the frame without storing every strip.
CREATE TABLE band_signatures (
    frame_index INTEGER PRIMARY KEY,
    timestamp_ms INTEGER NOT NULL,
    ink_pixels INTEGER NOT NULL,        -- set pixels in the mask
    mask BLOB NOT NULL                  -- zlib(packbits(mask)), mask_width x mask_height
);
