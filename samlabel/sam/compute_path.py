"""The one switch between the plain and the fast computation of the same model.

``"fast"`` (the default) runs ``samlabel.sam.fast``; ``"plain"`` runs the reference-shaped
modules of ``samlabel.sam.modeling`` as Meta's code does. Both give the same results up to
float rounding; the plain path is what the fast one is checked against.

Chosen, first match wins, by the ``path=`` argument of ``SamPredictor``,
``SamAutomaticMaskGenerator``, ``DecoderSession`` and ``compute_embedding``, then by the
environment variable ``SAMLABEL_COMPUTE_PATH``, then ``"fast"``.
"""

from __future__ import annotations

import os
from typing import Optional

ENV_VAR = "SAMLABEL_COMPUTE_PATH"
PATHS = ("fast", "plain")


def resolve_path(path: Optional[str] = None) -> str:
    """``path``, else ``$SAMLABEL_COMPUTE_PATH``, else ``"fast"``; anything else is a ``ValueError``."""
    if path is None:
        path = os.environ.get(ENV_VAR, "").strip().lower() or "fast"
        source = f"the environment variable {ENV_VAR}"
    else:
        source = "path="
    if path not in PATHS:
        raise ValueError(f"{source} must be one of {', '.join(map(repr, PATHS))}, got {path!r}")
    return path


def decoder_for(model, path: Optional[str] = None):
    """The per-image decoder of ``model`` on the chosen path (``FastDecoder`` or ``PlainDecoder``;
    SAM 2 models: ``FastSam2Decoder`` or ``Sam2Decoder``)."""
    from samlabel.sam.model_family import is_sam2

    if is_sam2(model):
        if resolve_path(path) == "plain":
            from samlabel.sam.sam2.decoder import Sam2Decoder

            return Sam2Decoder(model)
        from samlabel.sam.fast.sam2_decoder import FastSam2Decoder

        return FastSam2Decoder(model)
    if resolve_path(path) == "plain":
        from samlabel.sam.sam1.plain_decoder import PlainDecoder

        return PlainDecoder(model)
    from samlabel.sam.fast.decoder import FastDecoder

    return FastDecoder(model)


def encode_image(model, x, cancel=None, path: Optional[str] = None):
    """``model.image_encoder(x)`` on the chosen path; ``cancel()`` is polled between blocks.

    ``x``: ``(B, 3, S, S)`` normalised, padded images. The fast path exists for SAM's ViT
    encoders (``samlabel.sam.fast.vit_encoder``) and MobileSAM's TinyViT
    (``samlabel.sam.fast.tiny_vit_encoder``, which itself falls back to the module for
    weights or inputs it does not handle, e.g. a bf16 or int8 encoder); any other encoder
    (a wrapper put in ``model.image_encoder``) runs its own ``forward``. An encoder given to
    OpenVINO (:func:`samlabel.sam.fast.openvino_engine.use_openvino`) runs there on the fast path.
    """
    encoder = model.image_encoder
    if resolve_path(path) == "fast":
        engine = getattr(encoder, "_samlabel_openvino", None)  # samlabel.sam.fast.openvino_engine
        if engine is not None and x.device.type == "cpu":  # (a model moved to a GPU leaves it)
            return engine(x, cancel)
        from samlabel.sam.modeling.sam1.image_encoder import ImageEncoderViT
        from samlabel.sam.modeling.sam1.tiny_vit import TinyViT

        if isinstance(encoder, ImageEncoderViT):
            from samlabel.sam.fast.vit_encoder import encode

            return encode(encoder, x, cancel)
        if type(encoder) is TinyViT:
            from samlabel.sam.fast.tiny_vit_encoder import encode as encode_tiny_vit

            return encode_tiny_vit(encoder, x, cancel)
    return encoder(x) if cancel is None else encoder(x, cancel=cancel)


def image_features(model, x, cancel=None, path: Optional[str] = None) -> dict:
    """SAM 2's ``model.image_features(x, cancel)`` on the chosen path: the fast Hiera encoder
    (:func:`samlabel.sam.fast.hiera_encoder.image_features`, which itself runs the model's own
    for an encoder that is not SAM 2's Hiera; OpenVINO's where one was attached by
    :func:`samlabel.sam.fast.openvino_engine.use_openvino`) or the plain model. ``x``: ``(B, 3, S, S)``."""
    if resolve_path(path) == "fast":
        engine = getattr(model.image_encoder, "_samlabel_openvino", None)
        if engine is not None and x.device.type == "cpu":
            return engine(x, cancel)
        from samlabel.sam.fast.hiera_encoder import image_features as fast_image_features

        return fast_image_features(model, x, cancel=cancel)
    return model.image_features(x, cancel=cancel)
