"""Labels drawn with Pillow in a font fontconfig finds (vabatch/vision/drawing.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from vabatch.vision import drawing
from vabatch.vision.drawing import Label, LabelFont, draw_labels, font_for, label_extent

needs_fontconfig = pytest.mark.skipif(shutil.which("fc-match") is None,
                                      reason="fontconfig is not installed")


@pytest.fixture(autouse=True)
def _fresh_lookups():
    drawing._font_for.cache_clear()
    yield
    drawing._font_for.cache_clear()


def ink(image: np.ndarray, extent: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = extent
    return image[top + 1:bottom - 1, left + 1:right - 1].max(axis=2) > 100


@needs_fontconfig
def test_a_font_with_every_character_is_found_and_draws_each_differently():
    font = font_for("caption: 请再说一遍")
    assert font.path is not None and font.note is None
    loaded = font.load()
    black = np.zeros((40, 300, 3), dtype=np.uint8)
    cells = []
    for character in "请再说一遍?":
        label = Label(character, (10, 30), (255, 255, 255))
        drawn = draw_labels(black, [label], font)
        assert black.max() == 0  # the input is left alone
        cells.append(ink(drawn, label_extent(label, loaded)))
    # Five different Chinese characters draw five different glyphs, none of them '?'.
    assert all(cell.mean() > 0.05 for cell in cells)
    assert len({cell.tobytes() for cell in cells}) == len(cells)


@needs_fontconfig
def test_characters_no_installed_font_has_are_named_in_a_note():
    font = font_for("caption: \U000f0000")  # Supplementary Private Use Area-A
    assert font.path is not None
    assert font.note is not None and "no installed font has every character" in font.note


def test_without_fontconfig_pillows_default_font_draws_with_a_note(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no fc-match, no fc-list
    font = font_for("caption: 请再说一遍")
    assert font == LabelFont(note="fontconfig (fc-match) is not installed: Pillow's default "
                                  "font draws the text; characters outside Latin may show "
                                  "as boxes")
    label = Label("noise: EXIT", (5, 25), (0, 0, 255))
    drawn = draw_labels(np.full((30, 200, 3), 128, dtype=np.uint8), [label], font)
    left, top, right, bottom = label_extent(label, font.load())
    patch = drawn[top:bottom, left:right]
    assert 0.02 < (patch[..., 2] > 150).mean() < 0.6  # red ink (BGR) ...
    assert (patch.max(axis=2) < 30).mean() > 0.3  # ... on a black patch
    assert (drawn[:, right + 2:] == 128).all()  # nothing drawn right of the patch


@needs_fontconfig
def test_a_label_is_one_line_on_its_patch_whatever_its_text_holds():
    """Text read from a database may hold line breaks or control characters."""
    font = font_for("a\nb")
    label = Label("caption: first\nsecond\x00\tthird", (5, 25), (255, 255, 255))
    assert drawing.one_line(label.text) == "caption: first second third"
    drawn = draw_labels(np.full((60, 400, 3), 128, dtype=np.uint8), [label], font)
    left, top, right, bottom = label_extent(label, font.load())
    outside = np.ones(drawn.shape[:2], dtype=bool)
    outside[max(top, 0):bottom, left:right] = False
    assert (drawn[outside] == 128).all() and ink(drawn, (left, top, right, bottom)).any()
