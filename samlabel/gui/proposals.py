"""Segment-everything proposals and the user's accept/reject decisions (no Qt).

The automatic mask generator returns the official record dicts (``segmentation``,
``area``, ``bbox`` XYWH, ``predicted_iou``, ``stability_score``, ``point_coords``,
``crop_box``). :class:`ProposalSet` turns them into :class:`Proposal` objects, sorted
best first, each ``pending`` until the user accepts or rejects it::

    proposals = ProposalSet.from_records(records, image_key="/data/img1.jpg")
    accepted = proposals.accept([0, 3])   # -> [Proposal, ...] that changed state
    proposals.reject_all()                # every pending one
    proposals.pending()                   # what is still on screen as a suggestion

``accept``/``reject`` return only the proposals whose state changed, so the caller
(the main window) turns exactly those into document commands (accept) or removes
their overlays (reject). Listeners registered with ``subscribe(callback)`` are called
with the list of changed proposals after each change.

Segmentations may be a ``(H, W)`` bool array, or COCO RLE (``{"size", "counts"}``,
decoded on demand with pycocotools) when the generator ran with
``output_mode="coco_rle"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np


class ProposalState(str, Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Proposal:
    """One proposed mask. ``id`` is stable within its set; ``bbox`` is XYWH in pixels."""

    id: int
    segmentation: Any = field(repr=False)  # (H, W) bool array or COCO RLE dict
    area: int
    bbox: tuple[float, float, float, float]
    score: float  # predicted IoU
    stability: float
    point: tuple[float, float] | None = None
    state: ProposalState = ProposalState.PENDING

    def mask(self) -> np.ndarray:
        """The mask as a ``(H, W)`` bool array."""
        seg = self.segmentation
        if isinstance(seg, Mapping):
            from samlabel.annotations import rle_to_mask  # compressed or uncompressed COCO RLE

            return rle_to_mask(dict(seg))
        return np.asarray(seg, dtype=bool)


Listener = Callable[[list[Proposal]], None]


class ProposalSet:
    """Proposals for one image with accept/reject state; see the module docstring."""

    def __init__(self, proposals: Iterable[Proposal] = (), image_key: str | None = None, too_small: int = 0):
        self.image_key = image_key
        self.too_small = too_small  # generator masks left out by ``min_area``
        self._items: dict[int, Proposal] = {}
        for proposal in proposals:
            if proposal.id in self._items:
                raise ValueError(f"duplicate proposal id {proposal.id}")
            self._items[proposal.id] = proposal
        self._listeners: list[Listener] = []

    @classmethod
    def from_records(
        cls, records: Sequence[Mapping[str, Any]], image_key: str | None = None, min_area: int = 0
    ) -> "ProposalSet":
        """Proposals from generator records, best ``predicted_iou`` first, ids 0..N-1.

        Records smaller than ``min_area`` pixels are left out.
        """
        kept = [r for r in records if int(r["area"]) >= min_area]
        kept.sort(key=lambda r: (-float(r.get("predicted_iou", 0.0)), -int(r["area"])))
        proposals = []
        for i, record in enumerate(kept):
            points = record.get("point_coords")
            point = tuple(float(v) for v in points[0]) if points is not None and len(points) else None
            proposals.append(
                Proposal(
                    id=i,
                    segmentation=record["segmentation"],
                    area=int(record["area"]),
                    bbox=tuple(float(v) for v in record["bbox"]),  # type: ignore[arg-type]
                    score=float(record.get("predicted_iou", 0.0)),
                    stability=float(record.get("stability_score", 0.0)),
                    point=point,  # type: ignore[arg-type]
                )
            )
        return cls(proposals, image_key=image_key, too_small=len(records) - len(kept))

    # ---------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        return iter(self._items.values())

    def __getitem__(self, proposal_id: int) -> Proposal:
        return self._items[proposal_id]

    def all(self) -> list[Proposal]:
        return list(self._items.values())

    def ids(self) -> list[int]:
        return list(self._items)

    def with_state(self, state: ProposalState) -> list[Proposal]:
        return [p for p in self._items.values() if p.state == state]

    def pending(self) -> list[Proposal]:
        return self.with_state(ProposalState.PENDING)

    def accepted(self) -> list[Proposal]:
        return self.with_state(ProposalState.ACCEPTED)

    def rejected(self) -> list[Proposal]:
        return self.with_state(ProposalState.REJECTED)

    def counts(self) -> dict[ProposalState, int]:
        result = {state: 0 for state in ProposalState}
        for proposal in self._items.values():
            result[proposal.state] += 1
        return result

    def is_resolved(self) -> bool:
        """True when no proposal is pending any more."""
        return not self.pending()

    # ---------------------------------------------------------------- changes
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(changed)`` after every change; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _set_state(self, ids: Iterable[int], state: ProposalState, only_pending: bool) -> list[Proposal]:
        changed = []
        for proposal_id in dict.fromkeys(ids):  # unique, in order
            if proposal_id not in self._items:
                raise KeyError(f"no proposal with id {proposal_id}")
            current = self._items[proposal_id]
            if current.state == state or (only_pending and current.state != ProposalState.PENDING):
                continue
            updated = replace(current, state=state)
            self._items[proposal_id] = updated
            changed.append(updated)
        if changed:
            for listener in list(self._listeners):
                listener(changed)
        return changed

    def accept(self, ids: Iterable[int]) -> list[Proposal]:
        """Accept these (pending or rejected) proposals; returns those that changed."""
        return self._set_state(ids, ProposalState.ACCEPTED, only_pending=False)

    def reject(self, ids: Iterable[int]) -> list[Proposal]:
        """Reject these pending proposals (accepted ones are shapes already: left as they are)."""
        return self._set_state(ids, ProposalState.REJECTED, only_pending=True)

    def accept_all(self) -> list[Proposal]:
        """Accept every pending proposal."""
        return self.accept([p.id for p in self.pending()])

    def reject_all(self) -> list[Proposal]:
        """Reject every pending proposal."""
        return self.reject([p.id for p in self.pending()])

    def reset(self, ids: Iterable[int]) -> list[Proposal]:
        """Make these proposals pending again (e.g. after the user undid an accept)."""
        return self._set_state(ids, ProposalState.PENDING, only_pending=False)


@dataclass(frozen=True)
class Thresholds:
    """The segment-everything filters a mask must pass to become a proposal."""

    pred_iou: float
    stability: float
    min_area: int = 0


def no_proposals_message(thresholds: Thresholds, too_small: int = 0) -> str:
    """Why segment everything found nothing, and what to try: lower thresholds."""
    if too_small:
        return (f"No proposals: the {too_small} mask(s) found are all smaller than {thresholds.min_area} px. "
                "Lower the minimum area and start again.")
    lower_iou = max(0.0, round(thresholds.pred_iou - 0.1, 2))
    lower_stability = max(0.0, round(thresholds.stability - 0.1, 2))
    return (
        f"No proposals: no mask reached a predicted IoU of {thresholds.pred_iou:.2f} and a stability of "
        f"{thresholds.stability:.2f}. Lower the thresholds (e.g. to {lower_iou:.2f} and {lower_stability:.2f}) "
        "and start again; a denser point grid also finds smaller objects."
    )


def shapes_from_proposals(
    proposals: Iterable[Proposal], label: str, tolerance: float = 1.0, min_area: float = 4.0
) -> list:
    """Polygon shapes (holes kept, simplified by ``tolerance`` pixels) for accepted proposals.

    Proposals whose mask traces to nothing (smaller than ``min_area``) are left out. Add the
    result in ONE document command: ``document.add_shapes(shapes, text="Accept proposals")``.
    """
    from samlabel.annotations import GeometryError, Shape

    shapes = []
    for proposal in proposals:
        try:
            shapes.append(Shape.polygon_from_mask(label, proposal.mask(), tolerance=tolerance, min_area=min_area))
        except GeometryError:
            continue
    return shapes


def describe(proposal: Proposal) -> str:
    """One line for lists: ``#3  IoU 0.93  stab 0.97  1234 px``."""
    return f"#{proposal.id}  IoU {proposal.score:.2f}  stab {proposal.stability:.2f}  {proposal.area} px"
