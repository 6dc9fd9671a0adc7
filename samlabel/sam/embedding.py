"""The per-image state of SAM: an immutable image embedding, its file format, and how to make one.

An :class:`ImageEmbedding` is everything the prompt encoder and mask decoder need from an
image: the encoder features ``(1, C, h, w)`` (``(1, 256, 64, 64)`` for SAM), SAM 2's two
high-resolution feature maps (none for SAM 1), the original image size, the resized input
size and the id of the model+weights that made it. It is
never modified after creation, so a GUI can compute it in a worker thread
(:func:`compute_embedding` keeps no shared state), cache it in memory or on disk, and hand
the same object to any number of decoders.

File format (``save``/``load``): a safetensors file (safe to load: no pickle) with the
float32 tensors ``features`` and ``high_res_0``, ``high_res_1``... and string metadata
``format="samlabel-embedding"``, ``version`` (2; version 1 files, written before SAM 2, are
read too), ``model_id``, ``original_size``, ``input_size`` and ``high_res_levels``. float32 is kept exactly (a
1024-px vit embedding is 4 MiB) so a loaded embedding predicts bit-identically.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Tuple, Union

import numpy as np
import torch

from samlabel.sam.compute_path import encode_image
from samlabel.sam.errors import EmbeddingError
from samlabel.sam.image_input import to_rgb_uint8  # the API rule for arrays (see image_input)
from samlabel.sam.model_family import is_sam2, model_input_size
from samlabel.sam.sam1.resizer import ImageResizer

__all__ = ["ImageEmbedding", "compute_embedding", "embed_input_tensor", "model_id_of", "model_input_size"]

FORMAT_NAME = "samlabel-embedding"
FORMAT_VERSION = 2  # 2 added the high-resolution maps of SAM 2; version 1 files (SAM 1) still load
READABLE_VERSIONS = ("1", "2")

PathLike = Union[str, os.PathLike]


def model_id_of(model: torch.nn.Module) -> str:
    """The id naming a model and its weights (``model.model_id``; class name as a fallback)."""
    mid = getattr(model, "model_id", None)
    return str(mid) if mid else type(model).__name__


@dataclass(frozen=True)
class ImageEmbedding:
    """Encoder output for one image. Treat ``features`` as read-only.

    Attributes:
      features: ``(1, C, h, w)`` float32 tensor on the model's device.
      original_size: ``(H, W)`` of the image given to ``set_image``.
      input_size: ``(h, w)`` of the resized image inside the padded model input.
      model_id: the model and weights that produced it.
      high_res_features: SAM 2's ``(1, C/8, 4h, 4w)`` and ``(1, C/4, 2h, 2w)`` maps the mask
        decoder reads; empty for SAM 1.
    """

    features: torch.Tensor
    original_size: Tuple[int, int]
    input_size: Tuple[int, int]
    model_id: str
    high_res_features: Tuple[torch.Tensor, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.features, torch.Tensor) or self.features.ndim != 4 or self.features.shape[0] != 1:
            shape = tuple(getattr(self.features, "shape", ()))
            raise ValueError(f"features must be a (1, C, h, w) tensor, got {shape}")
        high = tuple(self.high_res_features)
        for i, t in enumerate(high):
            if not isinstance(t, torch.Tensor) or t.ndim != 4 or t.shape[0] != 1:
                raise ValueError(f"high_res_features[{i}] must be a (1, C, h, w) tensor, got {tuple(getattr(t, 'shape', ()))}")
        object.__setattr__(self, "high_res_features", high)
        object.__setattr__(self, "original_size", (int(self.original_size[0]), int(self.original_size[1])))
        object.__setattr__(self, "input_size", (int(self.input_size[0]), int(self.input_size[1])))

    def to(self, device: Union[str, torch.device]) -> "ImageEmbedding":
        """A copy with ``features`` on ``device`` (``self`` when already there)."""
        if self.features.device == torch.device(device) and all(t.device == torch.device(device)
                                                                for t in self.high_res_features):
            return self
        return ImageEmbedding(self.features.to(device), self.original_size, self.input_size, self.model_id,
                              tuple(t.to(device) for t in self.high_res_features))

    # ------------------------------------------------------------------ files
    def save(self, path: PathLike) -> None:
        """Write atomically to ``path`` (temporary file beside it, fsync, ``os.replace``)."""
        from safetensors.torch import save

        metadata = {
            "format": FORMAT_NAME,
            "version": str(FORMAT_VERSION),
            "model_id": self.model_id,
            "original_size": f"{self.original_size[0]},{self.original_size[1]}",
            "input_size": f"{self.input_size[0]},{self.input_size[1]}",
            "high_res_levels": str(len(self.high_res_features)),
        }
        tensors = {"features": self.features}
        tensors.update({f"high_res_{i}": t for i, t in enumerate(self.high_res_features)})
        data = save({k: v.detach().to("cpu", torch.float32).contiguous() for k, v in tensors.items()}, metadata)
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    @classmethod
    def load(
        cls,
        path: PathLike,
        expected_model_id: Optional[str] = None,
        device: Union[str, torch.device] = "cpu",
    ) -> "ImageEmbedding":
        """Read an embedding written by :meth:`save`.

        Raises :class:`EmbeddingError` (naming ``path`` and the reason) when the file is
        missing or unreadable, not an embedding, of another format version, or made by a
        model other than ``expected_model_id``.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise EmbeddingError(f"{path}: cannot read embedding file ({exc.strerror or exc})") from exc
        try:
            tensors = load(raw)
            meta = _read_metadata(raw)
        except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
            raise EmbeddingError(f"{path}: not a readable embedding file ({exc})") from exc
        if meta.get("format") != FORMAT_NAME:
            raise EmbeddingError(f"{path}: not a samlabel embedding file (format={meta.get('format')!r})")
        if meta.get("version") not in READABLE_VERSIONS:
            raise EmbeddingError(
                f"{path}: embedding format version {meta.get('version')!r} is not supported "
                f"(this samlabel reads version {FORMAT_VERSION}); recompute it"
            )
        model_id = meta.get("model_id", "")
        if expected_model_id is not None and model_id != expected_model_id:
            raise EmbeddingError(
                f"{path}: embedding was made by model {model_id!r}, not by the current model "
                f"{expected_model_id!r}; recompute it"
            )
        try:
            features = tensors["features"].to(device=device, dtype=torch.float32)
            original_size = _parse_size(meta["original_size"])
            input_size = _parse_size(meta["input_size"])
            levels = int(meta.get("high_res_levels", "0"))
            high = tuple(tensors[f"high_res_{i}"].to(device=device, dtype=torch.float32) for i in range(levels))
            return cls(features, original_size, input_size, model_id, high)
        except (KeyError, ValueError) as exc:
            raise EmbeddingError(f"{path}: embedding file is incomplete or malformed ({exc})") from exc


def _read_metadata(raw: bytes) -> dict:
    import json
    import struct

    if len(raw) < 8:
        raise ValueError("file too short")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError("header length beyond end of file")
    header = json.loads(raw[8 : 8 + n])
    return dict(header.get("__metadata__") or {})


def _parse_size(text: str) -> Tuple[int, int]:
    h, w = (int(v) for v in text.split(","))
    if h <= 0 or w <= 0:
        raise ValueError(f"bad size {text!r}")
    return h, w


@torch.no_grad()
def compute_embedding(
    model: torch.nn.Module,
    image: np.ndarray,
    cancel: Optional[Callable[[], bool]] = None,
    image_format: str = "RGB",
    path: Optional[str] = None,
) -> ImageEmbedding:
    """Run the image encoder on ``image`` and return its :class:`ImageEmbedding`.

    ``image`` is anything :func:`to_rgb_uint8` accepts. ``cancel`` is polled by the encoder
    between blocks and makes it raise :class:`samlabel.sam.errors.Cancelled`. ``path``:
    ``"fast"`` or ``"plain"`` (``samlabel.sam.compute_path``; both give the same embedding up
    to float rounding). The function reads ``model`` only, so several threads may call it
    with their own images.
    """
    rgb = to_rgb_uint8(image, image_format, getattr(model, "image_format", "RGB"))
    if is_sam2(model):
        return _embed_sam2(model, _sam2_transforms(model)(rgb)[None].to(model.device), rgb.shape[:2], cancel, path)
    resizer = ImageResizer(model_input_size(model))
    resized = resizer.scale_image(rgb)
    x = torch.as_tensor(resized, device=model.device).permute(2, 0, 1).contiguous()[None]
    return embed_input_tensor(model, x, rgb.shape[:2], cancel, path)


def embed_input_tensor(
    model: torch.nn.Module,
    transformed: torch.Tensor,
    original_size: Tuple[int, int],
    cancel: Optional[Callable[[], bool]] = None,
    path: Optional[str] = None,
) -> ImageEmbedding:
    """Encode an already-resized ``(1, 3, h, w)`` image (long side = input size; for SAM 2 the
    whole ``(1, 3, S, S)`` square, stretched), values 0-255.

    ``path``: ``"fast"`` or ``"plain"`` (``samlabel.sam.compute_path``)."""
    size = model_input_size(model)
    if is_sam2(model):
        if transformed.ndim != 4 or tuple(transformed.shape) != (1, 3, size, size):
            raise ValueError(f"transformed image must be (1, 3, {size}, {size}) for SAM 2 (stretched, values 0-255), "
                             f"got {tuple(transformed.shape)}")
        x = _sam2_transforms(model).transforms(transformed[0].float() / 255.0)[None]
        return _embed_sam2(model, x.to(model.device), original_size, cancel, path)
    if transformed.ndim != 4 or transformed.shape[:2] != (1, 3) or max(transformed.shape[2:]) != size:
        raise ValueError(
            f"transformed image must be (1, 3, h, w) with long side {size}, got {tuple(transformed.shape)}"
        )
    input_size = (int(transformed.shape[2]), int(transformed.shape[3]))
    with torch.no_grad():
        features = encode_image(model, model.preprocess(transformed), cancel, path)
    return ImageEmbedding(features, tuple(original_size), input_size, model_id_of(model))


def _sam2_transforms(model: torch.nn.Module):
    from samlabel.sam.sam2.transforms import SAM2Transforms

    return SAM2Transforms(resolution=model_input_size(model), mask_threshold=float(model.mask_threshold))


def _embed_sam2(model, x: torch.Tensor, original_size, cancel, path: Optional[str] = None) -> ImageEmbedding:
    """``(1, 3, S, S)`` normalised input -> the embedding with SAM 2's high-resolution maps.

    ``path``: ``"fast"`` runs :func:`samlabel.sam.fast.hiera_encoder.image_features`, ``"plain"``
    the model's own ``image_features`` (``samlabel.sam.compute_path``); ``cancel`` is polled
    between the trunk's blocks either way."""
    from samlabel.sam.compute_path import image_features

    size = model_input_size(model)
    with torch.no_grad():
        feats = image_features(model, x, cancel=cancel, path=path)
    return ImageEmbedding(feats["image_embed"], tuple(original_size), (size, size), model_id_of(model),
                          tuple(feats["high_res_feats"]))
