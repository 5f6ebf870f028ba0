"""What stays while the picture moves: text the detector misses on a busy moving scene.

A text detector judges a line by its surroundings: over a busy texture that changes every
frame (a cellular automaton, a field of noise) it may find no line at all, the captions
included (seen on random looks of seed 40507: no box in any frame of four videos). A
caption stays still while such a scene moves, so the pixels that did not change since an
earlier frame show the caption alone: ``steady_image`` greys out every pixel that changed by
more than ``threshold`` (in any colour channel) and keeps the rest, and text is found there
on a flat grey. Pure functions of two decoded frames: the same frames give the same image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

STEADY_THRESHOLD = 40  # a pixel that changed by more than this (0-255, any channel) moved
MOVED_SHARE = 0.9  # a frame with fewer unchanged pixels than this share moved: look again
STEADY_FILL = 128  # what a moved pixel becomes: a flat mid grey, no edge for the detector


def steady_image(image_bgr: np.ndarray, earlier_bgr: np.ndarray,
                 threshold: int = STEADY_THRESHOLD) -> tuple[np.ndarray, float]:
    """``image_bgr`` with the pixels that changed since ``earlier_bgr`` greyed out, and the
    share of pixels that did not change. Frames of different shapes: nothing is steady."""
    import numpy as np

    from vabatch.vision.band_signature import unchanged_pixels

    if image_bgr.shape != earlier_bgr.shape:
        return np.full_like(image_bgr, STEADY_FILL), 0.0
    steady = unchanged_pixels(image_bgr, earlier_bgr, threshold) > 0
    mask = steady[..., None] if image_bgr.ndim == 3 else steady
    return (np.where(mask, image_bgr, np.uint8(STEADY_FILL)).astype(image_bgr.dtype),
            float(steady.mean()))
