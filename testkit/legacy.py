"""Legacy monolithic captions.db directories, built with apsw exactly by DESIGN.md's schema.

Frames are real JPEG bytes and crops real PNG bytes, made with OpenCV from the frames of a
tiny real video that sits next to the database (or elsewhere, or nowhere).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import apsw
import cv2
import numpy as np

LEGACY_SCHEMA = {
    "video_metadata": "CREATE TABLE video_metadata (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "video_path TEXT NOT NULL, video_hash TEXT, width INTEGER, height INTEGER, fps REAL, "
    "total_frames INTEGER, duration_seconds REAL, created_at TEXT)",
    "full_frames": "CREATE TABLE full_frames (frame_index INTEGER PRIMARY KEY, "
    "timestamp_seconds REAL NOT NULL, image_data BLOB NOT NULL, width INTEGER, height INTEGER, "
    "created_at TEXT)",
    "full_frame_ocr": "CREATE TABLE full_frame_ocr (id INTEGER PRIMARY KEY, frame_index INTEGER "
    "NOT NULL REFERENCES full_frames(frame_index), box_index INTEGER NOT NULL, text TEXT, "
    "confidence REAL, x INTEGER, y INTEGER, width INTEGER, height INTEGER, "
    "UNIQUE(frame_index, box_index))",
    "full_frame_box_labels": "CREATE TABLE full_frame_box_labels (id INTEGER PRIMARY KEY, "
    "frame_index INTEGER NOT NULL, box_index INTEGER NOT NULL, label TEXT NOT NULL CHECK "
    "(label IN ('caption','noise')), label_source TEXT DEFAULT 'user', created_at TEXT, "
    "UNIQUE(frame_index, box_index))",
    "box_classification_model": "CREATE TABLE box_classification_model (id INTEGER PRIMARY KEY, "
    "model_version TEXT, model_data BLOB, trained_at TEXT, n_training_samples INTEGER, "
    "accuracy REAL)",
    "video_layout_config": "CREATE TABLE video_layout_config (id INTEGER PRIMARY KEY CHECK "
    "(id = 1), crop_left INTEGER, crop_top INTEGER, crop_right INTEGER, crop_bottom INTEGER, "
    "anchor_type TEXT, updated_at TEXT)",
    "cropped_frames": "CREATE TABLE cropped_frames (frame_index INTEGER PRIMARY KEY, image_data "
    "BLOB NOT NULL, crop_left INTEGER, crop_top INTEGER, crop_right INTEGER, crop_bottom "
    "INTEGER, created_at TEXT)",
    "captions": "CREATE TABLE captions (id INTEGER PRIMARY KEY, start_frame_index INTEGER NOT "
    "NULL, end_frame_index INTEGER NOT NULL, text TEXT, boundary_state TEXT, text_pending "
    "INTEGER DEFAULT 0, created_at TEXT, updated_at TEXT)",
}

WIDTH, HEIGHT, FPS, FRAMES, EVERY = 160, 96, 10.0, 30, 3
BAND = (8, 64, 152, 90)  # left, top, right, bottom (half-open)


class Boom:
    """Unpickling this object would create ``path``: a tripwire for code that loads pickles."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@dataclass
class LegacyOptions:
    """Which variant of the old format to write."""

    optional_tables: bool = True  # cropped_frames and video_layout_config
    nulls: bool = False  # NULLs wherever the legacy schema allows them
    orphan_labels: int = 0  # label rows whose OCR box does not exist
    model_data: bytes | None = b"\x00opaque-model-bytes"
    video: str = "directory"  # 'directory', 'elsewhere' (absolute path) or 'none'
    hash_kind: str | None = "sha256"  # how video_hash is recorded: sha256, md5 or None
    frames: int = FRAMES
    image_bytes: int = 0  # pad each JPEG with a comment segment to about this size
    variant: int = 0  # another number draws other frames (another video, another hash)
    video_name: str = "episode.mp4"


def frame_image(frame_index: int, variant: int = 0) -> np.ndarray:
    """A frame with a moving square and a burned-in caption line (``variant`` moves the
    square elsewhere: another video)."""
    image = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
    x = 5 + (frame_index * 4 + variant * 7) % (WIDTH - 30)
    y = 10 + variant % 3 * 8
    cv2.rectangle(image, (x, y), (x + 20, y + 20), (0, 160, 255), -1)
    cv2.putText(image, f"line {frame_index // 10}", (12, 82), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (255, 255, 255), 1, cv2.LINE_AA)
    return image


def make_video(path: Path, frames: int = FRAMES, variant: int = 0) -> Path:
    """A tiny real MPEG-4 video of ``frames`` frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write mp4v"
    for frame_index in range(frames):
        writer.write(frame_image(frame_index, variant))
    writer.release()
    return path


def jpeg_bytes(image: np.ndarray, pad_to: int = 0) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    data = buffer.tobytes()
    while pad_to and len(data) < pad_to:  # COM segments: realistic size, still a valid JPEG
        chunk = min(65000, pad_to - len(data))
        filler = os.urandom(chunk)
        data = data[:2] + b"\xff\xfe" + (chunk + 2).to_bytes(2, "big") + filler + data[2:]
    return data


def png_bytes(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image)
    assert ok
    return buffer.tobytes()


def create_legacy_db(path: Path, tables) -> apsw.Connection:
    conn = apsw.Connection(str(path))
    for name in tables:
        conn.execute(LEGACY_SCHEMA[name])
    return conn


def build_legacy_dir(directory: Path, options: LegacyOptions | None = None,
                     video_store: Path | None = None) -> Path:
    """Write a legacy video directory (captions.db and maybe the video); return it."""
    options = options or LegacyOptions()
    directory.mkdir(parents=True, exist_ok=True)
    video_name = options.video_name
    if options.video == "directory":
        video = make_video(directory / video_name, options.frames, options.variant)
        video_path = f"/old/machine/videos/{video_name}"  # moved since: found by its name
    elif options.video == "elsewhere":
        store = video_store or directory.parent / "elsewhere"
        store.mkdir(parents=True, exist_ok=True)
        video = make_video(store / video_name, options.frames, options.variant)
        video_path = str(video)
    else:
        video = None
        video_path = f"/gone/{video_name}"
    video_bytes = (video.read_bytes() if video
                   else b"no video" + (f" {options.variant}".encode() if options.variant else b""))
    video_hash = {"sha256": hashlib.sha256(video_bytes).hexdigest(),
                  "md5": hashlib.md5(video_bytes).hexdigest(), None: None}[options.hash_kind]

    tables = list(LEGACY_SCHEMA)
    if not options.optional_tables:
        tables = [t for t in tables if t not in ("cropped_frames", "video_layout_config")]
    conn = create_legacy_db(directory / "captions.db", tables)
    nulls = options.nulls
    with conn:
        conn.execute(
            "INSERT INTO video_metadata VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
            (video_path, video_hash, None if nulls else WIDTH, None if nulls else HEIGHT,
             None if nulls else FPS, None if nulls else options.frames,
             None if nulls else options.frames / FPS, None if nulls else "2023-05-01 10:00:00"))
        sampled = list(range(0, options.frames, EVERY))
        for frame_index in sampled:
            image = frame_image(frame_index, options.variant)
            unsized = nulls and frame_index % 2 == 0
            conn.execute(
                "INSERT INTO full_frames VALUES (?, ?, ?, ?, ?, ?)",
                (frame_index, frame_index / FPS, jpeg_bytes(image, options.image_bytes),
                 None if unsized else WIDTH, None if unsized else HEIGHT,
                 None if nulls else "2023-05-01 10:00:01"))
            if "cropped_frames" in tables:
                left, top, right, bottom = BAND
                conn.execute(
                    "INSERT INTO cropped_frames VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (frame_index, png_bytes(image[top:bottom, left:right]),
                     None if unsized else left, top, None if unsized else right, bottom,
                     None if nulls else "2023-05-01 10:00:02"))
            for box_index in range(2):
                blank = nulls and box_index == 1
                conn.execute(
                    "INSERT INTO full_frame_ocr (frame_index, box_index, text, confidence, x, y,"
                    " width, height) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (frame_index, box_index, None if blank else f"line {frame_index // 10}",
                     None if blank else 0.5 + box_index / 4, None if blank else 10 + box_index,
                     70, None if blank else 80, 16))
                conn.execute(
                    "INSERT INTO full_frame_box_labels (frame_index, box_index, label,"
                    " label_source, created_at) VALUES (?, ?, ?, ?, ?)",
                    (frame_index, box_index, "caption" if box_index == 0 else "noise",
                     None if blank else ("user" if box_index == 0 else "old-tool-v1"),
                     None if nulls else "2023-05-02"))
        for number in range(options.orphan_labels):
            conn.execute(
                "INSERT INTO full_frame_box_labels (frame_index, box_index, label, label_source)"
                " VALUES (?, ?, 'caption', 'user')", (sampled[number % len(sampled)], 7 + number))
        if options.model_data is not None or nulls:
            conn.execute(
                "INSERT INTO box_classification_model VALUES (1, ?, ?, ?, ?, ?)",
                (None if nulls else "v3", options.model_data, "2023-05-03", 120, 0.93))
        if "video_layout_config" in tables:
            conn.execute(
                "INSERT INTO video_layout_config VALUES (1, ?, ?, ?, ?, ?, ?)",
                (BAND[0], None if nulls else BAND[1], BAND[2], BAND[3],
                 None if nulls else "bottom", "2023-05-04"))
        for number, start in enumerate(range(0, options.frames - 10, 10)):
            conn.execute(
                "INSERT INTO captions (start_frame_index, end_frame_index, text, boundary_state,"
                " text_pending, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (start, start + 10, None if nulls and number == 0 else f"line {start // 10}",
                 None if nulls else "confirmed", None if nulls else 0, "2023-05-05",
                 None if nulls else "2023-05-06"))
    conn.close()
    return directory


def pickle_tripwire(marker: Path) -> bytes:
    """Pickle bytes whose loading would create ``marker``."""
    return pickle.dumps(Boom(str(marker)))


def snapshot(directory: Path) -> dict[str, str]:
    """Every path under ``directory`` with the SHA-256 of its bytes ('dir' for folders)."""
    found = {}
    for path in sorted(directory.rglob("*")):
        relative = str(path.relative_to(directory))
        found[relative] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found
