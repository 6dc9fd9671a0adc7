"""A round trip through the real labelme (6.3.1): its LabelFile, its rasteriser, its canvas.

samlabel writes a sidecar with a ring (a polygon with a hole), a two-part object, a mask
shape, a rectangle and a plain polygon. In a subprocess (labelme loads PyQt5, samlabel
PySide6) ``tests/formats/labelme_side.py`` loads it with ``labelme.LabelFile``, rasterises
every object with ``labelme.utils.shapes_to_label`` / ``shape_to_mask``, drags every shape
on a real ``labelme.widgets.Canvas`` with the mouse, saves with ``LabelFile.save`` the way
the app does, and rasterises the saved file again. samlabel then reads both files and each
object's mask is compared with labelme's, before and after the move.

Conventions: samlabel's polygon and rectangle coordinates are pixel edges (pixel ``(i, j)``
is ``[j, j+1] x [i, i+1]``, set when its centre is inside), while labelme fills polygons and
rectangles with PIL's ``ImageDraw`` including the outline, i.e. treats vertices as pixel
centres: an axis-aligned ``n x n`` square is ``n x n`` pixels in samlabel and ``(n+1) x
(n+1)`` in labelme, an IoU of about ``1 - 2/n`` (slanted edges cost a little more). So the
objects here are 260+ pixels across, where that edge row and column leave IoU >= 0.99 (a
220-pixel pentagon scored 0.989, a 60-pixel square would score about 0.97 for the convention
alone), and every pixel where the two differ must lie within one pixel of samlabel's
outline: the convention, and nothing else, may separate them. Mask shapes share labelme's convention (box
``points`` are inclusive pixel indices) and match exactly. labelme has no holes: it shows
a polygon's ``points`` filled, so a polygon is compared by its outline there and its holes
are checked on the samlabel side (they must still be holes, moved with the outline).
"""

from __future__ import annotations

import importlib.util

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from samlabel.annotations import (
    AnnotationWarning,
    ImageAnnotation,
    PolygonWithHoles,
    Project,
    Shape,
    mask_iou,
    polygons_to_mask,
)

# labelme is never imported here: it loads PyQt5 and changes Pillow's process-wide size limit
# (labelme/_label_file.py sets MAX_IMAGE_PIXELS = None); labelme_side.py runs it in its own process.
# It is in the dev extra, so its absence is a set-up error, not a reason to skip.
assert importlib.util.find_spec("labelme") is not None, "the dev extra's labelme==6.3.1 is not installed"

H, W = 760, 1000
ZOOM = 1.5  # the canvas zoom the drag is made at (screen pixel = 2/3 image pixel)
GRAB = (510.0, 530.0)  # image pixel inside the rectangle, where the mouse grabs the selection
DRAG = (27, 20)  # screen pixels: image (18, 13.33...), a move labelme really makes at this zoom
LABELME_SIDE = Path(__file__).with_name("labelme_side.py")

RING_HOLE = [[140, 140], [240, 140], [240, 240], [140, 240]]
CAR_HOLE = [[460, 120], [560, 120], [560, 220], [460, 220]]


def _shapes() -> tuple[Shape, ...]:
    ring = Shape.polygon(
        "ring",
        [[100, 40], [280, 40], [340, 100], [340, 280], [280, 340], [100, 340], [40, 280], [40, 100]],
        holes=[RING_HOLE],
    )
    car = Shape.from_polygons(  # no group id: samlabel gives the parts one labelme can group by
        "car",
        [
            PolygonWithHoles([[380, 40], [640, 40], [640, 300], [380, 300]], (CAR_HOLE,)),
            PolygonWithHoles([[660, 40], [940, 60], [920, 300], [680, 280]]),
        ],
    )
    yy, xx = np.mgrid[:H, :W]
    d2 = (xx - 190) ** 2 + (yy - 540) ** 2
    dog = Shape.from_mask("dog", (d2 <= 130**2) & (d2 > 30**2), group_id=4)  # a disc with a hole
    bus = Shape.rectangle("bus", (380, 360), (640, 700), group_id=9)
    tree = Shape.polygon("tree", [[800, 360], [960, 460], [920, 700], [680, 700], [660, 460]])
    return ring, car, dog, bus, tree


def _load(project: Project, image: Path) -> ImageAnnotation:
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnnotationWarning)  # a labelme save must read back cleanly
        return project.load(image)


def _as_labelme_shows(shape: Shape) -> np.ndarray:
    """samlabel's mask of a shape, polygons by their outline (labelme draws no holes)."""
    if shape.kind == "polygon":
        return polygons_to_mask([PolygonWithHoles(p.exterior) for p in shape.polygons], H, W)
    return shape.to_mask(H, W)


def _off_the_edge(ours: np.ndarray, labelme: np.ndarray) -> int:
    """Pixels where samlabel and labelme differ more than one pixel away from samlabel's edge."""
    kernel = np.ones((3, 3), np.uint8)
    edge = cv2.dilate(ours.astype(np.uint8), kernel).astype(bool) & ~cv2.erode(ours.astype(np.uint8), kernel).astype(bool)
    return int(((ours ^ labelme) & ~edge).sum())


def _run_labelme(sidecar: Path, moved: Path, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_PLUGIN_PATH", "QT_QPA_PLATFORM_PLUGIN_PATH"))}
    env["QT_QPA_PLATFORM"] = "offscreen"
    args = [str(v) for v in (sidecar, moved, out, ZOOM, *GRAB, *DRAG)]
    proc = subprocess.run(
        [sys.executable, str(LABELME_SIDE), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"labelme side failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads((out / "summary.json").read_text())


def test_round_trip_through_real_labelme(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    image = root / "scene.png"
    Image.fromarray((np.random.default_rng(0).random((H, W, 3)) * 255).astype(np.uint8)).save(image)
    project = Project(root)
    sidecar = project.save(ImageAnnotation("scene.png", H, W, _shapes()))

    out = tmp_path / "labelme"
    out.mkdir()
    summary = _run_labelme(sidecar, root / "scene_moved.json", out)
    seen_before, seen_after = ({o["label"]: o for o in summary[k]} for k in ("before", "after"))
    labelme_before, labelme_after = (dict(np.load(out / f"{k}.npz")) for k in ("before", "after"))

    # the drag moved every shape by one offset (clamped to the image: it fits here)
    offset = np.array(DRAG) / ZOOM
    assert np.allclose(summary["offsets"], [offset] * len(summary["offsets"]), atol=1e-9), summary["offsets"]

    before = _load(project, image)
    shutil.copy(root / "scene_moved.json", sidecar)  # labelme's save is now the image's sidecar
    after = _load(project, image)
    moved_data = json.loads(sidecar.read_text())
    assert moved_data["version"] == summary["labelme"] == "6.3.1"

    # labelme sees one object per samlabel shape, each by its label
    labels = [s.label for s in _shapes()]
    assert [s.label for s in before.shapes] == [s.label for s in after.shapes] == labels
    assert list(seen_before) == list(seen_after) == labels

    rows, ious, off_edge = [], {}, {}
    for b, a in zip(before.shapes, after.shapes):
        ours_b, ours_a = _as_labelme_shows(b), _as_labelme_shows(a)
        iou_b, iou_a = mask_iou(ours_b, labelme_before[b.label]), mask_iou(ours_a, labelme_after[a.label])
        ious[b.label] = (iou_b, iou_a)
        off_edge[b.label] = (_off_the_edge(ours_b, labelme_before[b.label]), _off_the_edge(ours_a, labelme_after[a.label]))
        group = seen_after[a.label]["group_id"]
        holes = sum(len(p.holes) for p in a.polygons) if a.kind == "polygon" else 0
        shapes = len(seen_after[a.label]["shapes"])
        rows.append(f"{a.label:<6} {group!s:>5} {a.kind:<9} {shapes:>6} {holes:>5} {iou_b:>10.4f} {iou_a:>9.4f}")
    print("\nlabel  group kind      shapes holes IoU before IoU after   (polygons: outline vs labelme's fill)")
    print("\n".join(rows))
    assert all(min(pair) >= 0.99 for pair in ious.values()), ious
    assert all(pair == (0, 0) for pair in off_edge.values()), off_edge
    assert ious["dog"] == (1.0, 1.0)  # masks share labelme's convention: pixel for pixel

    # labelme keeps samlabel's keys per shape (in Shape.other_data) and writes them back
    kept = {o["label"]: [s["other_data"] for s in o["shapes"]] for o in summary["after"]}
    assert kept["ring"] == [["holes", "samlabel_fingerprint"]]
    assert kept["car"] == [["holes", "samlabel_fingerprint", "samlabel_part"], ["samlabel_part"]]
    assert kept["dog"] == [["rle", "samlabel_fingerprint"]]
    assert kept["bus"] == kept["tree"] == [[]]

    # labelme sees every part of the two-part object, as one object (one group id)
    for seen in (seen_before["car"], seen_after["car"]):
        parts = seen["shapes"]
        assert [p["shape_type"] for p in parts] == ["polygon", "polygon"] and seen["group_id"] is not None
        assert seen["pixels"] == sum(p["pixels"] for p in parts) and min(p["pixels"] for p in parts) > 30_000
    car = after.shapes[1]
    assert len(car.polygons) == 2 and car.group_id is None  # read back as one shape, as written
    for part, new in zip(before.shapes[1].polygons, car.polygons):
        assert np.allclose(new.exterior, part.exterior + offset, atol=1e-9)

    # holes are still holes after the move: moved with their outline, and empty in samlabel
    for shape, hole in ((after.shapes[0], RING_HOLE), (car, CAR_HOLE)):
        (moved_hole,) = shape.polygons[0].holes
        assert np.allclose(moved_hole, np.array(hole) + offset, atol=1e-9)
        inside = polygons_to_mask([PolygonWithHoles(moved_hole)], H, W)
        assert inside.sum() >= 99 * 99 and not (shape.to_mask(H, W) & inside).any()
        assert labelme_after[shape.label][inside].all()  # labelme shows it filled: it knows no holes
