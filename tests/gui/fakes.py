"""Controllable stand-ins for the encoder and decoder (timing under the test's control)."""

from __future__ import annotations

import threading

import numpy as np
import torch

from samlabel.sam.embedding import ImageEmbedding, model_id_of
from samlabel.sam.errors import Cancelled


class FakeModel:
    model_id = "fake:1"
    device = torch.device("cpu")


class GatedCompute:
    """An encoder that blocks until released; polls ``cancel`` like the real one.

    ``cooperative=False`` ignores the cancel flag (a result that arrives late anyway).
    The embedding's features are filled with the image's first pixel value, so a test can
    tell which image an embedding was made from.
    """

    def __init__(self, cooperative: bool = True, wrap=None) -> None:
        self.cooperative = cooperative
        self.wrap = wrap  # a real compute function to call once released
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls: list[int] = []
        self.cancelled: list[int] = []
        self.finished: list[int] = []

    def __call__(self, model, image, cancel=None):
        tag = int(image[0, 0, 0])
        self.calls.append(tag)
        self.started.set()
        while not self.release.wait(0.005):
            if self.cooperative and cancel is not None and cancel():
                self.cancelled.append(tag)
                raise Cancelled()
        if self.wrap is not None:
            emb = self.wrap(model, image, cancel=cancel if self.cooperative else None)
        else:
            h, w = image.shape[:2]
            emb = ImageEmbedding(torch.full((1, 2, 4, 4), float(tag)), (h, w), (h, w), model_id_of(model))
        self.finished.append(tag)
        return emb


class FakePrediction:
    def __init__(self, tag: float) -> None:
        self.tag = tag
        self.scores = np.array([0.1, 0.9, 0.5], np.float32)
        self.logits = np.zeros((3, 256, 256), np.float32)
        self.threshold = 0.0

    def best_index(self) -> int:
        return int(np.argmax(self.scores))

    def mask(self, index=None, region=None, out_size=None):
        h, w = out_size
        return np.ones((h, w), bool)


class GatedSession:
    """A decoder session whose first decode blocks until ``gate`` is set."""

    def __init__(self, log: list, gate: threading.Event, entered: threading.Event) -> None:
        self.log, self.gate, self.entered = log, gate, entered

    def decode(self, prompt, image_only=False):
        x = float(prompt.points[0, 0])
        self.log.append(x)
        self.entered.set()
        self.gate.wait(30)
        return FakePrediction(x)


class BlobSession:
    """Wraps the real decoder session; replaces the logits by a smooth disc around the first point.

    Random weights give speckle masks whose polygon tracing is slow and meaningless; the
    disc keeps the real ``Prediction`` (upscaling, thresholds) and makes the accepted shape
    predictable.
    """

    def __init__(self, model, embedding, radius_px: float = 30.0) -> None:
        from samlabel.gui.decoder_service import default_session_factory

        self.inner = default_session_factory(model, embedding)
        self.radius = radius_px

    def decode(self, prompt, image_only=False):
        import dataclasses

        pred = self.inner.decode(prompt, image_only=image_only)
        H, W = pred.original_size
        side = pred.logits.shape[-1]
        scale = side / max(H, W)
        x, y = (float(v) * scale for v in prompt.points[0])
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
        disc = (self.radius * scale) - np.hypot(xx - x, yy - y)
        logits = np.stack([disc * (k + 1) / 3 for k in range(len(pred.scores))]).astype(np.float32)
        return dataclasses.replace(pred, logits=logits)


class ManyBlobsSession(BlobSession):
    """Like :class:`BlobSession` but a grid of 6 x 5 small discs: a fragmented mask."""

    def decode(self, prompt, image_only=False):
        import dataclasses

        pred = self.inner.decode(prompt, image_only=image_only)
        H, W = pred.original_size
        side = pred.logits.shape[-1]
        scale = side / max(H, W)
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
        best = np.full((side, side), -10.0, np.float32)
        for i in range(6):
            for j in range(5):
                cx, cy = (20 + 40 * i) * scale, (16 + 30 * j) * scale
                best = np.maximum(best, 6 * scale - np.hypot(xx - cx, yy - cy))
        logits = np.stack([best] * len(pred.scores)).astype(np.float32)
        return dataclasses.replace(pred, logits=logits)
