"""The plain, reference-shaped models: one folder per model family, beside their shared blocks.

``sam1/`` holds SAM 1 (ViT-B/L/H) and MobileSAM (TinyViT), module for module as Meta's
``segment_anything/modeling``. ``input_checks.py`` holds the prompt and embedding checks that
both families' decoders share. Nothing here imports ``samlabel.sam.fast``: the fast paths read
these modules' weights from outside (an import contract in ``pyproject.toml`` checks it).
"""
