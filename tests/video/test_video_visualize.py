"""worldfm.video.visualize: contact sheet layout, labels, colour maps and atomic PNG writes."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from worldfm.errors import ConfigError, VideoError
from worldfm.video.visualize import (
    SEGMENTATION_PALETTE,
    colorize_depth,
    colorize_segmentation,
    contact_sheet,
    save_image,
)


def numbered_video(t: int, h: int = 8, w: int = 10) -> np.ndarray:
    """(t, h, w, 3) uint8 where frame k is flat grey 10 * (k + 1)."""
    return np.broadcast_to((10 * (np.arange(t) + 1))[:, None, None, None], (t, h, w, 3)).astype(np.uint8)


def test_contact_sheet_layout_and_even_sampling() -> None:
    sheet = contact_sheet([numbered_video(10), numbered_video(10)], columns=4, pad=2)
    assert sheet.shape == (2 + 2 * (8 + 2), 2 + 4 * (10 + 2), 3) and sheet.dtype == np.uint8
    # Row 0, cell c shows frame even_indices(10, 4)[c] = 0, 3, 6, 9.
    cells = [sheet[2 + 4, 2 + c * 12 + 5, 0] for c in range(4)]
    assert cells == [10, 40, 70, 100]
    assert (sheet[:2] == 0).all() and (sheet[:, :2] == 0).all()  # padding is black


def test_contact_sheet_short_video_and_mixed_sizes() -> None:
    sheet = contact_sheet([numbered_video(2, 8, 10), numbered_video(6, 12, 6)], columns=4, pad=1)
    assert sheet.shape == (1 + 9 + 13, 1 + 4 * 11, 3)
    # The 2-frame row shows frames 0 and 1, then empty cells.
    assert sheet[5, 1 + 5, 0] == 10 and sheet[5, 1 + 11 + 5, 0] == 20
    assert (sheet[1:9, 1 + 2 * 11 :] == 0).all()


def test_contact_sheet_labels_add_a_text_band() -> None:
    videos = [numbered_video(4), numbered_video(4)]
    plain = contact_sheet(videos, columns=4)
    labelled = contact_sheet(videos, columns=4, labels=["first", "second"])
    band = (labelled.shape[0] - plain.shape[0]) // 2
    assert band > 5 and labelled.shape[1] == plain.shape[1]
    assert (labelled[2 : 2 + band] > 200).sum() > 20  # white (antialiased) text drawn in the band
    # The frames sit below the band, unchanged.
    np.testing.assert_array_equal(labelled[2 + band : 2 + band + 8], plain[2 : 2 + 8])


def test_contact_sheet_accepts_grey_video() -> None:
    grey = numbered_video(3)[..., 0]
    assert contact_sheet([grey], columns=3).shape == (12, 38, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"videos": []}, "at least one video"),
        ({"videos": [np.zeros((2, 4, 4, 3), np.float32)]}, "video 0 must be"),
        ({"videos": [np.zeros((0, 4, 4, 3), np.uint8)]}, "no frames"),
        ({"videos": [np.zeros((2, 4, 4, 3), np.uint8)], "labels": ["a", "b"]}, "2 labels for 1 videos"),
        ({"videos": [np.zeros((2, 4, 4, 3), np.uint8)], "columns": 0}, "columns >= 1"),
    ],
)
def test_contact_sheet_rejects_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        contact_sheet(**kwargs)
    assert message in str(err.value)


def test_colorize_segmentation_fixed_palette() -> None:
    seg = np.array([[[0, 1, 2], [256, 1, 0]]], dtype=np.int32)
    rgb = colorize_segmentation(seg)
    assert rgb.shape == (1, 2, 3, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 0, 0] == 0).all() and (rgb[0, 1, 2] == 0).all()  # background black
    np.testing.assert_array_equal(rgb[0, 0, 1], rgb[0, 1, 1])  # same id, same colour
    np.testing.assert_array_equal(rgb[0, 1, 0], SEGMENTATION_PALETTE[1])  # 256 wraps to entry 1
    # Ids 1..255 all get distinct, non-black colours.
    colours = {tuple(c) for c in SEGMENTATION_PALETTE[1:]}
    assert len(colours) == 255 and (0, 0, 0) not in colours
    with pytest.raises(ConfigError, match="integer ids"):
        colorize_segmentation(np.zeros((1, 2, 2), np.float32))
    with pytest.raises(ConfigError, match=">= 0"):
        colorize_segmentation(np.full((1, 2, 2), -3))


def test_colorize_depth_near_bright_far_dark_invalid_black() -> None:
    depth = np.array([[[1.0, 2.0, 4.0, np.inf, 0.0, np.nan]]], dtype=np.float32)
    rgb = colorize_depth(depth)
    assert rgb.shape == (1, 1, 6, 3) and rgb.dtype == np.uint8
    brightness = rgb[0, 0].astype(int).sum(axis=-1)
    assert brightness[0] > brightness[1] > brightness[2] > 0
    assert (rgb[0, 0, 3:] == 0).all()  # inf, 0 and NaN: no hit
    np.testing.assert_array_equal(rgb[0, 0, 0], [253, 231, 37])  # viridis top (near)
    np.testing.assert_array_equal(rgb[0, 0, 2], [68, 1, 84])  # viridis bottom (far)
    # Linear in inverse depth: 1/2 m is a third of the way from 1/4 to 1/1, i.e. viridis anchor 8/3.
    expected = _viridis_at(1 / 3)
    np.testing.assert_array_equal(rgb[0, 0, 1], expected)


def _viridis_at(t: float) -> np.ndarray:
    from worldfm.video.visualize import _VIRIDIS

    pos = t * (len(_VIRIDIS) - 1)
    low = int(pos)
    return np.round(_VIRIDIS[low] * (1 - (pos - low)) + _VIRIDIS[low + 1] * (pos - low)).astype(np.uint8)


def test_colorize_depth_far_plane_does_not_squash_near_range() -> None:
    # A road from 5 to 50 m under a sky at 600 m keeps most of the colour range.
    depth = np.array([[[5.0, 50.0, 600.0]]])
    rgb = colorize_depth(depth).astype(int)
    assert np.abs(rgb[0, 0, 0] - rgb[0, 0, 1]).sum() > 200


def test_colorize_depth_fixed_scale_and_flat_depth() -> None:
    depth = np.full((2, 3, 3), 5.0)
    assert len({tuple(c) for c in colorize_depth(depth).reshape(-1, 3)}) == 1
    a = colorize_depth(np.array([[[1.0, 2.0]]]), near=1.0, far=4.0)
    b = colorize_depth(np.array([[[2.0, 4.0]]]), near=1.0, far=4.0)
    np.testing.assert_array_equal(a[0, 0, 1], b[0, 0, 0])  # same depth, same colour under a fixed scale
    with pytest.raises(ConfigError, match="0 < near <= far"):
        colorize_depth(depth, near=3.0, far=1.0)


def test_save_image_writes_png_atomically(tmp_path: Path) -> None:
    image = contact_sheet([numbered_video(3)], columns=3, labels=["clip"])
    path = save_image(tmp_path / "sheets" / "sheet.png", image)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert [p.name for p in path.parent.iterdir()] == ["sheet.png"]


def test_save_image_failure_leaves_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "sheet.png"
    target.write_bytes(b"old")
    with pytest.raises(ConfigError, match="uint8"):
        save_image(target, np.zeros((4, 4, 3), np.float32))
    with pytest.raises(VideoError, match=r"expected a \.png path"):
        save_image(tmp_path / "sheet.jpg", np.zeros((4, 4, 3), np.uint8))
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]
