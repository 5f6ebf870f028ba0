-- Later stages map caption times back to frames: look frames up by time.
CREATE INDEX full_frames_by_timestamp ON full_frames (timestamp_ms);
