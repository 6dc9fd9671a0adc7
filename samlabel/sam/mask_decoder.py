"""SAM's mask decoder: two-way transformer, upscaling, hypernetwork MLPs and the IoU head.

Official names and maths (``segment_anything.modeling.mask_decoder``), plus ``decode``, the
flattened entry point ``Sam.decode_prompts`` uses so that the per-image tensors (flattened
embedding, positional encoding) are computed once and broadcast over the prompts.
"""

from __future__ import annotations

import torch
from torch import nn

from samlabel.sam.common import MLP, LayerNorm2d


class MaskDecoder(nn.Module):
    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: nn.Module,
        num_multimask_outputs: int = 3,
        activation: type[nn.Module] = nn.GELU,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            activation(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            activation(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth)

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns masks ``(B, K, 4h, 4w)`` and IoU predictions ``(B, K)``; K = 3 or 1."""
        masks, iou_pred = self.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=image_pe,
            sparse_prompt_embeddings=sparse_prompt_embeddings,
            dense_prompt_embeddings=dense_prompt_embeddings,
        )
        return self.select(masks, iou_pred, multimask_output)

    @staticmethod
    def select(masks: torch.Tensor, iou_pred: torch.Tensor, multimask_output: bool):
        """Keep the 3 multimask outputs, or only the single-mask output 0."""
        mask_slice = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, mask_slice, :, :], iou_pred[:, mask_slice]

    def output_tokens(self, sparse_prompt_embeddings: torch.Tensor) -> torch.Tensor:
        """IoU and mask tokens followed by the prompt tokens, ``(B, 1 + M + N, C)``."""
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        output_tokens = output_tokens.unsqueeze(0).expand(sparse_prompt_embeddings.size(0), -1, -1)
        return torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All ``1 + M`` masks and IoU predictions, as the official ``predict_masks``."""
        tokens = self.output_tokens(sparse_prompt_embeddings)
        src = torch.repeat_interleave(image_embeddings, tokens.shape[0], dim=0)
        src = src + dense_prompt_embeddings
        pos_src = torch.repeat_interleave(image_pe, tokens.shape[0], dim=0)
        h, w = src.shape[-2:]
        return self.decode(src.flatten(2).permute(0, 2, 1), pos_src.flatten(2).permute(0, 2, 1), tokens, (h, w))

    def decode(
        self, src: torch.Tensor, pos_src: torch.Tensor, tokens: torch.Tensor, hw: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Flattened image ``(B or 1, h*w, C)``, PE ``(B or 1, h*w, C)``, tokens ``(B, T, C)``
        -> all masks ``(B, 1 + M, 4h, 4w)`` and IoU predictions ``(B, 1 + M)``."""
        hs, src = self.transformer.forward_tokens(src, pos_src, tokens)  # (B, T, C), (B, h*w, C)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : (1 + self.num_mask_tokens), :]

        b, c = src.shape[0], src.shape[2]
        h, w = hw
        src = src.transpose(1, 2).reshape(b, c, h, w)
        upscaled_embedding = self.output_upscaling(src)  # (B, C/8, 4h, 4w)
        hyper_in = torch.stack(
            [self.output_hypernetworks_mlps[i](mask_tokens_out[:, i, :]) for i in range(self.num_mask_tokens)], dim=1
        )  # (B, 1 + M, C/8)
        b, c, h, w = upscaled_embedding.shape
        masks = (hyper_in @ upscaled_embedding.view(b, c, h * w)).view(b, -1, h, w)
        iou_pred = self.iou_prediction_head(iou_token_out)
        return masks, iou_pred
