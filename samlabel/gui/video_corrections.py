"""Corrections carried on: a person's change to a propagated frame re-propagates the frames
propagation wrote after it (Video ▸ Re-propagate corrections, on by default).

:class:`CorrectionCarrier` belongs to the
:class:`~samlabel.gui.video_controller.VideoController`, which tells it what happened to the
open frame and runs the propagations it asks for:

- a frame read from disk (opened, or reloaded after another program's or a propagation's
  write: :func:`is_reload`) is remembered by its shapes' digest
  (:func:`~samlabel.gui.timeline_model.shapes_digest`): :meth:`CorrectionCarrier.remember_shapes`;
- a save whose shapes differ from that (not a flag, not a description) is a correction, if
  propagation wrote frames from it or past it
  (:meth:`~samlabel.gui.timeline_model.TimelineModel.repropagations`): it waits
  :attr:`CorrectionCarrier.delay_ms` after the last saved edit, so a burst of clicks makes one
  run (:meth:`CorrectionCarrier.note`);
- :meth:`CorrectionCarrier.carry` starts the oldest waiting correction's first run (forward,
  then backward for a frame propagated both ways); the other runs follow when it stops
  (:meth:`CorrectionCarrier.resume`). Correcting again the frame a run is carrying stops that
  run and starts it anew; a run the user started is never stopped for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, QTimer

from samlabel.annotations.document import ChangeReason
from samlabel.gui.timeline_model import shapes_digest
from samlabel.gui.workspace_save import RELOAD_TEXT

REPROPAGATE_DELAY_MS = 1500  # a correction is carried on once its frame has been still this long


def is_reload(document_change) -> bool:
    """A document change that is the sidecar read again (another program's or a propagation's
    write), not a person's edit."""
    return (document_change is not None and document_change.reason == ChangeReason.EDIT
            and document_change.text == RELOAD_TEXT)


class CorrectionCarrier(QObject):
    """See the module docstring. ``controller``: the window's VideoController."""

    def __init__(self, controller) -> None:
        super().__init__(controller)
        self.controller = controller
        self.window = controller.window
        self.enabled = True
        self.delay_ms = REPROPAGATE_DELAY_MS
        self._waiting: list[str] = []  # frames corrected, waiting for their runs, in the order made
        self._plans: list = []  # (frame, Repropagation): the further runs of the correction being carried
        self._known: dict[str, str] = {}  # frame name -> its shapes' digest as read or last corrected
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.carry)

    @property
    def pending(self) -> tuple[str, ...]:
        """The frames whose corrections wait to be carried on, in the order made."""
        return tuple(self._waiting)

    def drop(self) -> None:
        """Forget the corrections waiting (Stop, turned off)."""
        self._timer.stop()
        self._waiting = []
        self._plans = []

    def reset(self) -> None:
        """Another sequence: nothing waits, nothing is known."""
        self.drop()
        self._known = {}

    def put_back(self, frame: str) -> None:
        """``frame``'s run was stopped for the user's: carry it again first."""
        self._waiting.insert(0, frame)

    def remember_shapes(self) -> None:
        """The open frame's shapes as they are now are no correction (read from disk)."""
        document, image = self.window.document, self.window.image_path
        if document is not None and image is not None:
            self._known[image.name] = shapes_digest(document.annotation)

    def note(self, image: Optional[Path]) -> None:
        """The open frame was saved: if its shapes changed and propagation wrote frames from it
        or past it, carry the change on once the frame has been still for :attr:`delay_ms`."""
        document, timeline = self.window.document, self.controller.timeline
        if image is None or document is None or timeline is None:
            return
        digest = shapes_digest(document.annotation)
        if self._known.get(image.name) == digest:
            return  # a flag, a description, a save of what was read: no correction
        self._known[image.name] = digest
        if not self.enabled:
            return
        index = timeline.index_of(image.name)
        if index < 0 or not timeline.repropagations(index):
            return
        if image.name not in self._waiting:
            self._waiting.append(image.name)
        self._timer.start(self.delay_ms)  # restarted by every edit: one run a burst

    def resume(self) -> None:
        """A run stopped: the runs waiting for it start (unless an edit is still settling)."""
        if (self._plans or self._waiting) and not self._timer.isActive():
            self._timer.start(0)

    def carry(self) -> None:
        """Carry on the oldest waiting correction now (the timer's slot; its other direction
        and the other corrections follow when its run stops)."""
        self._timer.stop()
        controller = self.controller
        timeline = controller.timeline
        if timeline is None or self.window.project is None:
            self.drop()
            return
        task = controller.propagate_task
        if task is not None and task.is_running():
            if controller.automatic_run is not None and controller.automatic_run in self._waiting:
                task.cancel()  # the frame it carries was corrected again: it starts anew when it stops
            return  # otherwise the corrections wait for the run going (resume)
        if not self._plans:
            while self._waiting:
                name = self._waiting.pop(0)
                controller.refresh_frames([name])
                index = timeline.index_of(name)
                self._plans = [(name, p) for p in (timeline.repropagations(index) if index >= 0 else [])]
                if self._plans:
                    break
        if not self._plans:
            return
        name, plan = self._plans.pop(0)
        from samlabel.gui.dialogs.propagate_dialog import PropagateOptions

        options = PropagateOptions(reverse=plan.reverse, max_frames=plan.frames, overwrite=False)
        if controller.start_propagation(options, source=plan.source, automatic=name) is not None:
            way = "backward" if plan.reverse else "forward"
            origin = self.window.project.images[plan.source].name
            via = "" if origin == name else f" from {origin}"
            self.window.statusBar().showMessage(
                f"Carrying the correction on {name}{via} {way} over {plan.frames} frame(s) "
                "(Video ▸ Stop propagation; Video ▸ Re-propagate corrections turns this off)", 15000)
