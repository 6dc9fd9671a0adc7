"""SAM 1 and MobileSAM: image encoders (ViT, TinyViT), prompt encoder, mask decoder, ``Sam``."""
