"""The mask decoder, fast: flattened inputs, wanted outputs only, upscaling as per-token products.

Functions over a plain :class:`samlabel.sam.modeling.sam1.mask_decoder.MaskDecoder`; their
results equal its ``predict_masks`` / ``forward`` up to float rounding
(``tests/sam/fast/test_fast_decoder_lowrank.py``, ``test_fast_output_map.py``):

* :func:`decode` takes the image tokens flattened (batch 1 broadcast over B prompts), runs
  the transformer through :mod:`samlabel.sam.fast.two_way`, and computes only the outputs
  ``multimask_output`` keeps;
* :func:`upscale_masks` does ``output_upscaling`` and the hypernetwork product as per-pixel
  matrix products in raster order, only for the tokens under the image (``valid_size``);
* :func:`precompute_output_map` and :func:`stack_hypernetworks` are per-image parts.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Optional

import torch
import torch.nn.functional as F
from torch import nn

from samlabel.sam.fast.output_map import OutputMapCache, select_window
from samlabel.sam.fast.stacked_mlp import StackedMLP
from samlabel.sam.fast.two_way import forward_tokens

if TYPE_CHECKING:
    from samlabel.sam.modeling.sam1.mask_decoder import MaskDecoder


def output_tokens(decoder: "MaskDecoder", sparse_prompt_embeddings: torch.Tensor) -> torch.Tensor:
    """IoU and mask tokens followed by the prompt tokens, ``(B, 1 + M + N, C)``."""
    tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
    tokens = tokens.unsqueeze(0).expand(sparse_prompt_embeddings.size(0), -1, -1)
    return torch.cat((tokens, sparse_prompt_embeddings), dim=1)


def decode(
    decoder: "MaskDecoder",
    src: torch.Tensor,
    pos_src: torch.Tensor,
    tokens: torch.Tensor,
    hw: tuple[int, int],
    image_side=None,
    multimask_output: Optional[bool] = None,
    valid_size: Optional[tuple[int, int]] = None,
    output_map: Optional[OutputMapCache] = None,
    hypernetworks: Optional[StackedMLP] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattened image ``(B or 1, h*w, C)``, PE ``(B or 1, h*w, C)``, tokens ``(B, T, C)``
    -> masks ``(B, K, 4h, 4w)`` and IoU predictions ``(B, K)``.

    ``image_side``: ``two_way.precompute_image_side(src, pos_src)``, if known.
    ``multimask_output``: None returns all ``K = 1 + M`` outputs; True or False returns only
    those the decoder's ``forward`` keeps (3 or 1), and then only their tokens go through the
    last attention, the hypernetworks and the mask product (same values, less work).
    ``valid_size``: see :func:`upscale_masks`.
    ``output_map``: :func:`precompute_output_map` of these ``src`` (with ``image_side``): the
    first upscaling product is then computed from the transformer's low-rank updates when it
    took that path (``samlabel.sam.fast.output_map``).
    ``hypernetworks``: :func:`stack_hypernetworks`, to run the wanted mask tokens' MLPs as one
    batched product per layer.
    """
    wanted = list(range(decoder.num_mask_tokens))
    if multimask_output is not None:
        wanted = wanted[1:] if multimask_output else wanted[:1]
    keep = [0] + [1 + i for i in wanted]  # the IoU token and the wanted mask tokens
    # (B, 1 + K, C), (B, h*w, C) (None when the output map replaces the tokens)
    hs, src, updates = forward_tokens(decoder.transformer, src, pos_src, tokens, image_side, keep,
                                      need_keys=output_map is None)
    iou_token_out = hs[:, 0, :]
    mask_tokens_out = hs[:, 1:, :]

    if hypernetworks is not None:  # wanted is a run of indices: 0..M-1, 1..M-1 or 0
        hyper_in = hypernetworks(mask_tokens_out, first=wanted[0])  # (B, K, C/8)
    else:
        hyper_in = torch.stack(
            [decoder.output_hypernetworks_mlps[i](mask_tokens_out[:, j, :]) for j, i in enumerate(wanted)], dim=1
        )  # (B, K, C/8)
    if output_map is not None and updates is not None:
        window = _window(hw, valid_size)
        first = output_map.apply(updates, hw, window)  # (B, rows*cols, 4*c1)
        masks = _pad_masks(_upscale_first(decoder, first, hyper_in, window), hw, window)
    else:
        masks = upscale_masks(decoder, src, hyper_in, hw, valid_size)
    iou_pred = decoder.iou_prediction_head(iou_token_out)[:, wanted]
    return masks, iou_pred


def first_map(decoder: "MaskDecoder") -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``ConvTranspose2d`` (kernel = stride = 2) as ``tokens @ w + b``:
    ``w (C, (di, dj, c1))``, ``b ((di, dj, c1),)``."""
    up1 = decoder.output_upscaling[0]
    return up1.weight.permute(0, 2, 3, 1).reshape(up1.in_channels, 4 * up1.out_channels), up1.bias.repeat(4)


# oneDNN's linear with a fused sum (what Inductor calls on x86 CPUs); elsewhere addmm and +.
_LINEAR_POINTWISE = (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
                     and platform.machine().lower() in ("x86_64", "amd64"))


def _exact_gelu(module: nn.Module) -> bool:
    return type(module) is nn.GELU and module.approximate == "none"


def first_activation(x: torch.Tensor, norm: nn.Module, act: nn.Module) -> torch.Tensor:
    """``act(LayerNorm(x))`` over the last dim, the GELU in place on the norm's fresh output."""
    x = F.layer_norm(x, (x.shape[-1],), norm.weight, norm.bias, norm.eps)
    return torch.ops.aten.gelu_(x) if _exact_gelu(act) else act(x)


def second_product(x: torch.Tensor, up2: nn.Module, act: nn.Module, add: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``act(x @ w2 + b2 (+ add))`` for the second ``ConvTranspose2d`` (kernel = stride = 2) as a
    per-pixel product: ``x (N, c1)`` -> ``(N, (ei, ej, c2))``; ``add`` (SAM 2's high-resolution
    map) in that layout, one row per row of ``x``. The GELU runs in place on the product's
    fresh output, and on x86 the sum is fused into the product (one oneDNN call, bit-equal to
    ``addmm`` then ``+``): no extra passes over the 2h x 2w x 4 x c2 map. (oneDNN's fused GELU
    is not used: a recording of the decoder cannot hold its list argument.)"""
    c1, c2 = up2.in_channels, up2.out_channels
    w2 = up2.weight.permute(0, 2, 3, 1).reshape(c1, 4 * c2)  # (c1, (ei, ej, c2))
    b2 = up2.bias.repeat(4)
    if (add is not None and _LINEAR_POINTWISE and x.device.type == "cpu" and x.dtype == add.dtype == w2.dtype == torch.float32
            and not (torch.is_grad_enabled() and (x.requires_grad or w2.requires_grad or add.requires_grad))):
        y = torch.ops.mkldnn._linear_pointwise.binary(x, add.contiguous(), w2.t().contiguous(), b2, "add")
    else:
        y = torch.addmm(b2, x, w2)
        if add is not None:
            y += add
    return torch.ops.aten.gelu_(y) if _exact_gelu(act) else act(y)


def stack_hypernetworks(decoder: "MaskDecoder") -> Optional[StackedMLP]:
    """The mask tokens' hypernetwork MLPs as one :class:`StackedMLP` (for :func:`decode`)."""
    return StackedMLP.of(list(decoder.output_hypernetworks_mlps))


@torch.no_grad()
def precompute_output_map(decoder: "MaskDecoder", keys: torch.Tensor) -> Optional[OutputMapCache]:
    """Per-image parts of the first upscaling product for :func:`decode`'s ``output_map``.

    ``keys``: ``(1, h*w, C)``, the transformer's input image tokens (embedding + no-mask
    embedding). ``None`` when the transformer does not have SAM's two blocks.
    """
    layers = getattr(decoder.transformer, "layers", ())
    if len(layers) != 2:
        return None
    w, b = first_map(decoder)
    return OutputMapCache.build(layers[0].norm4, layers[1].norm4, keys, w, b)


def _window(hw: tuple[int, int], valid_size: Optional[tuple[int, int]]) -> tuple[int, int]:
    """Token rows and columns under the top-left ``valid_size`` corner of the ``(4h, 4w)`` masks."""
    h, w = hw
    if valid_size is None:
        return h, w
    return min(h, max(1, -(-int(valid_size[0]) // 4))), min(w, max(1, -(-int(valid_size[1]) // 4)))


def _pad_masks(masks: torch.Tensor, hw: tuple[int, int], window: tuple[int, int]) -> torch.Tensor:
    """Masks of the window -> ``(B, K, 4h, 4w)``, repeating the last computed row and column."""
    (h, w), (rows, cols) = hw, window
    if (rows, cols) == (h, w):
        return masks
    return F.pad(masks, (0, 4 * (w - cols), 0, 4 * (h - rows)), mode="replicate")


def upscale_masks(
    decoder: "MaskDecoder",
    src: torch.Tensor,
    hyper_in: torch.Tensor,
    hw: tuple[int, int],
    valid_size: Optional[tuple[int, int]] = None,
) -> torch.Tensor:
    """``output_upscaling`` then the hypernetwork product, computed as per-pixel products.

    ``valid_size=(rows, cols)``: only the top-left ``rows x cols`` of the ``(4h, 4w)`` masks
    are wanted (the part covering the image; the rest of the square input is padding). Every
    step below is per image token, so only the tokens under that corner are upscaled; the
    other mask values repeat the nearest computed row and column.

    ``src``: ``(B, h*w, C)`` image tokens; ``hyper_in``: ``(B, K, C/8)``. Returns ``(B, K, 4h, 4w)``.
    A ``ConvTranspose2d`` with kernel = stride = 2 maps each pixel on its own to a 2x2 block,
    so both are per-token matrix products, and LayerNorm2d and GELU are per pixel too:

    * the first product gives ``(B, h, w, di, dj, c1)``; one copy puts it in raster order
      ``(B, h, di, w, dj, c1)`` of the ``2h x 2w`` grid (runs of ``c1`` floats);
    * the second gives, for each of those pixels, its ``(ei, ej, c2)`` block; after GELU,
      ``that @ hyper_in^T`` is ``(B, 2h, 2w, ei, ej, K)`` and one small copy of the masks
      (``K`` floats per pixel) puts them in ``(B, K, 4h, 4w)`` raster order.

    No NCHW/NHWC copies of the features and no channel-wise LayerNorm passes.
    """
    window = _window(hw, valid_size)
    if window != tuple(hw):
        part = select_window(src, 1, hw, window)  # (B, rows*cols, C)
        return _pad_masks(upscale_masks(decoder, part, hyper_in, window), hw, window)
    w1, b1 = first_map(decoder)
    x = torch.addmm(b1, src.reshape(-1, src.shape[-1]), w1)  # (B*h*w, (di, dj, c1))
    return _upscale_first(decoder, x.view(src.shape[0], -1, w1.shape[1]), hyper_in, hw)


def _upscale_first(decoder: "MaskDecoder", x: torch.Tensor, hyper_in: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """The rest of :func:`upscale_masks` after the first product ``x (B, h*w, (di, dj, c1))``."""
    h, w = hw
    _, norm, act1, up2, act2 = decoder.output_upscaling
    b = x.shape[0]
    c1, c2 = up2.in_channels, up2.out_channels
    k = hyper_in.shape[1]
    x = x.view(b, h, w, 2, 2, c1).permute(0, 1, 3, 2, 4, 5)  # (B, h, di, w, dj, c1)
    x = first_activation(x, norm, act1)  # contiguous, raster order
    y = second_product(x.reshape(-1, c1), up2, act2)  # (B*4hw, (ei, ej, c2))
    masks = torch.matmul(y.view(b, -1, c2), hyper_in.transpose(1, 2))  # (B, (2h, 2w, ei, ej), K)
    masks = masks.view(b, 2 * h, 2 * w, 2, 2, k).permute(0, 5, 1, 3, 2, 4)  # (B, K, 2h, ei, 2w, ej)
    return masks.reshape(b, k, 4 * h, 4 * w)
