"""The frames of a video for SAM 2's video predictors: a folder of JPEG frames decoded on first
use into the reference's normalised ``(3, S, S)`` float32 tensors (the same pixels as the
reference's ``load_video_frames``, which decodes every frame at ``init_state``), a few kept;
and the reference's hole filling of the low-resolution mask scores, done with OpenCV.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from PIL import Image

__all__ = ["VideoFrames", "fill_holes_in_mask_scores", "jpeg_frame_paths", "load_video_frames"]

IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)
_JPEG_SUFFIXES = (".jpg", ".jpeg", ".JPG", ".JPEG")


def _load_img_as_tensor(img_path: Union[str, Path], image_size: int) -> tuple[torch.Tensor, int, int]:
    """``(3, S, S)`` float64 in [0, 1] (PIL's bilinear resize, as the reference), height, width."""
    with Image.open(img_path) as img_pil:
        img_np = np.array(img_pil.convert("RGB").resize((image_size, image_size)))
        video_width, video_height = img_pil.size
    if img_np.dtype != np.uint8:
        raise RuntimeError(f"Unknown image dtype: {img_np.dtype} on {img_path}")
    img = torch.from_numpy(img_np / 255.0).permute(2, 0, 1)
    return img, video_height, video_width


def jpeg_frame_paths(video_path: Union[str, Path]) -> list[str]:
    """The JPEG files of a frame folder, sorted by the integer of their names (``00012.jpg``)."""
    names = [p for p in os.listdir(video_path) if os.path.splitext(p)[-1] in _JPEG_SUFFIXES]
    try:
        names.sort(key=lambda p: int(os.path.splitext(p)[0]))
    except ValueError as exc:
        raise RuntimeError(f"frame files in {video_path} must be named by their index (00000.jpg ...): {exc}") from exc
    if not names:
        raise RuntimeError(f"no images found in {video_path}")
    return [os.path.join(video_path, n) for n in names]


class VideoFrames:
    """The frames of a JPEG folder as normalised ``(3, S, S)`` float32 tensors, decoded on first
    access (the reference's ``load_video_frames`` numbers: PIL resize, /255, ImageNet mean/std).
    Keeps at most ``cache_size`` decoded frames (all of them with ``cache_size=None``)."""

    def __init__(self, img_paths: list, image_size: int, device: Union[str, torch.device] = "cpu",
                 cache_size: Optional[int] = 8) -> None:
        self.img_paths = list(img_paths)
        self.image_size = image_size
        self.device = torch.device(device)
        self.cache_size = cache_size
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self.img_mean = torch.tensor(IMG_MEAN, dtype=torch.float32)[:, None, None]
        self.img_std = torch.tensor(IMG_STD, dtype=torch.float32)[:, None, None]
        with Image.open(self.img_paths[0]) as first:
            self.video_width, self.video_height = first.size

    def __len__(self) -> int:
        return len(self.img_paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        if index < 0:
            index += len(self)
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        img, h, w = _load_img_as_tensor(self.img_paths[index], self.image_size)
        if (h, w) != (self.video_height, self.video_width):
            raise RuntimeError(f"frame {self.img_paths[index]} is {w}x{h}, the first frame {self.video_width}x{self.video_height}")
        img = img.to(torch.float32)
        img -= self.img_mean
        img /= self.img_std
        img = img.to(self.device)
        self._cache[index] = img
        if self.cache_size is not None and len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return img


def load_video_frames(video_path: Union[str, Path], image_size: int, offload_video_to_cpu: bool = False,
                      compute_device: Union[str, torch.device] = "cpu") -> tuple[VideoFrames, int, int]:
    """``(frames, video_height, video_width)`` for a folder of JPEG frames (lazily decoded)."""
    if not (isinstance(video_path, (str, Path)) and os.path.isdir(video_path)):
        raise NotImplementedError(
            "Only a folder of JPEG frames is supported; extract them with e.g. "
            "ffmpeg -i <video>.mp4 -q:v 2 -start_number 0 <output_dir>/'%05d.jpg'"
        )
    device = torch.device("cpu") if offload_video_to_cpu else torch.device(compute_device)
    frames = VideoFrames(jpeg_frame_paths(video_path), image_size, device=device)
    return frames, frames.video_height, frames.video_width


def fill_holes_in_mask_scores(mask: torch.Tensor, max_area: int) -> torch.Tensor:
    """Set the background components (scores <= 0, 8-connected) of at most ``max_area`` pixels of
    each ``(N, 1, H, W)`` mask to 0.1 (foreground): the reference's post-processing, with OpenCV."""
    from samlabel.sam.sam2.transforms import get_connected_components

    assert max_area > 0, "max_area must be positive"
    labels, areas = get_connected_components(mask <= 0)
    is_hole = (labels > 0) & (areas <= max_area)
    return torch.where(is_hole, 0.1, mask)
