"""Reading videos with OpenCV's FFmpeg backend: probing, decoding, sampling, encoding."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vabatch.errors import InputError

if TYPE_CHECKING:
    import cv2
    import numpy as np

# OpenCV's FFmpeg backend prints decoder warnings for damaged files; we report those
# ourselves in one line, so keep FFmpeg quiet unless the user asked otherwise.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

HASH_CHUNK_BYTES = 1 << 20


def _cv2():
    """OpenCV, imported on first use (so the command line starts fast without it)."""
    import cv2

    return cv2

# A container's declared frame count may be an estimate (e.g. Matroska: duration x fps);
# decoding fewer than this share of it means the file is cut short.
TRUNCATION_TOLERANCE = 0.97


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video before decoding it."""

    width: int
    height: int
    fps: float
    codec: str
    declared_frame_count: int


@dataclass(frozen=True)
class Sampling:
    """Which frames to keep: every ``n``-th frame, or ``n`` frames per second of video time."""

    mode: str  # 'every' or 'fps'
    value: float

    def __post_init__(self) -> None:
        if self.mode not in ("every", "fps"):
            raise InputError(f"unknown sampling mode {self.mode!r}")
        if not (self.value > 0 and math.isfinite(self.value)):
            raise InputError(f"sampling value must be positive, not {self.value}")
        if self.mode == "every" and self.value != int(self.value):
            raise InputError("--every takes a whole number of frames")

    def selector(self) -> Callable[[int, int], bool]:
        """A stateful predicate ``(frame_index, timestamp_ms) -> keep?`` for one pass."""
        if self.mode == "every":
            every = int(self.value)
            return lambda frame_index, _timestamp_ms: frame_index % every == 0
        interval_ms = 1000.0 / self.value
        next_sample = [0]  # sample k is due at time k * interval

        def keep(_frame_index: int, timestamp_ms: int) -> bool:
            if timestamp_ms + 0.5 < next_sample[0] * interval_ms:
                return False
            # Several samples may be due at once after a gap: skip to the next one ahead.
            next_sample[0] = math.floor(timestamp_ms / interval_ms + 1e-9) + 1
            return True

        return keep

    def describe(self) -> str:
        return f"every {int(self.value)} frames" if self.mode == "every" else f"{self.value:g} fps"


DEFAULT_SAMPLING = Sampling("fps", 1.0)


def sha256_of_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def xxh3_of_file(path: Path) -> str:
    """Hex XXH3-128 of a file's bytes: the fast checksum plain `verify` checks a stored
    source video with (several GB/s, where SHA-256 gives a few hundred MB/s)."""
    import xxhash

    digest = xxhash.xxh3_128()
    with open(path, "rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(path: Path) -> tuple[str, str]:
    """(hex SHA-256, hex XXH3-128) of a file's bytes, read once."""
    import xxhash

    sha, fast = hashlib.sha256(), xxhash.xxh3_128()
    with open(path, "rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            sha.update(chunk)
            fast.update(chunk)
    return sha.hexdigest(), fast.hexdigest()


# Text files FFmpeg would follow to other files or URLs (a playlist, a concat list, a
# session description): the video id would be the hash of the list, not of the video, and
# the frames would come from files vabatch neither stores nor checks.
PLAYLIST_SUFFIXES = frozenset({".m3u8", ".m3u", ".ffconcat", ".sdp"})
PLAYLIST_HEADS = (b"#EXTM3U", b"ffconcat version", b"v=0")


def refuse_playlist(path: Path) -> None:
    """Raise for a playlist or another list naming other files, whatever its extension."""
    with open(path, "rb") as stream:
        head = stream.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if Path(path).suffix.lower() in PLAYLIST_SUFFIXES or head.startswith(PLAYLIST_HEADS):
        raise InputError(f"{path}: a playlist or list that names other files, not a video; "
                         "ingest the video files it names instead")


def open_capture(path: Path) -> cv2.VideoCapture:
    """An opened capture, or one clear error saying the file is not a readable video."""
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise InputError(f"{path}: not a readable video (the decoder cannot open it)")
    return capture


def probe(capture: cv2.VideoCapture) -> VideoInfo:
    """What the container says: size, frame rate, codec, declared frame count."""
    cv2 = _cv2()
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC))
    codec = fourcc.to_bytes(4, "little").decode("ascii", "replace").strip("\x00 ") or "unknown"
    return VideoInfo(
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        fps=float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
        codec=codec,
        declared_frame_count=max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
    )


@dataclass
class DecodedFrame:
    frame_index: int
    timestamp_ms: int
    image: np.ndarray | None  # BGR pixels for kept frames, None for frames only counted


# A stream without a usable frame rate is timed as if it had this one (said in the note).
ASSUMED_FPS = 25.0


class Timeline:
    """The time of each decoded frame, in order.

    The container's timestamps while they increase. A stream may have none (a raw
    ``.h264``: every frame says 0) or timestamps that restart (``.ts`` files joined):
    from the first frame whose timestamp is not after the previous one, times continue
    from the last good one at the frame rate (``1000 / fps`` ms per frame), and ``note``
    says so. Frames are always counted, never found by time.
    """

    def __init__(self, fps: float) -> None:
        usable = fps > 0 and math.isfinite(fps)
        self.fps = fps if usable else ASSUMED_FPS
        self.fps_assumed = not usable
        self.frame_ms = 1000.0 / self.fps
        self.derived_from: int | None = None  # first frame timed by counting
        self._last: tuple[int, float] | None = None  # (frame index, ms) of the last frame

    def time_of(self, frame_index: int, container_ms: float) -> int:
        last = self._last
        if self.derived_from is None and math.isfinite(container_ms) and container_ms >= 0 \
                and (last is None or round(container_ms) > round(last[1])):
            self._last = (frame_index, container_ms)
            return round(container_ms)
        if self.derived_from is None:
            self.derived_from = frame_index
            self._base = last if last is not None else (frame_index, 0.0)
        base_index, base_ms = self._base
        return round(base_ms + (frame_index - base_index) * self.frame_ms)

    @property
    def note(self) -> str | None:
        """What a user should know about these times (None: the container's own)."""
        if self.derived_from is None:
            return None
        rate = f"{self.fps:g} fps" + (" (assumed: the stream gives none)"
                                      if self.fps_assumed else "")
        return (f"timestamps unusable from frame {self.derived_from} (missing, or not "
                f"after the previous frame's): times from frame numbers at {rate}")


def decode_frames(
    capture: cv2.VideoCapture,
    keep: Callable[[int, int], bool],
    timeline: Timeline | None = None,
) -> Iterator[DecodedFrame]:
    """Decode every frame in order; convert only the frames ``keep`` selects to pixels.

    Times come from ``timeline`` (made from the capture's frame rate when not given; pass
    one to read its ``note`` afterwards)."""
    cv2 = _cv2()
    if timeline is None:
        timeline = Timeline(float(capture.get(cv2.CAP_PROP_FPS) or 0.0))
    frame_index = 0
    while capture.grab():
        timestamp_ms = timeline.time_of(frame_index, capture.get(cv2.CAP_PROP_POS_MSEC))
        image = None
        if keep(frame_index, timestamp_ms):
            ok, image = capture.retrieve()
            if not ok:
                image = None
        yield DecodedFrame(frame_index, timestamp_ms, image)
        frame_index += 1


def check_complete(path: Path, decoded: int, info: VideoInfo) -> None:
    """Raise when decoding stopped well short of what the container declares."""
    if decoded == 0:
        raise InputError(f"{path}: no decodable frames (damaged or not a video)")
    expected = info.declared_frame_count
    if expected and decoded < expected * TRUNCATION_TOLERANCE - 1:
        raise InputError(
            f"{path}: truncated or damaged: decoded {decoded} of {expected} frames"
        )


def encode_image(image: np.ndarray, image_format: str, quality: int) -> bytes:
    """JPEG (with ``quality``) or lossless PNG bytes of a BGR image."""
    cv2 = _cv2()
    if image_format == "jpeg":
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    elif image_format == "png":
        ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        raise InputError(f"unknown image format {image_format!r} (jpeg or png)")
    if not ok:
        raise InputError(f"cannot encode a frame as {image_format}")
    return buffer.tobytes()


def decode_image(data: bytes) -> np.ndarray | None:
    """BGR pixels of JPEG/PNG bytes, or None when the bytes are not a decodable image."""
    if not data:
        return None
    import numpy as np

    cv2 = _cv2()
    return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)


def check_image(data: bytes | None) -> tuple[tuple[int, int] | None, str | None]:
    """Decode JPEG/PNG bytes strictly: ((width, height), None), or (None, what is wrong).

    Any decoder warning counts as damage: libjpeg-turbo (through simplejpeg, strict) stops
    at "Corrupt JPEG data", which OpenCV prints to stderr and decodes past; PNG goes through
    Pillow, which stops at a bad chunk CRC or zlib stream.
    """
    if not data:
        return None, "empty image"
    data = bytes(data)
    if data[:2] == b"\xff\xd8":
        import simplejpeg

        try:
            pixels = simplejpeg.decode_jpeg(data, colorspace="BGR", strict=True)
        except ValueError as error:
            return None, f"JPEG decoder: {error}"
        return (pixels.shape[1], pixels.shape[0]), None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        import io
        import warnings

        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                    return image.size, None
        except Exception as error:  # noqa: BLE001 - Pillow raises many kinds for bad bytes
            return None, f"PNG decoder: {error}"
    return None, "neither JPEG nor PNG bytes"
