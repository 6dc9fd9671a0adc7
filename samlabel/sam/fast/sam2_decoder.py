"""SAM 2's per-image decoding on the fast path: prepare once per image, then decode each prompt cheaply.

Same interface and results (up to float rounding) as ``samlabel.sam.sam2.decoder.Sam2Decoder``,
which runs the plain modules as Meta's ``SAM2ImagePredictor`` does. SAM 2's two-way
transformer is SAM 1's, so the prompt-independent work is SAM 1's fast path's
(:mod:`samlabel.sam.fast.two_way`: the first block's image projections, the second block's
and the final attention's per-image parts, the output map of the first upscaling, the
stacked hypernetworks), done once in :meth:`FastSam2Decoder.prepare`. What SAM 2 adds is
handled here: the object-score token ahead of the IoU token, the two high-resolution maps
added inside the upscaling (kept per image in the order the per-pixel products produce
their pixels, so adding them costs no copy of the features), and the single-mask output
chosen by stability (``dynamic_multimask_via_stability``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch import nn

from samlabel.sam.fast import mask_head
from samlabel.sam.fast.two_way import forward_tokens, precompute_image_side
from samlabel.sam.modeling.input_checks import check_embedding
from samlabel.sam.sam2.decoder import sam2_prompt_points


@dataclass(frozen=True)
class Sam2FastContext:
    """One image's decoder inputs and per-image caches (:meth:`FastSam2Decoder.prepare`).

    ``image_embedding (1, C, h, w)``; ``keys_no_mask``/``pe_tokens`` ``(1, h*w, C)``;
    ``feat_s1 (1, 2h, 2w, C/4)`` and ``feat_s0 (1, 2h, 2w, 2, 2, C/8)``: the high-resolution
    maps in the pixel order of the upscaling products; ``image_side``, ``output_map``,
    ``hypernetworks``: SAM 1's fast-path caches (``samlabel.sam.fast.decoder``).
    """

    image_embedding: torch.Tensor
    keys_no_mask: torch.Tensor
    pe_tokens: torch.Tensor
    feat_s1: torch.Tensor
    feat_s0: torch.Tensor
    image_side: Any = None
    output_map: Any = None
    hypernetworks: Any = None

    @property
    def grid_size(self) -> tuple[int, int]:
        return tuple(self.image_embedding.shape[-2:])


class FastSam2Decoder:
    """The fast path over a plain ``SAM2Image`` (reads its weights, never changes them)."""

    path = "fast"

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    @torch.no_grad()
    def prepare(self, image_embeddings: torch.Tensor, high_res_features: Sequence[torch.Tensor] = ()) -> Sam2FastContext:
        """``(1, C, h, w)`` embedding and ``[(1, C/8, 4h, 4w), (1, C/4, 2h, 2w)]`` -> the context."""
        model = self.model
        pe = model.sam_prompt_encoder
        dec = model.sam_mask_decoder
        emb = check_embedding(image_embeddings, pe.embed_dim, tuple(pe.image_embedding_size))
        h, w = emb.shape[-2:]
        if not dec.use_high_res_features or len(high_res_features) != 2:
            raise ValueError(
                f"a SAM 2 image embedding needs 2 high-resolution feature maps, got {len(high_res_features)} "
                "(an embedding saved by SAM 1 or by an older samlabel? recompute it)"
            )
        dev, dtype = model.device, model.no_mem_embed.dtype
        emb = emb.to(device=dev, dtype=dtype)
        s0, s1 = (f.to(device=dev, dtype=dtype) for f in high_res_features)
        c0, c1 = dec.transformer_dim // 8, dec.transformer_dim // 4
        if tuple(s0.shape) != (1, c0, 4 * h, 4 * w) or tuple(s1.shape) != (1, c1, 2 * h, 2 * w):
            raise ValueError(f"high-resolution maps must be (1, {c0}, {4 * h}, {4 * w}) and (1, {c1}, {2 * h}, {2 * w}), "
                             f"got {tuple(s0.shape)} and {tuple(s1.shape)}")
        image_pe = pe.get_dense_pe()
        no_mask = pe.no_mask_embed.weight.reshape(1, -1, 1, 1)
        keys = (emb + no_mask).flatten(2).transpose(1, 2).contiguous()  # (1, h*w, C)
        pe_tokens = image_pe.flatten(2).transpose(1, 2).contiguous()
        return Sam2FastContext(
            image_embedding=emb,
            keys_no_mask=keys,
            pe_tokens=pe_tokens,
            feat_s1=s1.permute(0, 2, 3, 1).contiguous(),  # (1, 2h, 2w, c1)
            # (1, c0, 4h, 4w) = (1, c0, 2h, ei, 2w, ej) -> (1, 2h, 2w, ei, ej, c0)
            feat_s0=s0.view(1, c0, 2 * h, 2, 2 * w, 2).permute(0, 2, 4, 3, 5, 1).contiguous(),
            image_side=precompute_image_side(dec.transformer, keys, pe_tokens),
            output_map=mask_head.precompute_output_map(dec, keys),
            hypernetworks=mask_head.stack_hypernetworks(dec),
        )

    @torch.no_grad()
    def decode(
        self,
        ctx: Sam2FastContext,
        point_coords: Optional[torch.Tensor] = None,
        point_labels: Optional[torch.Tensor] = None,
        boxes: Optional[torch.Tensor] = None,
        mask_input: Optional[torch.Tensor] = None,
        multimask_output: bool = True,
        valid_size: Optional[tuple[int, int]] = None,
        checked: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """B prompts in the input frame -> low-res logits ``(B, K, 4h, 4w)``, IoU ``(B, K)``
        (arguments as ``Sam2Decoder.decode``; ``valid_size`` is ignored: no padding)."""
        model = self.model
        pe = model.sam_prompt_encoder
        dec = model.sam_mask_decoder
        points, mask_input = sam2_prompt_points(model, point_coords, point_labels, boxes, mask_input, checked)
        dev = model.device
        if points is not None:
            sparse = pe._embed_points(points[0], points[1], pad=True)  # SAM 2 always pads: no box tokens
        else:
            bs = mask_input.shape[0] if mask_input is not None else 1
            sparse = torch.empty((bs, 0, pe.embed_dim), device=dev)
        image_side = output_map = None
        if mask_input is None:
            keys = ctx.keys_no_mask  # (1, h*w, C), broadcast over the prompts
            image_side, output_map = ctx.image_side, ctx.output_map
        else:
            mask_input = mask_input.to(dev)
            if points is not None and mask_input.shape[0] not in (1, sparse.shape[0]):
                raise ValueError(
                    f"mask_input has batch {mask_input.shape[0]} but the points/boxes have batch {sparse.shape[0]}"
                )
            dense = pe._embed_masks(mask_input)  # (B, C, h, w)
            keys = (ctx.image_embedding + dense).flatten(2).transpose(1, 2)
            if keys.shape[0] != sparse.shape[0]:
                keys = keys.expand(sparse.shape[0], -1, -1)
        s = 1 if dec.pred_obj_scores else 0
        dynamic = not multimask_output and dec.dynamic_multimask_via_stability and not dec.training
        wanted = list(range(dec.num_mask_tokens))
        if multimask_output:
            wanted = wanted[1:]
        elif not dynamic:
            wanted = wanted[:1]
        keep = [s] + [s + 1 + i for i in wanted]  # the IoU token and the wanted mask tokens
        tokens = _output_tokens(dec, sparse)
        hs, src, updates = forward_tokens(dec.transformer, keys, ctx.pe_tokens, tokens, image_side, keep,
                                          need_keys=output_map is None)
        iou_token_out, mask_tokens_out = hs[:, 0, :], hs[:, 1:, :]
        if ctx.hypernetworks is not None:
            hyper_in = ctx.hypernetworks(mask_tokens_out, first=wanted[0])  # (B, K, C/8)
        else:
            hyper_in = torch.stack(
                [dec.output_hypernetworks_mlps[i](mask_tokens_out[:, j, :]) for j, i in enumerate(wanted)], dim=1
            )
        hw = ctx.grid_size
        if output_map is not None and updates is not None:
            first = output_map.apply(updates, hw, hw)  # (B, h*w, (di, dj, c1))
        else:
            w1, b1 = mask_head.first_map(dec)
            first = torch.addmm(b1, src.reshape(-1, src.shape[-1]), w1).view(src.shape[0], -1, w1.shape[1])
        masks = _upscale_high_res(dec, first, hyper_in, hw, ctx.feat_s1, ctx.feat_s0)
        iou_pred = dec.iou_prediction_head(iou_token_out)[:, wanted]
        if dynamic:
            masks, iou_pred = dec._dynamic_multimask_via_stability(masks, iou_pred)
        return masks, iou_pred


def _output_tokens(dec: nn.Module, sparse: torch.Tensor) -> torch.Tensor:
    """(object score,) IoU and mask tokens followed by the prompt tokens, ``(B, s + 1 + M + N, C)``."""
    parts = [dec.iou_token.weight, dec.mask_tokens.weight]
    if dec.pred_obj_scores:
        parts.insert(0, dec.obj_score_token.weight)
    tokens = torch.cat(parts, dim=0).unsqueeze(0).expand(sparse.size(0), -1, -1)
    return torch.cat((tokens, sparse), dim=1)


def _upscale_high_res(
    dec: nn.Module, x: torch.Tensor, hyper_in: torch.Tensor, hw: tuple[int, int], feat_s1: torch.Tensor,
    feat_s0: torch.Tensor,
) -> torch.Tensor:
    """SAM 2's upscaling after the first product ``x (B, h*w, (di, dj, c1))``: ``+ feat_s1``,
    LayerNorm, GELU, the second transposed conv as a per-pixel product, ``+ feat_s0``, GELU,
    then the hypernetwork product. Returns ``(B, K, 4h, 4w)``."""
    h, w = hw
    _, norm, act1, up2, act2 = dec.output_upscaling
    b = x.shape[0]
    c1, c2 = up2.in_channels, up2.out_channels
    k = hyper_in.shape[1]
    # raster order and + feat_s1 in one pass: (B, h, di, w, dj, c1)
    x = torch.add(x.view(b, h, w, 2, 2, c1).permute(0, 1, 3, 2, 4, 5), feat_s1.view(1, h, 2, w, 2, c1))
    x = mask_head.first_activation(x, norm, act1)
    s0 = feat_s0.view(-1, 4 * c2)  # (2h*2w, (ei, ej, c2)), for every prompt
    y = mask_head.second_product(x.view(-1, c1), up2, act2, add=s0 if b == 1 else s0.repeat(b, 1))
    masks = torch.matmul(y.view(b, -1, c2), hyper_in.transpose(1, 2))  # (B, (2h, 2w, ei, ej), K)
    masks = masks.view(b, 2 * h, 2 * w, 2, 2, k).permute(0, 5, 1, 3, 2, 4)  # (B, K, 2h, ei, 2w, ej)
    return masks.reshape(b, k, 4 * h, 4 * w)
