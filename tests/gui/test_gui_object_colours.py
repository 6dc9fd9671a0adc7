"""One colour per object: grouped shapes (a label plus a group id) in their object's colour,
the same on every frame; ungrouped ones in their label's colour; View > Colour shapes by
object (Ctrl+Shift+C) switches back to label colours, remembered in the settings."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.shapes import Shape
from samlabel.annotations.sidecar import write_sidecar
from samlabel.gui.settings import AppSettings

H, W = 200, 300


def square(x, y, s=30):
    return [[x, y], [x + s, y], [x + s, y + s], [x, y + s]]


def frames(tmp_path):
    """Two frames with the same objects: car #1, car #2 and an ungrouped car."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        name = f"frame_{i:06d}.png"
        Image.fromarray(np.full((H, W, 3), 120, np.uint8)).save(tmp_path / name)
        shapes = (Shape.polygon("car", square(10 + 5 * i, 10), group_id=1),
                  Shape.polygon("car", square(100 + 5 * i, 10), group_id=2),
                  Shape.polygon("car", square(200, 100)))
        write_sidecar(tmp_path / f"frame_{i:06d}.json", ImageAnnotation(name, H, W, shapes))
    return tmp_path


def colours(win) -> list[tuple[int, int, int]]:
    out = []
    for uid in win.layer.order:
        c = win.layer.item(uid).draw_brush.color()
        out.append((c.red(), c.green(), c.blue()))
    return out


def swatches(win) -> list[tuple[int, int, int]]:
    """The shapes dock's swatch colour of each row (the centre pixel of its icon)."""
    out = []
    for row in range(win.shapes_dock.list.count()):
        image = win.shapes_dock.list.item(row).icon().pixmap(16, 16).toImage()
        c = image.pixelColor(8, 8)
        out.append((c.red(), c.green(), c.blue()))
    return out


def test_grouped_shapes_get_their_objects_colour_on_every_frame_and_the_switch_is_remembered(
        qtbot, make_window, tmp_path):
    folder = frames(tmp_path / "seq")
    win = make_window(folder / "frame_000000.png", image_in_folder=True)
    qtbot.waitUntil(lambda: win.document is not None and len(win.layer.order) == 3, timeout=10000)
    label = tuple(win.labels.color_of("car"))
    first = colours(win)
    one, two, ungrouped = first
    assert ungrouped == label  # a shape without a group id keeps its label's colour
    assert len({one, two, label}) == 3  # the two cars differ from each other and from the label
    win.next_image()
    qtbot.waitUntil(lambda: win.image_path is not None and win.image_path.name == "frame_000001.png" and win.document is not None
                    and len(win.layer.order) == 3, timeout=10000)
    assert colours(win) == first  # the same object, the same colour, on the next frame
    assert swatches(win) == first  # the shapes dock shows each row in the colour the canvas draws it
    # View > Colour shapes by object, off: every car in the label's colour
    qtbot.keyClick(win, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: colours(win) == [label] * 3, timeout=5000)
    assert swatches(win) == [label] * 3
    assert not win.actions_by_id["object_colours"].isChecked()
    assert AppSettings(tmp_path / "settings.ini").object_colours is False
    win.actions_by_id["object_colours"].trigger()
    qtbot.waitUntil(lambda: colours(win) == first, timeout=5000)
    assert swatches(win) == first
    assert AppSettings(tmp_path / "settings.ini").object_colours is True
