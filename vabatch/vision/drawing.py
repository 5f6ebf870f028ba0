"""Text on pictures: labels drawn with Pillow in an installed font that has their glyphs.

OpenCV's own fonts draw ASCII only (OCR text in Chinese came out as ``?``). The font is
chosen per picture by fontconfig (``fc-match``, ``fc-list``: the system's own font lookup,
run here; nothing is downloaded): the best match for every character to draw, checked to
really hold them. Without fontconfig, or with no installed font that has them all, the label
says why in :attr:`LabelFont.note` (Pillow's default font draws Latin only).
"""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

LABEL_SIZE = 14  # pixels per em of the label font
FC_TIMEOUT_S = 10


@dataclass(frozen=True)
class LabelFont:
    """A font file (``index``: the face inside a .ttc collection), or None for Pillow's
    default; ``note`` says which characters may not show, and why."""

    path: str | None = None
    index: int = 0
    note: str | None = None

    def load(self, size: int = LABEL_SIZE):
        from PIL import ImageFont

        if self.path is None:
            return ImageFont.load_default(size)
        return _truetype(self.path, self.index, size)


@lru_cache(maxsize=8)
def _truetype(path: str, index: int, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size, index=index)


@dataclass(frozen=True)
class Label:
    """``text`` in ``colour`` (as the image's channels: BGR for OpenCV images) on a black
    patch whose bottom-left corner is ``corner``."""

    text: str
    corner: tuple[int, int]
    colour: tuple[int, int, int]


def font_for(text: str) -> LabelFont:
    """The installed font fontconfig matches best to every character of ``text``."""
    wanted = sorted({ord(c) for c in text if not c.isspace()
                     and unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Cn")})
    return _font_for(" ".join(f"{code:x}" for code in wanted))


@lru_cache(maxsize=64)
def _font_for(charset: str) -> LabelFont:
    fc_match, fc_list = shutil.which("fc-match"), shutil.which("fc-list")
    if fc_match is None or fc_list is None:
        return LabelFont(note="fontconfig (fc-match) is not installed: Pillow's default font "
                              "draws the text; characters outside Latin may show as boxes")
    pattern = f"sans-serif:charset={charset}" if charset else "sans-serif"
    try:
        found = subprocess.run([fc_match, "--format=%{file}\n%{index}", pattern],
                               capture_output=True, text=True, timeout=FC_TIMEOUT_S,
                               check=False).stdout.split("\n")
        holding = subprocess.run([fc_list, "--format=%{file}\n", f":charset={charset}", "file"],
                                 capture_output=True, text=True, timeout=FC_TIMEOUT_S,
                                 check=False).stdout.splitlines() if charset else found[:1]
    except (OSError, subprocess.TimeoutExpired) as error:
        return LabelFont(note=f"fontconfig failed ({error}): Pillow's default font draws "
                              "the text; characters outside Latin may show as boxes")
    path = found[0] if found and found[0] else None
    index = int(found[1]) if len(found) > 1 and found[1].isdigit() else 0
    if path is None:
        return LabelFont(note="fontconfig found no font: Pillow's default font draws the "
                              "text; characters outside Latin may show as boxes")
    if path not in holding:
        return LabelFont(path, index, note=f"no installed font has every character of the "
                                           f"text: {path} draws it, some show as boxes")
    return LabelFont(path, index)


def label_extent(label: Label, font) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the black patch of ``label`` drawn in ``font`` (a
    loaded Pillow font), right and bottom exclusive."""
    left, top, right, bottom = _text_box(one_line(label.text), font)
    x, y = label.corner
    return x - 1, y - (bottom - top) - 2, x + (right - left) + 1, y


def one_line(text: str) -> str:
    """``text`` as one line: line breaks and tabs become spaces, other control characters
    go (a label is one line on its patch)."""
    return "".join(" " if c.isspace() else c for c in text
                   if c.isspace() or unicodedata.category(c) not in ("Cc", "Cf"))


def _text_box(text: str, font) -> tuple[int, int, int, int]:
    """The text's box when drawn at (0, 0), its top-left anchor; the line height at least,
    so labels of one picture line up whatever letters they hold."""
    left, top, right, bottom = font.getbbox(text or " ")
    line_left, line_top, _, line_bottom = font.getbbox("Ag")
    return min(left, line_left), min(top, line_top), right, max(bottom, line_bottom)


def draw_labels(image: np.ndarray, labels: list[Label], font: LabelFont) -> np.ndarray:
    """``image`` (H x W x 3, uint8) with each label drawn on it: a new array."""
    from PIL import Image, ImageDraw

    loaded = font.load()
    picture = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(picture)
    for label in labels:
        left, top, right, bottom = label_extent(label, loaded)
        draw.rectangle((left, top, right - 1, bottom - 1), fill=(0, 0, 0))
        text = one_line(label.text)
        text_left, text_top, _, _ = _text_box(text, loaded)
        draw.text((left + 1 - text_left, top + 1 - text_top), text, font=loaded,
                  fill=tuple(label.colour))
    return np.asarray(picture).copy()
