"""tfimm's ``SegmentAnythingModel`` interface over samlabel's ``Sam`` and its decoder path.

    model = SegmentAnythingModel(SegmentAnythingModelConfig.from_name("sam_vit_b"), checkpoint="sam_vit_b_01ec64.pth")
    masks, scores, logits = model({"images": x, "points": p, "labels": l}, multimask_output=True)

``images`` are ``(N, H, W, C)`` channels-last, already normalised and padded to the model's
input (tfimm's "preprocessed" images); prompts are in input-frame pixels: ``points (N, M1, 2)``,
``labels (N, M1)``, ``boxes (N, M2, 4)``, ``masks (N, M3, H', W')`` with M2, M3 in {0, 1}
(Meta's model takes at most one box and one mask per prompt; tfimm's docstring notes the
same limit of the PyTorch original). Missing keys are empty prompts. Returns masks
``(N, K, H, W)`` upscaled to the input size (bool, or logits with ``return_logits``),
scores ``(N, K)`` and low-res logits ``(N, K, H', W')``: numpy for numpy images, torch for
torch. The encoder runs through ``compute_path.encode_image``, the decoder through
``compute_path.decoder_for``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from samlabel.sam.compat.tfimm_config import SegmentAnythingModelConfig
from samlabel.sam.compute_path import decoder_for, encode_image, resolve_path
from samlabel.sam.sam1.resizer import upscale_full

PathLike = Union[str, Path]
INPUT_KEYS = ("images", "points", "labels", "boxes", "masks")


class SegmentAnythingModel(nn.Module):
    """tfimm's SAM: ``cfg``, ``grid_size``, ``mask_size``, ``mask_threshold``, ``dummy_inputs``, call.

    Arguments: ``cfg`` (a :class:`SegmentAnythingModelConfig`), ``checkpoint`` (Meta's ``.pth`` or
    Hugging Face weights, loaded strictly by ``build_sam``), ``sam`` (an already built samlabel
    ``Sam`` instead), ``path`` (``"fast"``/``"plain"``, ``samlabel.sam.compute_path``).
    """

    def __init__(
        self,
        cfg: Optional[SegmentAnythingModelConfig] = None,
        checkpoint: Optional[PathLike] = None,
        sam: Optional[nn.Module] = None,
        path: Optional[str] = None,
    ) -> None:
        super().__init__()
        if sam is None:
            if cfg is None:
                raise ValueError("give a SegmentAnythingModelConfig (cfg) or a samlabel model (sam)")
            from samlabel.sam.build import build_sam

            sam = build_sam(cfg.to_sam_config(), checkpoint=checkpoint)
        elif checkpoint is not None:
            raise ValueError("checkpoint is for building from cfg; load it into the samlabel model instead")
        self.sam = sam
        self.cfg = cfg if cfg is not None else SegmentAnythingModelConfig.from_sam_config(sam.config)
        self.path = resolve_path(path)

    @classmethod
    def from_sam(cls, sam: nn.Module, path: Optional[str] = None) -> "SegmentAnythingModel":
        """Wrap an existing samlabel ``Sam`` (``build_sam(...)``)."""
        return cls(sam=sam, path=path)

    # ------------------------------------------------------------------ geometry
    @property
    def input_size(self) -> Tuple[int, int]:
        s = int(self.sam.config.input_size)
        return (s, s)

    def grid_size(self, input_size: Optional[Tuple[int, int]] = None) -> Tuple[int, int]:
        """Embedding grid ``(H'', W'')`` for an input of ``input_size`` (default: the config's)."""
        h, w = input_size or self.cfg.input_size
        return int(h) // self.cfg.encoder_patch_size, int(w) // self.cfg.encoder_patch_size

    def mask_size(self, input_size: Optional[Tuple[int, int]] = None) -> Tuple[int, int]:
        """Low-res mask size ``(H', W')`` = 4 x the grid (256 x 256 for 1024 inputs)."""
        h, w = self.grid_size(input_size)
        return 4 * h, 4 * w

    @property
    def mask_threshold(self) -> float:
        return float(self.cfg.mask_threshold)

    @property
    def dummy_inputs(self) -> dict[str, np.ndarray]:
        """Zero inputs of the right shapes, one image with one point, box and mask."""
        return {
            "images": np.zeros((1, *self.cfg.input_size, self.cfg.in_channels), np.float32),
            "points": np.zeros((1, 1, 2), np.float32),
            "labels": np.zeros((1, 1), np.int32),
            "boxes": np.zeros((1, 1, 4), np.float32),
            "masks": np.zeros((1, 1, *self.mask_size()), np.float32),
        }

    # ------------------------------------------------------------------ call
    @torch.no_grad()
    def forward(
        self,
        inputs: Mapping[str, Any],
        training: bool = False,
        multimask_output: bool = False,
        return_logits: bool = False,
    ):
        """Masks end to end; see the module docstring for shapes."""
        if training:
            raise ValueError("training=True is not supported: samlabel's SAM runs inference only")
        if not isinstance(inputs, Mapping) or "images" not in inputs:
            raise ValueError(f"inputs must be a dict with 'images' and optional {INPUT_KEYS[1:]}")
        unknown = sorted(set(inputs) - set(INPUT_KEYS))
        if unknown:
            raise ValueError(f"unknown input keys {unknown}; expected {INPUT_KEYS}")
        images = inputs["images"]
        as_numpy = not isinstance(images, torch.Tensor)
        x = torch.as_tensor(np.asarray(images) if as_numpy else images)
        s = self.input_size[0]
        c = self.cfg.in_channels
        if x.ndim != 4 or tuple(x.shape[1:]) != (s, s, c):
            raise ValueError(f"images must be (N, {s}, {s}, {c}) channels-last, got {tuple(x.shape)}")
        n = x.shape[0]
        points, labels, boxes, masks = self._prompts(inputs, n)
        features = encode_image(self.sam, x.permute(0, 3, 1, 2).to(self.sam.device, torch.float32).contiguous(),
                                None, self.path)
        decoder = decoder_for(self.sam, self.path)
        lows, scores = [], []
        for i in range(n):
            ctx = decoder.prepare(features[i : i + 1])
            low, iou = decoder.decode(
                ctx,
                points[i : i + 1] if points is not None else None,
                labels[i : i + 1] if labels is not None else None,
                boxes[i : i + 1, 0] if boxes is not None else None,
                masks[i : i + 1] if masks is not None else None,
                bool(multimask_output),
            )
            lows.append(low)
            scores.append(iou)
        logits, quality = torch.cat(lows), torch.cat(scores)
        up = upscale_full(logits, s, (s, s), (s, s))
        if not return_logits:
            up = up > self.mask_threshold
        if as_numpy:
            return up.cpu().numpy(), quality.cpu().numpy(), logits.cpu().numpy()
        return up, quality, logits

    def _prompts(self, inputs: Mapping[str, Any], n: int):
        dev = self.sam.device

        def get(key: str, ndim: int, last: Tuple[int, ...], what: str):
            value = inputs.get(key)
            if value is None:
                return None
            t = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
            if t.ndim != ndim or t.shape[0] != n or tuple(t.shape[ndim - len(last):]) != last:
                raise ValueError(f"{key} must have shape {what} with N={n}, got {tuple(t.shape)}")
            return t

        points = get("points", 3, (2,), "(N, M1, 2)")
        labels = get("labels", 2, (), "(N, M1)")
        boxes = get("boxes", 3, (4,), "(N, M2, 4)")
        masks = get("masks", 4, tuple(self.mask_size()), f"(N, M3, {self.mask_size()[0]}, {self.mask_size()[1]})")
        if (points is None) != (labels is None) or (points is not None and points.shape[1] != labels.shape[1]):
            raise ValueError("points (N, M1, 2) and labels (N, M1) must be given together, with the same M1")
        if points is not None and points.shape[1] == 0:
            points = labels = None
        if points is not None:
            points, labels = points.to(dev, torch.float32), labels.to(dev, torch.int64)
        if boxes is not None:
            if boxes.shape[1] > 1:
                raise ValueError(f"at most one box per prompt (M2 in {{0, 1}}), got M2={boxes.shape[1]}")
            boxes = boxes.to(dev, torch.float32) if boxes.shape[1] == 1 else None
        if masks is not None:
            if masks.shape[1] > 1:
                raise ValueError(f"at most one mask per prompt (M3 in {{0, 1}}), got M3={masks.shape[1]}")
            masks = masks.to(dev, torch.float32) if masks.shape[1] == 1 else None
        return points, labels, boxes, masks
