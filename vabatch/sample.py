"""The built-in sample: a short video with burned-in captions, drawn with OpenCV.

Made on first use, offline, from code alone: the same pixels on every machine. Its
captions are known (``SAMPLE_CAPTIONS``), so the demo can show what the pipeline found.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vabatch.fsutil import temporary_name

WIDTH, HEIGHT, FPS = 960, 540, 25
DURATION_S = 12
# (start_ms, end_ms, lines): the captions burned into the sample.
SAMPLE_CAPTIONS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (400, 2400, ("Welcome to the vabatch sample video.",)),
    (2400, 4600, ("Captions are burned into the pixels,",)),
    (4600, 7200, ("so we read them back with OCR", "and keep every line.")),
    (8000, 10000, ("A logo in the corner is not a caption.",)),
    (10000, 11600, ("Thanks for watching!",)),
)
LOGO_TEXT = "VA TV"


def sample_frame(frame_index: int) -> np.ndarray:
    """The sample's frame ``frame_index`` as BGR pixels."""
    import cv2

    t = frame_index / FPS
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    # A slowly drifting colour field, so no two frames are identical.
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    image[..., 0] = (96 + 60 * np.sin(xs / 140 + t * 0.9)).astype(np.uint8)
    image[..., 1] = (110 + 50 * np.sin(ys / 90 - t * 0.7)).astype(np.uint8)
    image[..., 2] = (120 + 70 * np.sin((xs + ys) / 200 + t * 0.5)).astype(np.uint8)
    for k in range(5):  # moving shapes: scene content behind the captions
        cx = int((WIDTH * (0.15 + 0.18 * k) + 80 * np.sin(t * (0.8 + 0.2 * k))) % WIDTH)
        cy = int(HEIGHT * 0.45 + 120 * np.cos(t * (0.6 + 0.15 * k) + k))
        cv2.circle(image, (cx, cy), 40 + 8 * k, (40 * k % 255, 200 - 30 * k, 90 + 25 * k), -1)
    _outlined_text(image, LOGO_TEXT, (WIDTH - 150, 50), 0.9, (230, 230, 230))
    now_ms = frame_index * 1000 / FPS
    for start_ms, end_ms, lines in SAMPLE_CAPTIONS:
        if start_ms <= now_ms < end_ms:
            for row, line in enumerate(reversed(lines)):
                _centered_text(image, line, HEIGHT - 40 - row * 44)
    return image


def _outlined_text(image, text, origin, scale, colour) -> None:
    import cv2

    font = cv2.FONT_HERSHEY_DUPLEX
    x, y = origin
    # A dark outline as subtitle renderers draw it: the text in black, shifted around.
    for dx in (-2, 0, 2):
        for dy in (-2, 0, 2):
            if dx or dy:
                cv2.putText(image, text, (x + dx, y + dy), font, scale, (0, 0, 0), 2,
                            cv2.LINE_AA)
    cv2.putText(image, text, origin, font, scale, colour, 2, cv2.LINE_AA)


def _centered_text(image, text, baseline_y) -> None:
    import cv2

    (text_width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, 1.1, 2)
    _outlined_text(image, text, ((WIDTH - text_width) // 2, baseline_y), 1.1, (255, 255, 255))


def write_sample_video(path: Path) -> Path:
    """Write the sample video to ``path`` (MPEG-4, via a temporary name); return the path."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path, suffix=".tmp.mp4")
    writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), FPS,
                             (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write MPEG-4 video on this machine")
    try:
        for frame_index in range(DURATION_S * FPS):
            writer.write(sample_frame(frame_index))
    finally:
        writer.release()
    os.replace(temporary, path)
    return path


def sample_video_path(data_root: Path) -> Path:
    """The sample video under the data root, written on first use."""
    path = Path(data_root) / "samples" / "vabatch-sample.mp4"
    if not path.exists():
        write_sample_video(path)
    return path
