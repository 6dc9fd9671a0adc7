"""Segment everything: run the automatic mask generator in a task, hand back a ProposalSet.

``SamAutomaticMaskGenerator.generate(image, progress=, cancel=)`` runs on a worker thread
(:class:`~samlabel.gui.tasks.Task`); the dialog shows its progress (decoder batches done of
total) and a Cancel button. On success it emits ``proposalsReady(ProposalSet)`` and closes;
the proposals dock shows them for the user to accept or reject.

D1 wiring (the "segment_everything" action, Ctrl+Shift+A)::

    dialog = SegmentEverythingDialog(image_rgb, model=sam_model, image_key=str(image_path),
                                     parent=main_window)
    dialog.proposalsReady.connect(main_window.show_proposals)   # (object ProposalSet)
    dialog.open()                 # non-blocking; or dialog.start() right away (autostart=True)

    # on image switch while it runs: dialog.cancel() (the ProposalSet's image_key also tells
    # which image a late result belongs to)

``SegmentEverythingDialog(image, model=None, generator=None, image_key=None, parent=None,
autostart=False)``: ``image`` is ``(H, W, 3)`` uint8 RGB. Give ``model`` (a Sam) and the dialog
builds the generator from its options (density, minimum predicted IoU, stability, minimum
area), or give a ready ``generator`` (anything with ``generate(image, progress=, cancel=)``).

Signals: ``proposalsReady(object proposal_set)``, ``failed(str message)``,
``nothingFound(str message)`` (no proposal passed the filters: the dialog stays open and
says which thresholds to lower).
Methods: ``start()``, ``cancel()``, ``task``, ``proposals`` (the last ProposalSet or None).

Without the dialog: ``run_segment_everything(generator, image, image_key, min_area, parent)``
returns a started Task whose ``finished`` carries the ProposalSet.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QPushButton,
    QSpinBox,
)

from samlabel.gui.proposals import ProposalSet, Thresholds, no_proposals_message
from samlabel.gui.dialogs.task_dialog import TaskDialog
from samlabel.gui.tasks import Task
from samlabel.gui.transient_thread import run_on_transient_thread


def run_segment_everything(
    generator: Any, image: np.ndarray, image_key: str | None = None, min_area: int = 0,
    parent: QObject | None = None,
) -> Task:
    """Start ``generator.generate(image)`` in a Task; ``finished`` carries a ProposalSet."""

    def work(*, progress, cancel):  # worker thread
        # the model runs on a thread that ends with it, so its OpenMP team does not linger in
        # the task pool and slow the hover decoder (see samlabel.gui.transient_thread)
        records = run_on_transient_thread(lambda: generator.generate(image, progress=progress, cancel=cancel),
                                          name="samlabel-everything")
        return ProposalSet.from_records(records, image_key=image_key, min_area=min_area)

    return Task(work, parent=parent).start()


class SegmentEverythingDialog(TaskDialog):
    proposalsReady = Signal(object)
    failed = Signal(str)
    nothingFound = Signal(str)  # the run found no proposal: the message (lower the thresholds)

    def __init__(self, image: np.ndarray, model: Any = None, generator: Any = None, image_key: str | None = None,
                 parent=None, autostart: bool = False):
        super().__init__(parent)
        if model is None and generator is None:
            raise ValueError("SegmentEverythingDialog needs a model or a generator")
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}")
        self.setWindowTitle("Segment everything")
        self.setMinimumWidth(420)
        self._image = image
        self._model = model
        self._generator = generator
        self._image_key = image_key
        self._started_at = 0.0
        self._set_status(f"Image {image.shape[1]}×{image.shape[0]}")
        self.proposals: ProposalSet | None = None

        self.points_spin = QSpinBox(self)
        self.points_spin.setRange(4, 64)
        self.points_spin.setValue(32)
        self.points_spin.setSuffix(" points per side")
        self.points_spin.setToolTip("Points per side of the prompt grid: more finds smaller objects, takes longer")
        # the reference default of the model's family (SAM 2's generator keeps from 0.8, SAM 1's 0.88)
        sam2 = model is not None and hasattr(model, "sam_mask_decoder")
        self.iou_spin = self._fraction(0.8 if sam2 else 0.88, "Keep masks whose predicted IoU is at least this")
        self.stability_spin = self._fraction(0.95, "Keep masks whose stability score is at least this")
        self.area_spin = QSpinBox(self)
        self.area_spin.setRange(0, 1_000_000)
        self.area_spin.setValue(100)
        self.area_spin.setSuffix(" px")
        self.area_spin.setToolTip("Leave out proposals smaller than this")
        self.start_button = QPushButton("Start", self)
        self.start_button.setDefault(True)

        form = QFormLayout()
        form.addRow("Density:", self.points_spin)
        form.addRow("Min. predicted IoU:", self.iou_spin)
        form.addRow("Min. stability:", self.stability_spin)
        form.addRow("Min. area:", self.area_spin)
        if generator is not None:  # a ready generator: its own parameters apply
            for spin in (self.points_spin, self.iou_spin, self.stability_spin):
                spin.setEnabled(False)
        self._lay_out(form, self.start_button)

        self.start_button.clicked.connect(self.start)
        if autostart:
            self.start()

    def _fraction(self, value: float, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox(self)
        spin.setRange(0.0, 1.0)
        spin.setSingleStep(0.01)
        spin.setDecimals(2)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    def _make_generator(self) -> Any:
        if self._generator is not None:
            return self._generator
        from samlabel.sam.automatic_mask_generator import SamAutomaticMaskGenerator

        return SamAutomaticMaskGenerator(
            self._model,
            points_per_side=self.points_spin.value(),
            pred_iou_thresh=self.iou_spin.value(),
            stability_score_thresh=self.stability_spin.value(),
            output_mode="coco_rle",  # compact; Proposal.mask() decodes on demand
            sort_by="predicted_iou",
        )

    # ---------------------------------------------------------------- running
    def start(self) -> Task | None:
        if self.is_running():
            return self.task
        try:
            generator = self._make_generator()
        except (ValueError, TypeError) as exc:
            self._set_status(f"Cannot start: {exc}", error=True)
            return None
        self._set_busy(True)
        self.progress_bar.setRange(0, 0)
        self._set_status("Computing the image embedding…")
        self._started_at = time.monotonic()
        return self._watch(run_segment_everything(generator, self._image, self._image_key, self.area_spin.value(), parent=self))

    def _set_busy(self, busy: bool) -> None:
        self.start_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        for spin in (self.points_spin, self.iou_spin, self.stability_spin, self.area_spin):
            spin.setEnabled(not busy and (self._generator is None or spin is self.area_spin))

    def _on_progress(self, done: int, total: int, _message: str) -> None:
        if total > 0:
            self._show_progress(done, total)
            self._set_status(f"Prompted {done} of {total} grid points…")

    def _on_finished(self, proposals: object) -> None:
        self._set_busy(False)
        self._show_ended(True)
        assert isinstance(proposals, ProposalSet)
        self.proposals = proposals
        seconds = time.monotonic() - self._started_at
        if not len(proposals):  # stay open: say why, so the user can lower the thresholds
            self._set_status(no_proposals_message(self._thresholds(), proposals.too_small), error=True)
            self.nothingFound.emit(self.status_label.text())
            return
        self._set_status(f"Found {len(proposals)} proposal(s) in {seconds:.1f} s.")
        self.proposalsReady.emit(proposals)
        self.accept()

    def _thresholds(self) -> Thresholds:
        """The filters of the last run (a ready generator's own, where it has them)."""
        gen = self._generator
        return Thresholds(
            pred_iou=float(getattr(gen, "pred_iou_thresh", self.iou_spin.value())),
            stability=float(getattr(gen, "stability_score_thresh", self.stability_spin.value())),
            min_area=self.area_spin.value(),
        )

    def _on_failed(self, message: str) -> None:
        self._set_busy(False)
        self._show_ended(False)
        self._set_status(f"Segment everything failed: {message}", error=True)
        self.failed.emit(message)

    def _on_cancelled(self) -> None:
        self._set_busy(False)
        super()._on_cancelled()
