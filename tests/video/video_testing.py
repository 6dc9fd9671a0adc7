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


def small_video_predictor():
    """The video tests' small random SAM 2.1 video predictor: Hiera of width 16, a 256 px input,
    memory modules of width 32 / 16, seeded random weights, the object-score bias shifted by +1
    so that objects are kept (the random model scores them about -0.1 on tracked frames, "lost";
    shifted, their masks are a few hundred pixels, so frames get shapes)."""
    import warnings
    from dataclasses import replace

    import torch

    from samlabel.sam.modeling.sam2.config import (
        SAM2_VIDEO_CONFIG_21,
        FpnConfig,
        HieraConfig,
        MemoryAttentionConfig,
        MemoryEncoderConfig,
        Sam2Config,
    )
    from samlabel.sam.video.sam2_video_predictor import build_sam_video_predictor

    trunk = HieraConfig(embed_dim=16, num_heads=2, stages=(1, 2, 3, 1), global_att_blocks=(4,),
                        window_pos_embed_bkg_spatial_size=(7, 7))
    config = Sam2Config(name="test_video_small", trunk=trunk, neck=FpnConfig(d_model=32), image_size=256)
    video = replace(SAM2_VIDEO_CONFIG_21, memory_attention=MemoryAttentionConfig(num_layers=2, dim_feedforward=64),
                    memory_encoder=MemoryEncoderConfig(out_dim=16))
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor = build_sam_video_predictor(config, video_config=video)
    with torch.no_grad():
        predictor.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.add_(1.0)
    return predictor
