"""``SAM2ImagePredictor``: Meta's ``sam2.sam2_image_predictor`` API over our SAM 2 image model.

Signatures and outputs equal the reference's (``set_image``, ``set_image_batch``,
``predict``, ``predict_batch``, ``_predict``, ``get_image_embedding``, ``reset_predictor``,
``_orig_hw``, ``_features``). The image transform and mask post-processing are the reference's
``SAM2Transforms`` (:mod:`samlabel.sam.sam2.transforms`). ``SamPredictor`` runs SAM 2
models too, through the same image embedding and decoder session as SAM 1.

The image is embedded on the compute path ``path`` (``samlabel.sam.compute_path``: the fast
Hiera encoder of :mod:`samlabel.sam.fast.hiera_encoder` by default, equal up to float
rounding; ``"plain"`` runs the model's own ``image_features``, as Meta's code does).
"""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

import numpy as np
import torch
from PIL.Image import Image

from samlabel.sam.modeling.sam2.sam2_image import SAM2Image
from samlabel.sam.sam2.transforms import SAM2Transforms, get_connected_components, to_tensor

__all__ = ["SAM2ImagePredictor", "SAM2Transforms", "get_connected_components", "to_tensor"]


class SAM2ImagePredictor:
    """Embeds an image once, then predicts masks for prompts (the reference's API)."""

    def __init__(
        self,
        sam_model: SAM2Image,
        mask_threshold: float = 0.0,
        max_hole_area: float = 0.0,
        max_sprinkle_area: float = 0.0,
        path: Optional[str] = None,
        **kwargs,
    ) -> None:
        from samlabel.sam.compute_path import resolve_path

        self.model = sam_model
        self.path = resolve_path(path)
        self._transforms = SAM2Transforms(
            resolution=self.model.image_size,
            mask_threshold=mask_threshold,
            max_hole_area=max_hole_area,
            max_sprinkle_area=max_sprinkle_area,
        )
        self._is_image_set = False
        self._features: Optional[dict] = None
        self._orig_hw: Optional[list] = None
        self._is_batch = False
        self.mask_threshold = mask_threshold
        self._bb_feat_sizes = list(self.model.feature_sizes)

    @property
    def orig_hw(self) -> Optional[list]:
        """``[(H, W)]`` of the image(s) set, or None."""
        return self._orig_hw

    @property
    def device(self) -> torch.device:
        return self.model.device

    def _embed(self, input_images: torch.Tensor) -> None:
        assert input_images.ndim == 4 and input_images.shape[1] == 3, f"images must be Bx3xHxW, got {tuple(input_images.shape)}"
        from samlabel.sam.compute_path import image_features

        self._features = image_features(self.model, input_images, path=self.path)
        self._is_image_set = True

    @torch.no_grad()
    def set_image(self, image: Union[np.ndarray, Image]) -> None:
        """Embed an ``(H, W, 3)`` RGB array (uint8, values 0-255) or a PIL image."""
        self.reset_predictor()
        if isinstance(image, np.ndarray):
            self._orig_hw = [image.shape[:2]]
        elif isinstance(image, Image):
            w, h = image.size
            self._orig_hw = [(h, w)]
        else:
            raise NotImplementedError("Image format not supported")
        self._embed(self._transforms(image)[None].to(self.device))

    @torch.no_grad()
    def set_image_batch(self, image_list: List[np.ndarray]) -> None:
        """Embed a list of ``(H, W, 3)`` RGB arrays, for :meth:`predict_batch`."""
        self.reset_predictor()
        assert isinstance(image_list, list)
        self._orig_hw = []
        for image in image_list:
            assert isinstance(image, np.ndarray), "Images are expected to be an np.ndarray in RGB format, and of shape  HWC"
            self._orig_hw.append(image.shape[:2])
        self._embed(self._transforms.forward_batch(image_list).to(self.device))
        self._is_batch = True

    def predict_batch(
        self,
        point_coords_batch: Optional[List[np.ndarray]] = None,
        point_labels_batch: Optional[List[np.ndarray]] = None,
        box_batch: Optional[List[np.ndarray]] = None,
        mask_input_batch: Optional[List[np.ndarray]] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> Tuple[List[np.ndarray], List[np.ndarray], List[np.ndarray]]:
        """:meth:`predict` for each image of :meth:`set_image_batch`; lists of its outputs."""
        assert self._is_batch, "This function should only be used when in batched mode"
        if not self._is_image_set:
            raise RuntimeError("An image must be set with .set_image_batch(...) before mask prediction.")
        all_masks, all_ious, all_low_res_masks = [], [], []
        for img_idx in range(len(self._features["image_embed"])):
            mask_input, unnorm_coords, labels, unnorm_box = self._prep_prompts(
                point_coords_batch[img_idx] if point_coords_batch is not None else None,
                point_labels_batch[img_idx] if point_labels_batch is not None else None,
                box_batch[img_idx] if box_batch is not None else None,
                mask_input_batch[img_idx] if mask_input_batch is not None else None,
                normalize_coords,
                img_idx=img_idx,
            )
            masks, iou_predictions, low_res_masks = self._predict(
                unnorm_coords, labels, unnorm_box, mask_input, multimask_output, return_logits=return_logits, img_idx=img_idx
            )
            all_masks.append(masks.squeeze(0).float().detach().cpu().numpy())
            all_ious.append(iou_predictions.squeeze(0).float().detach().cpu().numpy())
            all_low_res_masks.append(low_res_masks.squeeze(0).float().detach().cpu().numpy())
        return all_masks, all_ious, all_low_res_masks

    def predict(
        self,
        point_coords: Optional[np.ndarray] = None,
        point_labels: Optional[np.ndarray] = None,
        box: Optional[np.ndarray] = None,
        mask_input: Optional[np.ndarray] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks for prompts on the image set.

        ``point_coords (N, 2)`` (x, y) and ``point_labels (N,)`` (1 foreground, 0 background),
        ``box (4,)`` xyxy, in pixels of the original image with ``normalize_coords=True``
        (else in [0, 1]); ``mask_input (1, 256, 256)`` logits from a previous call.
        Returns ``masks (C, H, W)`` (bool, or logits with ``return_logits``), ``scores (C,)``
        and low-res logits ``(C, 256, 256)``; C = 3 with ``multimask_output`` else 1 (for
        batched prompts ``(B, ...)`` a leading B axis).
        """
        if not self._is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")
        mask_input, unnorm_coords, labels, unnorm_box = self._prep_prompts(
            point_coords, point_labels, box, mask_input, normalize_coords
        )
        masks, iou_predictions, low_res_masks = self._predict(
            unnorm_coords, labels, unnorm_box, mask_input, multimask_output, return_logits=return_logits
        )
        return (
            masks.squeeze(0).float().detach().cpu().numpy(),
            iou_predictions.squeeze(0).float().detach().cpu().numpy(),
            low_res_masks.squeeze(0).float().detach().cpu().numpy(),
        )

    def _prep_prompts(self, point_coords, point_labels, box, mask_logits, normalize_coords, img_idx=-1):
        unnorm_coords, labels, unnorm_box, mask_input = None, None, None, None
        if point_coords is not None:
            assert point_labels is not None, "point_labels must be supplied if point_coords is supplied."
            point_coords = torch.as_tensor(point_coords, dtype=torch.float, device=self.device)
            unnorm_coords = self._transforms.transform_coords(point_coords, normalize=normalize_coords, orig_hw=self._orig_hw[img_idx])
            labels = torch.as_tensor(point_labels, dtype=torch.int, device=self.device)
            if len(unnorm_coords.shape) == 2:
                unnorm_coords, labels = unnorm_coords[None, ...], labels[None, ...]
        if box is not None:
            box = torch.as_tensor(box, dtype=torch.float, device=self.device)
            unnorm_box = self._transforms.transform_boxes(box, normalize=normalize_coords, orig_hw=self._orig_hw[img_idx])
        if mask_logits is not None:
            mask_input = torch.as_tensor(mask_logits, dtype=torch.float, device=self.device)
            if len(mask_input.shape) == 3:
                mask_input = mask_input[None, :, :, :]
        return mask_input, unnorm_coords, labels, unnorm_box

    @torch.no_grad()
    def _predict(
        self,
        point_coords: Optional[torch.Tensor],
        point_labels: Optional[torch.Tensor],
        boxes: Optional[torch.Tensor] = None,
        mask_input: Optional[torch.Tensor] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        img_idx: int = -1,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Torch prompts already in model-input pixels: ``point_coords (B, N, 2)``,
        ``point_labels (B, N)``, ``boxes (B, 2, 2)`` or ``(B, 4)``, ``mask_input (B, 1, 256, 256)``.
        Returns ``masks (B, C, H, W)``, ``iou (B, C)``, low-res logits ``(B, C, 256, 256)``
        clamped to [-32, 32]."""
        if not self._is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")
        concat_points = (point_coords, point_labels) if point_coords is not None else None
        if boxes is not None:  # boxes become two points labelled 2 and 3, placed first
            box_coords = boxes.reshape(-1, 2, 2)
            box_labels = torch.tensor([[2, 3]], dtype=torch.int, device=boxes.device).repeat(boxes.size(0), 1)
            if concat_points is not None:
                concat_points = (torch.cat([box_coords, concat_points[0]], dim=1), torch.cat([box_labels, concat_points[1]], dim=1))
            else:
                concat_points = (box_coords, box_labels)

        sparse_embeddings, dense_embeddings = self.model.sam_prompt_encoder(points=concat_points, boxes=None, masks=mask_input)
        batched_mode = concat_points is not None and concat_points[0].shape[0] > 1  # several objects
        high_res_features = [feat_level[img_idx].unsqueeze(0) for feat_level in self._features["high_res_feats"]]
        low_res_masks, iou_predictions, _, _ = self.model.sam_mask_decoder(
            image_embeddings=self._features["image_embed"][img_idx].unsqueeze(0),
            image_pe=self.model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse_embeddings,
            dense_prompt_embeddings=dense_embeddings,
            multimask_output=multimask_output,
            repeat_image=batched_mode,
            high_res_features=high_res_features,
        )
        masks = self._transforms.postprocess_masks(low_res_masks, self._orig_hw[img_idx])
        low_res_masks = torch.clamp(low_res_masks, -32.0, 32.0)
        if not return_logits:
            masks = masks > self.mask_threshold
        return masks, iou_predictions, low_res_masks

    def get_image_embedding(self) -> torch.Tensor:
        """The image embedding ``(1, C, 64, 64)`` of the image set (``no_mem_embed`` included)."""
        if not self._is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) to generate an embedding.")
        assert self._features is not None, "Features must exist if an image has been set."
        return self._features["image_embed"]

    def reset_predictor(self) -> None:
        """Forget the image and its features."""
        self._is_image_set = False
        self._features = None
        self._orig_hw = None
        self._is_batch = False
