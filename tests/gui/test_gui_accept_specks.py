"""Accepting a SAM mask removes its specks once (remove_specks in the accept step), keeps
every real region however small, and traces the clean mask without cleaning it again."""

from __future__ import annotations

import numpy as np

from samlabel.annotations import mask_tracing
from samlabel.annotations.geometry import polygons_to_mask

H, W = 160, 240  # a.png of the image_folder fixture


def _speckled_mask() -> tuple[np.ndarray, np.ndarray]:
    """``(what SAM gives, what the accepted shape must cover)`` in image pixels, all inside
    the box the BlobSession's disc around (120, 80) makes the accept step upscale."""
    m = np.zeros((H, W), bool)
    m[60:100, 100:140] = True  # the object, 1600 px: the speck limit is max(9, 0.2 % of it) = 9 px
    m[70, 110] = False  # a pin-hole: filled
    m[85:88, 125:128] = False  # a 9 px hole: real, kept
    m[103:106, 130:133] = True  # a 9 px island: a real small region, kept
    expected = m.copy()
    expected[70, 110] = True
    m[56, 96] = True  # specks: 1 px, 4 px and 8 px islands, dropped
    m[102:104, 96:98] = True
    m[56:58, 130:134] = True
    return m, expected


def test_accepting_drops_specks_once_and_keeps_small_real_regions(qtbot, make_window, image_folder, tiny_model, monkeypatch):
    from samlabel.sam.interactive import Prediction

    from .fakes import BlobSession

    speckled, expected = _speckled_mask()
    real_mask = Prediction.mask

    def mask(self, index=None, region=None, out_size=None):
        if region is None or out_size is not None:  # the hover display: as it is
            return real_mask(self, index, region, out_size)
        x0, y0, x1, y1 = region  # the accept step's full-resolution crop
        return speckled[y0:y1, x0:x1].copy()

    cleanings = []
    real_despeckle = mask_tracing.despeckle

    def despeckle(binary, min_area):
        if min_area > 1:  # at min_area <= 1 it only numbers the components
            cleanings.append(min_area)
        return real_despeckle(binary, min_area)

    win = make_window(image_folder / "a.png", before_model=lambda w: setattr(w, "decoder_session_factory", BlobSession),
                      sam_model=tiny_model)
    win.simplify_tolerance = 0.0  # exact polygons: compared pixel for pixel
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)
    with qtbot.waitSignal(win.predictionShown, timeout=20000):
        win.prompt_points([(120, 80)], [1])
    monkeypatch.setattr(Prediction, "mask", mask)
    monkeypatch.setattr(mask_tracing, "despeckle", despeckle)
    assert win.accept()
    (shape,) = win.document.shapes
    assert len(shape.polygons) == 2  # the object (with its hole) and the small island; no speck
    np.testing.assert_array_equal(polygons_to_mask(shape.polygons, H, W), expected)
    assert cleanings == [9]  # one speck removal, with the accepted mask's limit
