-- Where the video was when it was ingested (the path given to ingest, made absolute), so
-- `vabatch export` can mirror the folders of a collection. NULL in files made before.
ALTER TABLE video_metadata ADD COLUMN source_path TEXT;
