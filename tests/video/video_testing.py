"""Helpers of the video tests: tiny sequences (5 frames of 96x72, a red square moving right and
a blue disc moving down; one frame labelled: the square as ``car`` group 1 in two polygons,
the disc as ``ball``) and a small mp4/avi written with OpenCV."""

from __future__ import annotations

import numpy as np
from PIL import Image

from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.project import Project
from samlabel.annotations.shapes import Shape

NUM_FRAMES = 5
FRAME_HW = (72, 96)


def frame_pixels(i: int) -> np.ndarray:
    h, w = FRAME_HW
    img = np.full((h, w, 3), 200, np.uint8)
    img[10 + 2 * i: 30 + 2 * i, 8 + 6 * i: 28 + 6 * i] = (220, 30, 30)
    yy, xx = np.mgrid[:h, :w]
    img[(yy - 40 - 4 * i) ** 2 + (xx - 70) ** 2 < 81] = (30, 30, 200)
    return img


def source_annotation(name: str = "frame_000000.jpg") -> ImageAnnotation:
    h, w = FRAME_HW
    left = Shape.polygon("car", [[8, 10], [18, 10], [18, 30], [8, 30]], group_id=1)
    right = Shape.polygon("car", [[18, 10], [28, 10], [28, 30], [18, 30]], group_id=1)
    ball = Shape.polygon("ball", [[61, 31], [79, 31], [79, 49], [61, 49]])
    return ImageAnnotation(name, h, w, shapes=(left, right, ball))


def make_sequence(folder, n: int = NUM_FRAMES, labelled: int = 0, suffix: str = "jpg"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(frame_pixels(i)).save(folder / f"frame_{i:06d}.{suffix}", quality=95)
    if labelled is not None:
        project = Project(folder)
        image = project.images[labelled]
        project.save(source_annotation(image.name), image)
    return folder


def write_video(folder, n: int = NUM_FRAMES):
    """A small video of the sequence's frames written with OpenCV: an mp4 ('mp4v'), else an avi
    ('MJPG'); None when this OpenCV can write neither."""
    import cv2

    h, w = FRAME_HW
    folder.mkdir(parents=True, exist_ok=True)
    for name, fourcc in (("clip.mp4", "mp4v"), ("clip.avi", "MJPG")):
        path = folder / name
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (w, h))
        if not writer.isOpened():
            writer.release()
            continue
        for i in range(n):
            writer.write(cv2.cvtColor(frame_pixels(i), cv2.COLOR_RGB2BGR))
        writer.release()
        capture = cv2.VideoCapture(str(path))
        ok, _ = capture.read()
        capture.release()
        if ok:
            return path
    return None
