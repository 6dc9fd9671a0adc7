"""The SAM 2 image model: what Meta's ``SAM2Base`` holds and does for single images.

Parameter names equal ``SAM2Base``'s (``image_encoder.*``, ``sam_prompt_encoder.*``,
``sam_mask_decoder.*``, ``no_mem_embed``), so the image part of an official checkpoint
loads strictly; the video modules (memory attention/encoder, object pointers...) are not
built. Methods are those ``SAM2ImagePredictor`` calls: ``forward_image``,
``_prepare_backbone_features``, and ``image_features`` (what ``set_image`` stores).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from samlabel.sam.modeling.sam2.mask_decoder import MaskDecoder
from samlabel.sam.modeling.sam2.prompt_encoder import PromptEncoder
from samlabel.sam.modeling.sam2.transformer import TwoWayTransformer


class SAM2Image(nn.Module):
    """Image encoder + prompt encoder + mask decoder of SAM 2, with ``no_mem_embed``.

    ``config`` (a :class:`~samlabel.sam.modeling.sam2.config.Sam2Config`) is kept for
    reference; the modules are built by :func:`~samlabel.sam.modeling.sam2.build.build_sam2`.
    ``model_id`` names the config and the weights (``"sam2.1_hiera_tiny:<sha256[:16]>"``),
    as SAM 1's ``Sam.model_id`` does; ``mask_threshold`` and ``image_format`` are SAM 1's too.
    """

    mask_threshold: float = 0.0
    image_format: str = "RGB"

    def __init__(
        self,
        image_encoder: nn.Module,
        *,
        image_size: int = 1024,
        backbone_stride: int = 16,
        use_high_res_features_in_sam: bool = True,
        directly_add_no_mem_embed: bool = True,
        mask_in_chans: int = 16,
        decoder_kwargs: dict | None = None,
        transformer_kwargs: dict | None = None,
        config=None,
    ) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = image_encoder
        self.use_high_res_features_in_sam = use_high_res_features_in_sam
        self.num_feature_levels = 3 if use_high_res_features_in_sam else 1
        self.hidden_dim = image_encoder.neck.d_model
        # The single token "no memory" added to the image embedding of a first frame / an image.
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, self.hidden_dim))
        self.directly_add_no_mem_embed = directly_add_no_mem_embed
        self.image_size = image_size
        self.backbone_stride = backbone_stride
        self.sam_prompt_embed_dim = self.hidden_dim
        self.sam_image_embedding_size = image_size // backbone_stride
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=self.sam_prompt_embed_dim,
            image_embedding_size=(self.sam_image_embedding_size, self.sam_image_embedding_size),
            input_image_size=(image_size, image_size),
            mask_in_chans=mask_in_chans,
        )
        tkw = {"depth": 2, "mlp_dim": 2048, "num_heads": 8, **(transformer_kwargs or {})}
        self.sam_mask_decoder = MaskDecoder(
            transformer=TwoWayTransformer(embedding_dim=self.sam_prompt_embed_dim, **tkw),
            transformer_dim=self.sam_prompt_embed_dim,
            use_high_res_features=use_high_res_features_in_sam,
            **(decoder_kwargs or {}),
        )
        self.ignored_keys: list[str] = []  # checkpoint keys of video-only modules, set by the loader
        self.model_id = ""  # set by the builder

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def feature_sizes(self) -> list[tuple[int, int]]:
        """Spatial sizes of the decoder's feature levels, highest resolution first:
        ``[(256, 256), (128, 128), (64, 64)]`` at 1024 px (the predictor's ``_bb_feat_sizes``)."""
        e = self.sam_image_embedding_size
        sizes = [(e * 4, e * 4), (e * 2, e * 2), (e, e)]
        return sizes[-self.num_feature_levels :]

    def forward(self, *args, **kwargs):
        raise NotImplementedError("use SAM2ImagePredictor, or forward_image / image_features and the heads")

    def forward_image(self, img_batch: torch.Tensor, cancel: Optional[Callable[[], bool]] = None) -> dict:
        """``(B, 3, S, S)`` normalised images -> the image encoder's dict, with the two
        high-resolution levels already projected by the decoder's ``conv_s0`` / ``conv_s1``
        (``(B, C/8, S/4, S/4)`` and ``(B, C/4, S/8, S/8)``). ``cancel()`` is polled between
        the trunk's blocks and makes it raise ``Cancelled``."""
        backbone_out = self.image_encoder(img_batch, cancel=cancel)
        if self.use_high_res_features_in_sam:
            backbone_out["backbone_fpn"][0] = self.sam_mask_decoder.conv_s0(backbone_out["backbone_fpn"][0])
            backbone_out["backbone_fpn"][1] = self.sam_mask_decoder.conv_s1(backbone_out["backbone_fpn"][1])
        return backbone_out

    def _prepare_backbone_features(self, backbone_out: dict):
        """Flatten the last ``num_feature_levels`` levels ``(B, C, H, W)`` to ``(HW, B, C)``.

        Returns ``(backbone_out, vision_feats, vision_pos_embeds, feat_sizes)``.
        """
        backbone_out = backbone_out.copy()
        assert len(backbone_out["backbone_fpn"]) == len(backbone_out["vision_pos_enc"])
        assert len(backbone_out["backbone_fpn"]) >= self.num_feature_levels
        feature_maps = backbone_out["backbone_fpn"][-self.num_feature_levels :]
        vision_pos_embeds = backbone_out["vision_pos_enc"][-self.num_feature_levels :]
        feat_sizes = [(x.shape[-2], x.shape[-1]) for x in vision_pos_embeds]
        vision_feats = [x.flatten(2).permute(2, 0, 1) for x in feature_maps]
        vision_pos_embeds = [x.flatten(2).permute(2, 0, 1) for x in vision_pos_embeds]
        return backbone_out, vision_feats, vision_pos_embeds, feat_sizes

    @torch.no_grad()
    def image_features(self, img_batch: torch.Tensor, cancel: Optional[Callable[[], bool]] = None) -> dict:
        """What ``SAM2ImagePredictor.set_image`` keeps: ``{"image_embed": (B, C, S/16, S/16),
        "high_res_feats": [(B, C/8, S/4, S/4), (B, C/4, S/8, S/8)]}`` (``no_mem_embed`` added)."""
        backbone_out = self.forward_image(img_batch, cancel=cancel)
        _, vision_feats, _, _ = self._prepare_backbone_features(backbone_out)
        if self.directly_add_no_mem_embed:
            vision_feats[-1] = vision_feats[-1] + self.no_mem_embed
        batch = img_batch.shape[0]
        feats = [
            feat.permute(1, 2, 0).reshape(batch, -1, *size)
            for feat, size in zip(vision_feats[::-1], self.feature_sizes[::-1])
        ][::-1]
        return {"image_embed": feats[-1], "high_res_feats": feats[:-1]}
