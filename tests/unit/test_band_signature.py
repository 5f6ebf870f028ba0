"""vabatch.vision.band_signature: the text mask of a caption band, its packing and its IoU."""

from __future__ import annotations

import numpy as np
import pytest

from vabatch.vision.band_signature import PackedMasks, mask_iou, pack_mask, text_mask, unpack_mask

GREY = 110  # a mid-grey scene: neither bright (>= 185) nor dark (<= 80)


def grey_band(height: int = 40, width: int = 80) -> np.ndarray:
    return np.full((height, width, 3), GREY, np.uint8)


def outlined_stroke(colour=(255, 255, 255)) -> np.ndarray:
    """One vertical caption stroke, 8 x 24 pixels at (20, 8), in a 3-pixel black outline."""
    band = grey_band()
    band[5:35, 17:31] = 0
    band[8:32, 20:28] = colour
    return band


def cells(rows: slice, columns: slice, shape=(10, 20)) -> np.ndarray:
    expected = np.zeros(shape, bool)
    expected[rows, columns] = True
    return expected


def test_an_outlined_stroke_sets_exactly_the_cells_it_covers():
    mask = text_mask(outlined_stroke(), 4)
    assert mask.dtype == bool and mask.shape == (10, 20)  # 40 x 80 pixels / 4
    # Pixels 8..31 x 20..27 are cells 2..7 x 5..6; the black outline sets nothing.
    assert np.array_equal(mask, cells(slice(2, 8), slice(5, 7)))


@pytest.mark.parametrize("colour", [(0, 255, 255), (0, 255, 0), (255, 0, 255)],
                         ids=["yellow", "green", "magenta"])
def test_coloured_strokes_count_by_their_brightest_channel(colour):
    assert np.array_equal(text_mask(outlined_stroke(colour), 4),
                          text_mask(outlined_stroke(), 4))


def test_a_thin_bright_stroke_without_outline_is_found_by_its_contrast():
    band = grey_band()
    band[8:32, 20:28] = 255  # 145 levels above the scene, thinner than 15 pixels
    assert np.array_equal(text_mask(band, 4), cells(slice(2, 8), slice(5, 7)))
    faint = grey_band()
    faint[8:32, 20:28] = 160  # 50 levels above the scene: not a caption stroke
    assert not text_mask(faint, 4).any()


def test_a_wide_bright_area_is_text_only_where_it_meets_a_dark_outline():
    plain = grey_band()
    plain[8:32, 10:70] = 255  # a bright sign or sky: too wide for a stroke, no outline
    assert not text_mask(plain, 4).any()
    outlined = grey_band()
    outlined[5:35, 7:73] = 0
    outlined[8:32, 10:70] = 255
    mask = text_mask(outlined, 4)
    ring = cells(slice(2, 8), slice(2, 18)) & ~cells(slice(3, 7), slice(3, 17))
    assert np.array_equal(mask, ring)


def test_empty_noisy_and_gradient_bands_have_no_text():
    assert not text_mask(grey_band(), 4).any()
    noise = np.random.default_rng(0).integers(-20, 21, (40, 80, 3))
    assert not text_mask((grey_band() + noise).astype(np.uint8), 4).any()
    gradient = np.tile(np.linspace(0, 255, 80).astype(np.uint8)[None, :, None], (40, 1, 3))
    assert not text_mask(gradient, 4).any()


def test_the_mask_shrinks_by_the_scale_and_keeps_at_least_one_cell():
    assert text_mask(grey_band(40, 80), 8).shape == (5, 10)
    assert text_mask(grey_band(3, 5), 8).shape == (1, 1)


@pytest.mark.parametrize("shape", [(10, 20), (7, 13), (1, 1), (3, 8)])
def test_pack_and_unpack_round_trip(shape):
    mask = np.random.default_rng(sum(shape)).random(shape) < 0.4
    packed = pack_mask(mask)
    assert isinstance(packed, bytes)
    restored = unpack_mask(packed, shape)
    assert restored.dtype == bool and np.array_equal(restored, mask)


def test_packed_masks_unpack_on_read():
    masks = [np.eye(6, 9, k, dtype=bool) for k in range(3)]
    packed = PackedMasks([pack_mask(m) for m in masks], (6, 9))
    assert len(packed) == 3
    assert all(np.array_equal(packed[n], masks[n]) for n in range(3))


def test_mask_iou():
    first = np.zeros((4, 4), bool)
    second = np.zeros((4, 4), bool)
    assert mask_iou(first, second) == 1.0  # two empty masks are the same state
    first[0, :] = True  # 4 cells
    assert mask_iou(first, second) == 0.0
    second[0, 2:] = True  # 2 of them
    second[1, 0] = True  # and one more
    assert mask_iou(first, second) == pytest.approx(2 / 5)
    assert mask_iou(second, first) == mask_iou(first, second)
    assert mask_iou(first, first) == 1.0


def _busy(number: int, height: int = 40, width: int = 80) -> np.ndarray:
    """A texture of bright strokes beside dark cells whose every pixel flips from one frame
    to the next (a scrolling cellular automaton changes most of its pixels so)."""
    rng = np.random.default_rng(5)
    texture = np.where(rng.random((height, width, 1)) < 0.5, 255, 0).astype(np.uint8)
    return (texture if number % 2 == 0 else 255 - texture).repeat(3, 2)


def _frames_over_a_busy_scene(count: int = 6):
    from vabatch.media import DecodedFrame

    frames = []
    for number in range(count):
        image = _busy(number)
        image[5:35, 17:31] = outlined_stroke()[5:35, 17:31]  # the caption stays
        frames.append(DecodedFrame(number, number * 40, image))
    return frames


def test_a_moving_texture_leaves_no_strokes_in_the_mask_and_the_caption_keeps_its_own():
    from vabatch.stages.crop import _steady_bands

    frames = _frames_over_a_busy_scene()
    plain = [text_mask(f.image, 4) for f in frames]
    assert all(np.count_nonzero(m & ~cells(slice(1, 9), slice(4, 8))) > 10 for m in plain)
    steady = list(_steady_bands(iter(frames), (0, 0, 80, 40), 40))
    assert [f.frame_index for f, _, _ in steady] == [0, 1, 2, 3, 4, 5]  # every frame, in order
    for (_, band, pixels), alone in zip(steady, [outlined_stroke()] * 6, strict=True):
        assert pixels is not None and (pixels[5:35, 17:31] == 255).all()
        assert np.array_equal(text_mask(band, 4, pixels), text_mask(alone, 4))
    unsteady = list(_steady_bands(iter(frames), (0, 0, 80, 40), None))
    assert [pixels for _, _, pixels in unsteady] == [None] * 6  # no threshold: everything


def test_a_caption_is_steady_from_its_first_frame_to_its_last_when_it_stays_reach_frames():
    from vabatch.media import DecodedFrame
    from vabatch.stages.crop import _steady_bands

    still = grey_band()
    shown = outlined_stroke()
    frames = [DecodedFrame(n, n * 40, image.copy())
              for n, image in enumerate([still, *[shown] * 5, still, shown, shown, still])]
    steady = list(_steady_bands(iter(frames), (0, 0, 80, 40), 40, reach=4))
    masks = [text_mask(band, 4, pixels) for _, band, pixels in steady]
    # five frames: steady on all (the first looks ahead, the last back); two: too short
    assert [np.count_nonzero(m) for m in masks] == [0, 12, 12, 12, 12, 12, 0, 0, 0, 0]
