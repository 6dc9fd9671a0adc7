"""The labelme half of tests/formats/test_fmt_labelme_real.py, run in a subprocess.

labelme 6.3.1 loads PyQt5, which must not share a process with samlabel's PySide6, so the
test runs this script with its own interpreter. Everything here is labelme's own code:

1. ``labelme.LabelFile`` loads the sidecar samlabel wrote; every object (shapes sharing
   ``(label, group_id)``; a shape without a group id is an object of its own, as in
   ``labelme.utils.shapes_to_label``) is rasterised by ``shapes_to_label`` (which calls
   ``shape_to_mask`` for polygons and rectangles and places a mask shape's ``mask`` in its
   ``points`` box) and written to ``before.npz``;
2. the shapes are built the way the labelme app builds them (``labelme.app._shapes_from_dicts``,
   which keeps every key labelme does not know in ``Shape.other_data``), loaded into a real
   ``labelme.widgets.Canvas`` at a zoom, all selected with Ctrl+A and dragged with the
   mouse (hover, press, moves, release: ``Canvas._drag_shapes`` -> ``Shape.translate``);
3. saved the way the app saves (``labelme.app._shape_to_dict`` per shape, then
   ``LabelFile.save`` with the file's top-level ``other_data`` and flags) and rasterised
   again from the saved file into ``after.npz``.

``summary.json`` says what labelme saw: per object its shapes (type, pixel count of each
shape alone, the keys it kept in ``other_data``) and the offset the drag applied.

Usage: python labelme_side.py SIDECAR MOVED_SIDECAR OUT_DIR ZOOM GRAB_X GRAB_Y DRAG_X DRAG_Y
(``GRAB`` in image pixels, inside a shape; ``DRAG`` in screen pixels, made in 3 mouse moves).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import labelme
from labelme import utils
from labelme._label_file import LabelFile
from labelme.app import _shape_to_dict, _shapes_from_dicts
from labelme.widgets import Canvas
from PyQt5 import QtCore, QtGui, QtWidgets
from PyQt5.QtCore import QEvent, QPointF, Qt


def objects(shapes: list[dict], height: int, width: int) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Each object's mask as labelme rasterises it, keyed by label (labels are unique
    per object in the test's file), and what labelme saw of it."""
    grouped: dict[tuple, list[dict]] = {}
    for index, shape in enumerate(shapes):
        gid = shape["group_id"]
        grouped.setdefault((shape["label"], gid if gid is not None else f"#{index}"), []).append(shape)
    masks: dict[str, np.ndarray] = {}
    seen: list[dict] = []
    for (label, _), members in grouped.items():
        if label in masks:
            raise SystemExit(f"two labelme objects with the label {label!r}: the test expects one each")
        cls, _ins = utils.shapes_to_label((height, width), members, {"_background_": 0, label: 1})
        masks[label] = cls == 1
        seen.append(
            {
                "label": label,
                "group_id": members[0]["group_id"],
                "pixels": int(masks[label].sum()),
                "shapes": [
                    {
                        "shape_type": s["shape_type"],
                        "pixels": int((utils.shapes_to_label((height, width), [s], {label: 1})[0] == 1).sum()),
                        "other_data": sorted(s["other_data"]),
                        "first_point": [float(v) for v in s["points"][0]],
                    }
                    for s in members
                ],
            }
        )
    return masks, seen


def mouse(canvas: Canvas, kind: QEvent.Type, image_xy: tuple[float, float], buttons) -> None:
    """A mouse event at an image point, in the canvas' widget coordinates."""
    widget = QPointF(image_xy[0] * canvas.scale, image_xy[1] * canvas.scale)
    button = Qt.LeftButton if kind in (QEvent.MouseButtonPress, QEvent.MouseButtonRelease) else Qt.NoButton
    event = QtGui.QMouseEvent(kind, widget, button, buttons, Qt.NoModifier)
    {QEvent.MouseMove: canvas.mouseMoveEvent, QEvent.MouseButtonPress: canvas.mousePressEvent,
     QEvent.MouseButtonRelease: canvas.mouseReleaseEvent}[kind](event)  # fmt: skip


def drag_all(canvas: Canvas, zoom: float, grab: tuple[float, float], drag: tuple[float, float]) -> None:
    """Select every shape (Ctrl+A) and drag them with the left button from ``grab``."""
    canvas.scale = zoom
    canvas.resize(round(canvas.pixmap.width() * zoom), round(canvas.pixmap.height() * zoom))

    def selected(shapes):  # what labelme's app does on selection_changed
        for s in canvas.selected_shapes:
            s.selected = False
        canvas.selected_shapes = shapes
        for s in shapes:
            s.selected = True

    canvas.selection_changed.connect(selected)
    canvas.keyPressEvent(QtGui.QKeyEvent(QEvent.KeyPress, Qt.Key_A, Qt.ControlModifier, "a"))
    assert len(canvas.selected_shapes) == len(canvas.shapes), "Ctrl+A did not select every shape"
    mouse(canvas, QEvent.MouseMove, grab, Qt.NoButton)  # hover
    assert canvas.hovered_shape is not None, f"nothing under the grab point {grab}"
    mouse(canvas, QEvent.MouseButtonPress, grab, Qt.LeftButton)
    for step in (1, 2, 3):  # screen pixels -> image pixels at this zoom
        at = (grab[0] + drag[0] * step / 3 / zoom, grab[1] + drag[1] * step / 3 / zoom)
        mouse(canvas, QEvent.MouseMove, at, Qt.LeftButton)
    mouse(canvas, QEvent.MouseButtonRelease, at, Qt.NoButton)


def main(argv: list[str]) -> None:
    src, moved, out = argv[0], argv[1], Path(argv[2])
    zoom, gx, gy, dx, dy = (float(v) for v in argv[3:8])
    label_file = LabelFile(src)
    height, width = utils.img_data_to_arr(label_file.image_data).shape[:2]
    before, seen_before = objects(label_file.shapes, height, width)
    np.savez_compressed(out / "before.npz", **before)

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    canvas = Canvas()
    canvas.load_pixmap(QtGui.QPixmap.fromImage(QtGui.QImage.fromData(label_file.image_data)))
    canvas.load_shapes(_shapes_from_dicts(shape_dicts=label_file.shapes, label_flags=None))
    first = [QPointF(s.points[0]) for s in canvas.shapes]
    drag_all(canvas, zoom, (gx, gy), (dx, dy))
    offsets = [[s.points[0].x() - p.x(), s.points[0].y() - p.y()] for s, p in zip(canvas.shapes, first)]
    LabelFile().save(
        moved,
        shapes=[_shape_to_dict(s) for s in canvas.shapes],
        image_path=label_file.image_path,
        image_height=height,
        image_width=width,
        image_data=None,  # labelme's default (with_image_data: false)
        other_data=label_file.other_data,
        flags=label_file.flags,
    )
    app.processEvents()

    after, seen_after = objects(LabelFile(moved).shapes, height, width)
    np.savez_compressed(out / "after.npz", **after)
    summary = {
        "labelme": labelme.__version__,
        "qt": QtCore.QT_VERSION_STR,
        "before": seen_before,
        "after": seen_after,
        "offsets": offsets,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
