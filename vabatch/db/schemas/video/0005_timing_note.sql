-- Set when the stream's own timestamps were unusable (missing, or restarting as in joined
-- .ts files): times then come from frame numbers and the frame rate, and this says so.
ALTER TABLE video_metadata ADD COLUMN timing_note TEXT;
