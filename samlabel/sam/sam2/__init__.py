"""SAM 2.1's API-level pieces over the plain modules of ``samlabel.sam.modeling.sam2``: its image
frame (``transforms``: stretch to the square, per-axis prompt scaling, mask resize), per-image
decoding the reference way (``decoder``) and Meta's ``SAM2ImagePredictor`` (``image_predictor``)."""
