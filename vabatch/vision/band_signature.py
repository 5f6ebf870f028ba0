"""Cheap image evidence for caption boundaries: a small text mask of the caption band.

Burned-in captions are bright strokes, usually with a dark outline or shadow. The mask
keeps bright pixels that lie next to dark ones, or that stand out as thin bright strokes
from their surroundings (a white top-hat, for captions without an outline), then shrinks
by ``scale`` (a cell is set when enough of its pixels are). While a caption stays on
screen its mask stays put, even over a moving background; when the caption changes or
goes, most of the mask changes with it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import cv2
import numpy as np

# Levels are of each pixel's brightest channel (HSV value), not of its grey: a caption in
# pure green or magenta (speaker colours in subtitles for the deaf) is as bright as white
# there, while its grey (150, 105) is no brighter than the scene behind it.
BRIGHT_LEVEL = 185  # level of caption strokes (white, yellow, green, cyan, magenta: 255)
DARK_LEVEL = 80  # level of outlines and shadows
OUTLINE_REACH = 5  # pixels: how far a stroke pixel may be from the dark outline
STROKE_WIDTH_LIMIT = 15  # pixels: the top-hat keeps bright structures thinner than this
STROKE_CONTRAST = 60  # levels a stroke must stand above its surroundings
STROKE_LEVEL = 170  # and its own minimum level
CELL_FILL = 0.3  # share of a cell's pixels that must be set

_OUTLINE_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (OUTLINE_REACH, OUTLINE_REACH))
_STROKE_KERNEL = cv2.getStructuringElement(cv2.MORPH_RECT,
                                           (STROKE_WIDTH_LIMIT, STROKE_WIDTH_LIMIT))


def brightest_channel(image_bgr: np.ndarray) -> np.ndarray:
    """Each pixel's largest channel value (HSV value), as a single-channel image."""
    blue, green, red = cv2.split(image_bgr)
    return cv2.max(cv2.max(blue, green), red)


def stroke_mask(image_bgr: np.ndarray, by_value: bool = True) -> np.ndarray:
    """Caption strokes at full resolution (uint8, 255 = stroke): bright pixels next to a
    dark outline or shadow, or thin bright strokes standing out from their surroundings.
    Brightness is the brightest channel, or with ``by_value=False`` the grey."""
    if image_bgr.ndim == 2:
        brightness = image_bgr
    elif by_value:
        brightness = brightest_channel(image_bgr)
    else:
        brightness = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    # 8-bit OpenCV operations throughout: this runs on every frame of every video.
    _, bright = cv2.threshold(brightness, BRIGHT_LEVEL - 1, 255, cv2.THRESH_BINARY)
    _, dark = cv2.threshold(brightness, DARK_LEVEL, 255, cv2.THRESH_BINARY_INV)
    near_dark = cv2.dilate(dark, _OUTLINE_KERNEL)
    outlined = cv2.bitwise_and(bright, near_dark)
    tophat = cv2.morphologyEx(brightness, cv2.MORPH_TOPHAT, _STROKE_KERNEL)
    _, contrast = cv2.threshold(tophat, STROKE_CONTRAST - 1, 255, cv2.THRESH_BINARY)
    _, level = cv2.threshold(brightness, STROKE_LEVEL - 1, 255, cv2.THRESH_BINARY)
    return cv2.bitwise_or(outlined, cv2.bitwise_and(contrast, level))


def text_mask(band_bgr: np.ndarray, scale: int, steady: np.ndarray | None = None
              ) -> np.ndarray:
    """The band's text mask, ``scale`` times smaller than the band, as bool. ``steady``
    (uint8, 255 = a pixel that did not move; crop's ``_steady_bands``): strokes elsewhere
    are the moving scene's, not a caption's."""
    strokes = stroke_mask(band_bgr)
    if steady is not None:
        strokes = cv2.bitwise_and(strokes, steady)
    height, width = strokes.shape
    small = cv2.resize(strokes, (max(1, width // scale), max(1, height // scale)),
                       interpolation=cv2.INTER_AREA)
    return small >= round(CELL_FILL * 255)


def unchanged_pixels(first_bgr: np.ndarray, second_bgr: np.ndarray, threshold: int
                     ) -> np.ndarray:
    """uint8, 255 where no colour channel changed by more than ``threshold`` levels."""
    change = cv2.absdiff(first_bgr, second_bgr)
    if change.ndim == 3:  # the largest change of a pixel's channels
        change = brightest_channel(change)
    _, unchanged = cv2.threshold(change, threshold, 255, cv2.THRESH_BINARY_INV)
    return unchanged


def pack_mask(mask: np.ndarray) -> bytes:
    return zlib.compress(np.packbits(mask, axis=None).tobytes(), 6)


def unpack_mask(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(zlib.decompress(data), dtype=np.uint8))
    return bits[: shape[0] * shape[1]].reshape(shape).astype(bool)


class PackedMasks(Sequence):
    """Masks kept as stored (compressed bits, a few hundred bytes each) and unpacked when
    read: an hour at 30 fps is 108,000 masks, about 2 GB as boolean arrays."""

    def __init__(self, packed: Sequence[bytes], shape: tuple[int, int]) -> None:
        self._packed = packed
        self._shape = shape

    def __len__(self) -> int:
        return len(self._packed)

    def __getitem__(self, index: int) -> np.ndarray:
        return unpack_mask(self._packed[index], self._shape)


def mask_iou(first: np.ndarray, second: np.ndarray) -> float:
    """Intersection over union of two masks; two empty masks are identical (1.0)."""
    union = np.count_nonzero(first | second)
    return 1.0 if union == 0 else np.count_nonzero(first & second) / union
