"""Image loading: EXIF orientation, grayscale, 16-bit, alpha, very large images."""

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations.image_source import ImageLoadError, from_array, load_image


def _save(tmp_path, name, img, **kw):
    path = tmp_path / name
    img.save(path, **kw)
    return path


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :10] = (255, 0, 0)  # red band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = _save(tmp_path, "rot.jpg", Image.fromarray(arr), exif=exif, quality=95)
    src = load_image(path)
    assert src.size == (20, 40)  # (w, h): width and height swapped
    top = src.rgb[:5].reshape(-1, 3).mean(axis=0)
    assert top[0] > 200 and top[1] < 60  # the left band is now on top


def test_grayscale_becomes_rgb(tmp_path):
    arr = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (8, 1))
    src = load_image(_save(tmp_path, "g.png", Image.fromarray(arr, "L")))
    assert src.rgb.shape == (8, 25, 3) and src.rgb.dtype == np.uint8
    assert np.array_equal(src.rgb[..., 0], arr) and np.array_equal(src.rgb[..., 2], arr)


def test_16bit_is_stretched_to_full_range(tmp_path):
    arr = np.linspace(1000, 5000, 64, dtype=np.uint16).reshape(8, 8)
    src = load_image(_save(tmp_path, "d.png", Image.fromarray(arr)))
    assert src.rgb.dtype == np.uint8
    assert src.rgb.min() == 0 and src.rgb.max() == 255
    assert np.all(np.diff(src.rgb[..., 0].ravel().astype(int)) >= 0)  # order kept


def test_alpha_is_composited_over_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:2, :, 3] = 255  # opaque top half, transparent bottom half
    src = load_image(_save(tmp_path, "a.png", Image.fromarray(rgba, "RGBA")))
    assert src.rgb[0, 0].tolist() == [200, 0, 0]
    assert src.rgb[3, 3].tolist() == [255, 255, 255]


def test_content_hash_depends_on_content_not_name(tmp_path):
    img = Image.fromarray(np.full((5, 5, 3), 7, np.uint8))
    a = load_image(_save(tmp_path, "a.png", img))
    b = load_image(_save(tmp_path, "b.png", img))
    c = load_image(_save(tmp_path, "c.png", Image.fromarray(np.full((5, 5, 3), 8, np.uint8))))
    assert a.content_hash == b.content_hash != c.content_hash


def test_broken_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageLoadError, match="broken.jpg"):
        load_image(bad)
    with pytest.raises(ImageLoadError, match="missing.png"):
        load_image(tmp_path / "missing.png")


def test_very_large_image_displays_on_the_canvas(qtbot):
    """8000x6000 goes straight from numpy to a pixmap: no QImageReader allocation limit."""
    from samlabel.gui.canvas import Canvas

    rgb = np.zeros((6000, 8000, 3), np.uint8)
    rgb[-1, -1] = (255, 255, 255)
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.set_image(rgb)
    assert canvas.image_size == (8000, 6000)
    pm = canvas.pixmap()
    assert (pm.width(), pm.height()) == (8000, 6000)
    assert pm.toImage().pixelColor(7999, 5999).red() == 255


def test_from_array_validates():
    with pytest.raises(ValueError, match="uint8"):
        from_array(np.zeros((4, 4), np.uint8))
    assert from_array(np.zeros((4, 4, 3), np.uint8)).size == (4, 4)


def test_the_gui_uses_the_one_image_extension_list_and_the_app_conversion_rule():
    from samlabel.annotations.project import IMAGE_EXTENSIONS
    from samlabel.annotations import image_source
    from samlabel.sam.image_input import pil_to_rgb_uint8

    assert image_source.IMAGE_SUFFIXES is IMAGE_EXTENSIONS
    assert image_source.to_rgb_uint8 is pil_to_rgb_uint8
