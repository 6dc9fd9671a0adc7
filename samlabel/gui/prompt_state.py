"""What the user has told SAM about the current object (no Qt here).

A :class:`PromptState` collects clicked points (positive/negative), an optional box, the
hover point, the low-res logits of the last prediction (fed back as ``mask_input`` when
refining) and which multimask candidate is shown. :meth:`PromptState.snapshot` turns it into
an immutable :class:`PromptSnapshot` that is safe to hand to the decoder thread.

Rules (as in X-AnyLabeling / ISAT):

- While nothing is clicked, the hover point is the prompt (a single positive point).
- Once a point or a box exists, hovering no longer changes the prompt.
- Refinement feeds the previous logits of the chosen candidate only when there are clicks
  beyond the first (the first click has nothing to refine) and the toggle is on.
- With one point and no box SAM is ambiguous: ask for 3 candidates; otherwise one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

POSITIVE = 1
NEGATIVE = 0


@dataclass(frozen=True)
class PromptSnapshot:
    """An immutable prompt, coordinates in original-image pixels.

    Attributes:
        points: ``(N, 2)`` float32 ``(x, y)``; ``N`` may be 0.
        labels: ``(N,)`` int32, 1 positive / 0 negative.
        box: ``(4,)`` float32 ``(x0, y0, x1, y1)`` or ``None``.
        mask_input: ``(1, 256, 256)`` float32 low-res logits or ``None``.
        multimask: whether to ask for the 3 candidates.
        is_hover: the prompt is the hover point only.
    """

    points: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    box: np.ndarray | None = field(repr=False)
    mask_input: np.ndarray | None = field(repr=False)
    multimask: bool
    is_hover: bool

    @property
    def empty(self) -> bool:
        return len(self.points) == 0 and self.box is None


class PromptState:
    """Mutable prompt of the object being segmented; lives on the UI thread."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []
        self.labels: list[int] = []
        self.box: tuple[float, float, float, float] | None = None
        self.hover: tuple[float, float] | None = None
        self.prev_logits: np.ndarray | None = None  # (K, 256, 256) of the last click prediction
        self.candidate_index: int = 0
        self.num_candidates: int = 0
        self.refine: bool = True

    # ----------------------------------------------------------------- queries
    @property
    def has_clicks(self) -> bool:
        """Points or a box were given: hover no longer drives the prompt."""
        return bool(self.points) or self.box is not None

    def snapshot(self) -> PromptSnapshot:
        """The prompt to decode now (empty when there is neither a click nor a hover)."""
        if self.has_clicks:
            pts = np.asarray(self.points, dtype=np.float32).reshape(-1, 2)
            lbl = np.asarray(self.labels, dtype=np.int32).reshape(-1)
            box = None if self.box is None else np.asarray(self.box, dtype=np.float32)
            mask_input = None
            if self.refine and self.prev_logits is not None and len(self.points) + (box is not None) > 1:
                k = min(self.candidate_index, len(self.prev_logits) - 1)
                mask_input = np.asarray(self.prev_logits[k : k + 1], dtype=np.float32)
            multimask = box is None and len(self.points) == 1
            return PromptSnapshot(pts, lbl, box, mask_input, multimask, is_hover=False)
        if self.hover is not None:
            pts = np.asarray([self.hover], dtype=np.float32)
            return PromptSnapshot(pts, np.ones(1, np.int32), None, None, True, is_hover=True)
        return PromptSnapshot(np.zeros((0, 2), np.float32), np.zeros(0, np.int32), None, None, True, is_hover=False)

    # ---------------------------------------------------------------- changes
    def set_hover(self, x: float, y: float) -> bool:
        """Move the hover point; True when that changes the prompt (no clicks yet)."""
        self.hover = (float(x), float(y))
        return not self.has_clicks

    def clear_hover(self) -> bool:
        self.hover = None
        return not self.has_clicks

    def add_point(self, x: float, y: float, positive: bool = True) -> None:
        self.points.append((float(x), float(y)))
        self.labels.append(POSITIVE if positive else NEGATIVE)

    def remove_last_point(self) -> bool:
        """Remove the newest point (or the box when there are no points). False if nothing to remove."""
        if self.points:
            self.points.pop()
            self.labels.pop()
        elif self.box is not None:
            self.box = None
        else:
            return False
        if not self.has_clicks:
            self.prev_logits = None
        return True

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def clear(self) -> None:
        """Forget everything but the hover point and the refine toggle."""
        self.points.clear()
        self.labels.clear()
        self.box = None
        self.prev_logits = None
        self.candidate_index = 0
        self.num_candidates = 0

    def toggle_refine(self) -> bool:
        self.refine = not self.refine
        return self.refine

    def set_prediction(self, logits: np.ndarray, best_index: int, from_clicks: bool) -> None:
        """Record a prediction's ``(K, 256, 256)`` logits; the best candidate becomes current."""
        self.num_candidates = int(len(logits))
        self.candidate_index = int(best_index)
        if from_clicks:
            self.prev_logits = logits

    def cycle_candidate(self) -> int:
        """Show the next multimask candidate; returns its index."""
        if self.num_candidates > 1:
            self.candidate_index = (self.candidate_index + 1) % self.num_candidates
        return self.candidate_index
