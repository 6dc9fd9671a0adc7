"""Adapters for the two other well-known SAM interfaces, over samlabel's one model and decoder path.

- Hugging Face ``transformers`` style (:mod:`samlabel.sam.compat.hf`): ``SamProcessor``,
  ``SamImageProcessor``, ``SamModel`` and ``SamConfig`` with its three sections.
- tfimm style (:mod:`samlabel.sam.compat.tfimm`): ``SegmentAnythingModelConfig``,
  ``SegmentAnythingModel``, ``SAMPredictor`` and ``ImageResizer``.

Import from the two style modules (their names are the originals', so ``SamConfig`` and
``ImageResizer`` there are not samlabel's own); the package exports the names that clash
with nothing in ``samlabel.sam``. Neither imports ``transformers`` or TensorFlow.
"""

from __future__ import annotations

from samlabel.lazy import lazy_exports

_EXPORTS = {
    "SamProcessor": "samlabel.sam.compat.hf_processor",
    "SamImageProcessor": "samlabel.sam.compat.hf_processor",
    "SamModel": "samlabel.sam.compat.hf_model",
    "SegmentAnythingModelConfig": "samlabel.sam.compat.tfimm_config",
    "SegmentAnythingModel": "samlabel.sam.compat.tfimm_model",
    "SAMPredictor": "samlabel.sam.compat.tfimm_predictor",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
