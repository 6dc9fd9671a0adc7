"""EdgeTAM (Meta's on-device Track Anything Model) in plain PyTorch.

EdgeTAM is SAM 2.1's video design with a RepViT-M1 image encoder (:mod:`.repvit`, under
SAM 2's FPN neck), a memory attention of 2 layers whose cross-attention rotates a few
compressed memory tokens (:mod:`.memory_attention`), and a spatial Perceiver
(:mod:`.perceiver`) that turns each frame's ``64 x 64`` memory into 256 + 256 tokens.
Everything else (prompt encoder, mask decoder, memory encoder, the tracking logic of
``SAM2VideoBase``) is samlabel's SAM 2 code, reused. Weights: Hugging Face
``EdgeTamVideoModel`` (``facebook/EdgeTAM``) through :mod:`.hf_mapping`.
"""

from samlabel.sam.modeling.edgetam.config import EDGETAM_CONFIG, EdgeTamConfig, PerceiverConfig, RepVitConfig

__all__ = ["EDGETAM_CONFIG", "EdgeTamConfig", "PerceiverConfig", "RepVitConfig"]
