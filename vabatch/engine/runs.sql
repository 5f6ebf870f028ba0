-- Run records of the batch engine: <data root>/runs.db, written only by the main process
-- of a run (`vabatch runs`, `vabatch status --failed` read it). Version 1.
PRAGMA application_id = 0x56427275;  -- "VBru"

CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,             -- 'ocr', 'run', 'ingest', ...
    arguments TEXT NOT NULL,           -- JSON of the options that shape the work
    backend TEXT NOT NULL,             -- 'local' or 'dask <address>'
    workers INTEGER NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,              -- of the main process: a dead one means the run died
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    tasks_total INTEGER NOT NULL DEFAULT 0,
    tasks_done INTEGER NOT NULL DEFAULT 0,
    tasks_failed INTEGER NOT NULL DEFAULT 0,
    tasks_skipped INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    seconds REAL
);

CREATE TABLE IF NOT EXISTS tasks (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    task_number INTEGER NOT NULL,
    video_id TEXT NOT NULL,            -- the video id (for ingest: once known, else the input)
    stage TEXT NOT NULL,
    target TEXT NOT NULL,              -- the video directory (for ingest: the input file)
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'retrying', 'done', 'failed',
                                           'skipped', 'interrupted')),
    result_status TEXT,                -- the stage's own word: done, unchanged, resumed, ...
    attempts INTEGER NOT NULL DEFAULT 0,
    error_kind TEXT,                   -- 'transient' or 'permanent' (of the last failure)
    error TEXT,
    result TEXT,                       -- JSON of the stage's result
    seconds REAL,
    finished_at TEXT,
    PRIMARY KEY (run_id, task_number)
);
CREATE INDEX IF NOT EXISTS tasks_by_video ON tasks (video_id, stage);

CREATE TABLE IF NOT EXISTS attempts (
    run_id INTEGER NOT NULL,
    task_number INTEGER NOT NULL,
    attempt INTEGER NOT NULL,          -- 1, 2, ...
    worker TEXT,                       -- 'host:pid' (local) or the Dask worker address
    worker_pid INTEGER,                -- local backend: the worker process (tests kill it)
    started_at TEXT NOT NULL,
    finished_at TEXT,
    seconds REAL,
    outcome TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'transient', 'permanent',
                                             'interrupted')),
    error_type TEXT,
    error TEXT,
    traceback TEXT,
    retry_in REAL,                     -- seconds of backoff before the next attempt
    PRIMARY KEY (run_id, task_number, attempt),
    FOREIGN KEY (run_id, task_number) REFERENCES tasks(run_id, task_number)
);

PRAGMA user_version = 1;
