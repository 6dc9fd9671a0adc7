"""The real main window, offscreen, with a small random SAM 2.1 model: hover, clicks, a box,
Tab through candidates, accepting a mask, segment-everything and the status bar's model name.

The model has ``sam2.1_hiera_tiny``'s registry entry with a shrunk trunk and neck (random
weights), so the window sees a SAM 2.1 model id and runs SAM 2's encoder, high-resolution
maps and decoder end to end.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from samlabel.gui.tools import Tool


@pytest.fixture(scope="module")
def sam2_model():
    import torch

    from samlabel.sam.modeling.sam2.build import build_sam2_model
    from samlabel.sam.modeling.sam2.config import SAM2_CONFIGS, FpnConfig, HieraConfig

    trunk = HieraConfig(embed_dim=16, num_heads=2, stages=(1, 2, 3, 1), global_att_blocks=(4,),
                        window_pos_embed_bkg_spatial_size=(7, 7))
    config = dataclasses.replace(SAM2_CONFIGS["sam2.1_hiera_tiny"], trunk=trunk, neck=FpnConfig(d_model=32))
    torch.manual_seed(3)
    model = build_sam2_model(config)
    with torch.no_grad():  # off the init constants, so masks vary with the prompt
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    model.model_id = "sam2.1_hiera_tiny:random-test"
    return model.eval()


def vp(win, x: float, y: float) -> QPoint:
    return win.canvas.mapFromScene(QPointF(x, y))


def test_sam2_model_in_the_window(qtbot, make_window, image_folder, sam2_model):
    from samlabel.sam.interactive import DecoderSession

    win = make_window(image_folder / "a.png", sam_model=sam2_model)
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)
    assert win.tool is Tool.SAM
    assert win._model_status.text().startswith("Model: SAM 2.1 Hiera tiny (")
    # hover: an overlay for the whole visible image
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as blocker:
        qtbot.mouseMove(win.canvas.viewport(), vp(win, 120, 80))
    hovered = blocker.args[0]
    assert hovered.request.prompt.is_hover and hovered.prediction.stretched
    assert win.canvas.mask_item.has_mask
    assert win.canvas.mask_item.mask.shape == hovered.mask.shape
    # the overlay equals SAM 2's own upscaling of that candidate (sampled at the shown pixels)
    assert len(hovered.request.embedding.high_res_features) == 2
    pred = DecoderSession(sam2_model, hovered.request.embedding).decode(_prompt_of(hovered.request.prompt))
    x0, y0, x1, y1 = hovered.request.region
    exact = pred.mask(hovered.index, region=(x0, y0, x1, y1), out_size=hovered.mask.shape)
    assert (exact != hovered.mask).mean() < 0.02
    # a click: three candidates; Tab shows the next one, re-rendered without decoding again
    view = win.canvas.viewport()
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as blocker:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=vp(win, 100, 70))
    clicked = blocker.args[0]
    assert len(clicked.prediction.scores) == 3
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as blocker:
        qtbot.keyClick(win.canvas, Qt.Key.Key_Tab)
    assert blocker.args[0].index == (clicked.index + 1) % 3 and blocker.args[0].prediction is clicked.prediction
    # a box drag refines it (the previous logits are the mask prompt)
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as blocker:
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=vp(win, 50, 30))
        qtbot.mouseMove(view, vp(win, 120, 90))
        qtbot.mouseMove(view, vp(win, 190, 130))
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=vp(win, 190, 130))
    boxed = blocker.args[0]
    assert np.allclose(boxed.request.prompt.box, (50, 30, 190, 130), atol=1.0)
    assert boxed.request.prompt.mask_input is not None and win.canvas.mask_item.has_mask
    # accept: a polygon in the document
    assert boxed.mask.any()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(win.document.shapes) == 1, timeout=20000)
    assert win.document.shapes[0].kind == "polygon"


def _prompt_of(snapshot):
    from samlabel.sam.interactive import Prompt

    return Prompt(points=snapshot.points, labels=snapshot.labels, box=snapshot.box, mask_input=snapshot.mask_input,
                  multimask=snapshot.multimask)


def test_sam2_segment_everything(qtbot, make_window, image_folder, sam2_model):
    win = make_window(image_folder / "a.png", sam_model=sam2_model)
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)
    win.actions_by_id["segment_everything"].trigger()
    dialog = win._segment_dialog
    dialog.points_spin.setValue(dialog.points_spin.minimum())
    for spin in (dialog.iou_spin, dialog.stability_spin, dialog.area_spin):
        spin.setValue(0)
    with qtbot.waitSignal(dialog.proposalsReady, timeout=120000) as blocker:
        dialog.start()
    proposals = blocker.args[0]
    assert proposals.image_key == str(win.image_path)
    assert len(proposals) > 0  # no filters: a random SAM 2 model still proposes masks


def test_segment_everything_dialog_starts_from_the_family_default(qtbot, sam2_model):
    from samlabel.gui.dialogs.segment_everything import SegmentEverythingDialog
    from samlabel.sam.build import build_sam

    image = np.zeros((40, 60, 3), np.uint8)
    sam2_dialog = SegmentEverythingDialog(image, model=sam2_model)
    sam1_dialog = SegmentEverythingDialog(image, model=build_sam("test_tiny"))
    qtbot.addWidget(sam2_dialog)
    qtbot.addWidget(sam1_dialog)
    assert sam2_dialog.iou_spin.value() == pytest.approx(0.8)
    assert sam1_dialog.iou_spin.value() == pytest.approx(0.88)
