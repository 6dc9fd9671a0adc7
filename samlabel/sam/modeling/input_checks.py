"""Checks of the tensors handed to ``Sam``'s end-to-end ``forward`` and to the decoders.

Each raises ``ValueError`` with a message saying what was expected and what came.
"""

from __future__ import annotations

from typing import Any, Optional

import torch


def describe(x: Any) -> str:
    """Short description of an argument for error messages."""
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    shape = getattr(x, "shape", None)
    if shape is not None:
        return f"a {type(x).__name__} of shape {tuple(shape)}"
    return f"a {type(x).__name__}"


def check_image_tensor(image: Any, channels: int, max_size: int, name: str = "image") -> None:
    """An input-frame image must be a ``(C, H, W)`` float or uint8 tensor, longest side <= ``max_size``."""
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise ValueError(f"{name} must be a ({channels}, H, W) torch tensor, got {describe(image)}")
    if not (image.is_floating_point() or image.dtype == torch.uint8):
        raise ValueError(f"{name} must be float or uint8, got dtype {image.dtype}")
    if image.shape[0] != channels:
        raise ValueError(f"{name} must have {channels} channels first ({channels}, H, W), got shape {tuple(image.shape)}")
    if max(image.shape[1:]) > max_size or min(image.shape[1:]) < 1:
        raise ValueError(
            f"{name} must already be resized so its longest side is at most {max_size}, got shape {tuple(image.shape)}"
        )


def _as_float(x: Any, name: str, expected: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor of shape {expected}, got {describe(x)}")
    if x.dtype == torch.bool or x.is_complex():
        raise ValueError(f"{name} must be a real-valued tensor of shape {expected}, got dtype {x.dtype}")
    return x if x.is_floating_point() else x.float()


def check_prompts(
    point_coords: Any,
    point_labels: Any,
    boxes: Any,
    mask_input: Any,
    mask_size: tuple[int, int],
    require_labels: bool = True,
) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor], Optional[torch.Tensor], Optional[torch.Tensor]]:
    """Validate batched prompts; return ``(coords (B,N,2) float, labels (B,N), boxes (B,4) float, masks)``.

    Raises ``ValueError`` saying which argument is wrong and what was expected.
    """
    if point_coords is None and point_labels is not None:
        raise ValueError("point_labels were given without point_coords")
    if point_coords is not None:
        if point_labels is None and require_labels:
            raise ValueError("point_coords need point_labels of shape (B, N)")
        point_coords = _as_float(point_coords, "point_coords", "(B, N, 2)")
        if point_coords.dim() != 3 or point_coords.shape[-1] != 2:
            raise ValueError(f"point_coords must have shape (B, N, 2), got {tuple(point_coords.shape)}")
        if not isinstance(point_labels, torch.Tensor):
            raise ValueError(f"point_labels must be a torch tensor of shape (B, N), got {describe(point_labels)}")
        if tuple(point_labels.shape) != tuple(point_coords.shape[:2]):
            raise ValueError(
                f"point_labels must have shape (B, N) = {tuple(point_coords.shape[:2])} to match point_coords, "
                f"got {tuple(point_labels.shape)}"
            )
    if boxes is not None:
        boxes = _as_float(boxes, "boxes", "(B, 4)")
        if boxes.dim() == 3 and boxes.shape[1] == 1:
            boxes = boxes[:, 0]
        if boxes.dim() != 2 or boxes.shape[-1] != 4:
            raise ValueError(f"boxes must have shape (B, 4) as x0, y0, x1, y1, got {tuple(boxes.shape)}")
        if point_coords is not None and boxes.shape[0] != point_coords.shape[0]:
            raise ValueError(
                f"boxes have batch {boxes.shape[0]} but point_coords have batch {point_coords.shape[0]}"
            )
    if mask_input is not None:
        expected = (1, *mask_size)
        mask_input = _as_float(mask_input, "mask_input", f"(B, {expected[0]}, {expected[1]}, {expected[2]})")
        if mask_input.dim() != 4 or tuple(mask_input.shape[1:]) != expected:
            raise ValueError(f"mask_input must have shape (B, 1, {mask_size[0]}, {mask_size[1]}), got {tuple(mask_input.shape)}")
    return point_coords, point_labels, boxes, mask_input


def check_embedding(image_embeddings: Any, channels: int, grid: tuple[int, int]) -> torch.Tensor:
    """An image embedding must be ``(1, C, h, w)`` (or ``(C, h, w)``); returns it as ``(1, C, h, w)``."""
    h, w = grid
    if (
        not isinstance(image_embeddings, torch.Tensor)
        or image_embeddings.dim() not in (3, 4)
        or tuple(image_embeddings.shape[-3:]) != (channels, h, w)
        or (image_embeddings.dim() == 4 and image_embeddings.shape[0] != 1)
    ):
        raise ValueError(
            f"image_embeddings must have shape (1, {channels}, {h}, {w}), got {describe(image_embeddings)}"
        )
    return image_embeddings.reshape(1, channels, h, w)


def prompts_on_device(model: Any, point_coords, point_labels, boxes, mask_input, checked: bool = False):
    """:func:`check_prompts` for ``model``'s mask size, then moved to its device: returns
    ``(points, boxes, mask_input)`` with ``points`` the ``(coords, labels)`` pair or None.

    ``checked=True``: the caller built these tensors from prompts it has already validated
    (``samlabel.sam.interactive.Prompt``), so they are only moved (a prompt is checked once).
    """
    encoder = getattr(model, "prompt_encoder", None) or model.sam_prompt_encoder  # SAM 1 / SAM 2
    if checked:
        coords, labels = point_coords, point_labels
    else:
        coords, labels, boxes, mask_input = check_prompts(
            point_coords, point_labels, boxes, mask_input, tuple(encoder.mask_input_size),
            require_labels=point_coords is not None
        )
    dev = model.device
    points = (coords.to(dev), labels.to(dev)) if coords is not None else None
    boxes = boxes.to(dev) if boxes is not None else None
    mask_input = mask_input.to(dev) if mask_input is not None else None
    return points, boxes, mask_input
