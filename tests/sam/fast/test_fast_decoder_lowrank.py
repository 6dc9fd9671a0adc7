"""The decoder's fast attention (``fast.attention``: the low-rank forms) and mask head equal the plain modules."""

from __future__ import annotations

import math

import pytest
import torch

from samlabel.sam.fast import mask_head
from samlabel.sam.fast.attention import attend, project
from samlabel.sam.fast.decoder import FastDecoder
from samlabel.sam.fast.prompt_embed import embed_sparse
from samlabel.sam.fast.two_way import forward_tokens
from samlabel.sam.modeling.sam1 import transformer as T


def _plain(att, q, k, v):
    """Textbook multi-head attention with the module's weights (the official maths)."""
    def split(x):
        b, n, c = x.shape
        return x.reshape(b, n, att.num_heads, c // att.num_heads).transpose(1, 2)

    qh, kh, vh = split(att.q_proj(q)), split(att.k_proj(k)), split(att.v_proj(v))
    attn = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(qh.shape[-1]), dim=-1)
    out = attn @ vh
    b, h, n, c = out.shape
    return att.out_proj(out.transpose(1, 2).reshape(b, n, h * c))


@pytest.fixture(scope="module")
def att():
    torch.manual_seed(0)
    module = T.Attention(embedding_dim=64, num_heads=4, downsample_rate=2).eval()  # internal width 32
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.2)
    return module


@pytest.mark.parametrize("batch,image_batch", [(1, 1), (3, 1), (3, 3)])
def test_tokens_to_image_and_image_to_tokens(att, batch, image_batch):
    tokens, image = torch.randn(batch, 5, 64), torch.randn(image_batch, 200, 64)  # 4 heads x 5 < 32
    with torch.no_grad():
        expected_t2i = _plain(att, tokens, image.expand(batch, -1, -1), image.expand(batch, -1, -1))
        torch.testing.assert_close(attend(att, tokens, image, image), expected_t2i, atol=2e-5, rtol=1e-5)
        expected_i2t = _plain(att, image.expand(batch, -1, -1), tokens, tokens)
        torch.testing.assert_close(attend(att, image, tokens, tokens), expected_i2t, atol=2e-5, rtol=1e-5)
        pre_q = project(att, image, "q")
        torch.testing.assert_close(attend(att, None, tokens, tokens, heads=(pre_q, None, None)), expected_i2t,
                                   atol=2e-5, rtol=1e-5)


def test_many_tokens_and_cached_keys_take_the_plain_path(att):
    tokens, image = torch.randn(2, 9, 64), torch.randn(1, 120, 64)  # 4 heads x 9 >= 32
    with torch.no_grad():
        torch.testing.assert_close(attend(att, tokens, image, image),
                                   _plain(att, tokens, image.expand(2, -1, -1), image.expand(2, -1, -1)),
                                   atol=2e-5, rtol=1e-5)
        pre_k, pre_v = project(att, image, "k"), project(att, image, "v")
        torch.testing.assert_close(attend(att, tokens, None, image, heads=(None, pre_k, pre_v)),
                                   _plain(att, tokens, image.expand(2, -1, -1), image.expand(2, -1, -1)),
                                   atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("batch,image_batch", [(1, 1), (3, 1), (3, 3)])
def test_residual_is_added_on_every_path(att, batch, image_batch):
    """``residual=`` gives ``residual + attention`` (folded into the last product on the image side)."""
    tokens, image = torch.randn(batch, 5, 64), torch.randn(image_batch, 200, 64)
    many = torch.randn(batch, 9, 64)  # 4 heads x 9 >= 32: the plain path
    res_img, res_tok = torch.randn(image_batch, 200, 64), torch.randn(batch, 5, 64)
    with torch.no_grad():
        i2t = _plain(att, image.expand(batch, -1, -1), tokens, tokens)
        torch.testing.assert_close(attend(att, image, tokens, tokens, residual=res_img), res_img + i2t,
                                   atol=2e-5, rtol=1e-5)
        t2i = _plain(att, tokens, image.expand(batch, -1, -1), image.expand(batch, -1, -1))
        torch.testing.assert_close(attend(att, tokens, image, image, residual=res_tok), res_tok + t2i,
                                   atol=2e-5, rtol=1e-5)
        plain = _plain(att, many, image.expand(batch, -1, -1), image.expand(batch, -1, -1))
        res_many = torch.randn(batch, 9, 64)
        torch.testing.assert_close(attend(att, many, image, image, residual=res_many), res_many + plain,
                                   atol=2e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def tiny_decoder():
    from samlabel.sam.build import build_sam

    torch.manual_seed(1)
    model = build_sam("test_tiny").eval()
    with torch.no_grad():
        for p in model.mask_decoder.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize("multimask", [True, False])
def test_decoder_computes_only_the_selected_outputs_with_the_same_values(tiny_decoder, multimask):
    """``decode(multimask_output=...)`` leaves out unread tokens and masks, and equals
    the plain ``forward``'s selection applied to all ``1 + M`` outputs (which is the official ``forward`` path)."""
    model = tiny_decoder
    dec = model.mask_decoder
    c = model.prompt_encoder.embed_dim
    h, w = model.grid_size()
    ctx = FastDecoder(model).prepare(torch.randn(1, c, h, w))
    pts = torch.tensor([[[10.0, 20.0], [40.0, 5.0]], [[3.0, 3.0], [60.0, 60.0]]])
    lbl = torch.tensor([[1, 0], [1, 1]])
    with torch.no_grad():
        tokens = mask_head.output_tokens(dec, embed_sparse(model.prompt_encoder, (pts, lbl), None))
        all_masks, all_iou = mask_head.decode(dec, ctx.keys_no_mask, ctx.pe_tokens, tokens, (h, w), ctx.image_side)
        assert all_masks.shape[1] == all_iou.shape[1] == dec.num_mask_tokens
        keep_outputs = slice(1, None) if multimask else slice(0, 1)  # what the plain forward selects
        want_masks, want_iou = all_masks[:, keep_outputs], all_iou[:, keep_outputs]
        masks, iou = mask_head.decode(dec, ctx.keys_no_mask, ctx.pe_tokens, tokens, (h, w), ctx.image_side, multimask)
        torch.testing.assert_close(masks, want_masks, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(iou, want_iou, atol=1e-6, rtol=1e-5)
        # the token subset of the last attention: the kept rows of the full output, exactly
        hs_all = forward_tokens(dec.transformer, ctx.keys_no_mask, ctx.pe_tokens, tokens, ctx.image_side)[0]
        keep = [0, 2, 4]
        hs_keep = forward_tokens(dec.transformer, ctx.keys_no_mask, ctx.pe_tokens, tokens, ctx.image_side, keep)[0]
        torch.testing.assert_close(hs_keep, hs_all[:, keep], atol=1e-5, rtol=1e-5)
        # and the flattened path equals the official module layout
        sparse, dense = model.prompt_encoder(points=(pts, lbl), boxes=None, masks=None)
        ref_masks, ref_iou = dec(ctx.image_embedding, model.prompt_encoder.get_dense_pe(), sparse, dense, multimask)
        torch.testing.assert_close(masks, ref_masks, atol=1e-5, rtol=1e-5)


def test_upscale_masks_equals_the_official_upscaling(tiny_decoder):
    """The per-pixel products equal ``output_upscaling`` (ConvTranspose2d, LayerNorm2d, GELU)
    followed by ``hyper_in @ upscaled`` as in the official ``predict_masks``."""
    dec = tiny_decoder.mask_decoder
    h, w = tiny_decoder.grid_size()
    c = dec.transformer_dim
    src = torch.randn(2, h * w, c)
    hyper_in = torch.randn(2, 3, c // 8)
    with torch.no_grad():
        up = dec.output_upscaling(src.transpose(1, 2).reshape(2, c, h, w))  # (B, C/8, 4h, 4w)
        b, cc, H, W = up.shape
        expected = (hyper_in @ up.view(b, cc, H * W)).view(b, -1, H, W)
        torch.testing.assert_close(mask_head.upscale_masks(dec, src, hyper_in, (h, w)), expected, atol=1e-5, rtol=1e-5)
