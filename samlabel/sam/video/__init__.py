"""Video tracking: Meta's ``SAM2VideoPredictor`` API over SAM 2.1 (``sam2_video_predictor``),
EdgeTAM behind the same API (``edgetam_video_predictor``), and the frames of a video decoded
on first use (``frames``)."""
