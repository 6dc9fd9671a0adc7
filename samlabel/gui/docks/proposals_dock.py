"""ProposalsDock: segment-everything proposals to accept or reject, one by one or all at once.

The dock shows the *pending* proposals of a :class:`~samlabel.gui.proposals.ProposalSet`
(best predicted IoU first, with score and area). Decisions go into the set; the dock
listens to the set and emits what changed, whoever changed it (its buttons, or the main
window calling ``proposal_set.accept(...)`` from a click on the canvas).

D1 wiring::

    dock = ProposalsDock(parent=main_window)                  # objectName "proposals_dock"
    segment_dialog.proposalsReady.connect(lambda ps: (dock.set_proposals(ps), dock.show()))
    dock.accepted.connect(main_window.add_proposal_shapes)    # (list[Proposal]) -> one document
        # command: doc.add_shapes(shapes_from_proposals(ps, label, tol), text="Accept proposals")
    dock.rejected.connect(canvas.update_proposals)            # (list[Proposal]) drop overlays
    dock.selectionChanged.connect(canvas.highlight_proposals) # (list[int] proposal ids)
    dock.cleared.connect(canvas.clear_proposals)              # set_proposals(None) / Clear button
    # on image switch: dock.set_proposals(None)

Constructor: ``ProposalsDock(parent=None, title="Proposals")``.

Signals: ``accepted(list proposals)``, ``rejected(list proposals)`` (the proposals that
changed state, with their new state), ``selectionChanged(list ids)``, ``cleared()``.

Methods: ``set_proposals(proposal_set_or_None)``, ``proposals()``, ``selected_ids()``,
``select_ids(ids)`` (no signal), ``accept_selected()``, ``reject_selected()``,
``accept_all()``, ``reject_all()``, ``visible_ids()``. Keys in the list: Enter accepts the
selected rows, Delete / Backspace rejects them (the list takes these keys from the
window's shortcuts while it has focus).
"""

from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from samlabel.gui.docks.binding import bind
from samlabel.gui.proposals import Proposal, ProposalSet, ProposalState, describe

ID_ROLE = Qt.ItemDataRole.UserRole
_ACCEPT_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
_REJECT_KEYS = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)


class ProposalsDock(QDockWidget):
    accepted = Signal(list)
    rejected = Signal(list)
    selectionChanged = Signal(list)
    cleared = Signal()

    def __init__(self, parent: QWidget | None = None, title: str = "Proposals"):
        super().__init__(title, parent)
        self.setObjectName("proposals_dock")
        self._set: ProposalSet | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._updating = False

        body = QWidget(self)
        self.summary = QLabel("No proposals. Run Segment everything (Ctrl+Shift+A).", body)
        self.summary.setWordWrap(True)
        self.list = QListWidget(body)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.installEventFilter(self)
        self.accept_button = QPushButton("Accept", body)
        self.accept_button.setToolTip("Accept the selected proposals as shapes with the current label (Enter)")
        self.reject_button = QPushButton("Reject", body)
        self.reject_button.setToolTip("Reject the selected proposals (Delete)")
        self.accept_all_button = QPushButton("Accept all", body)
        self.reject_all_button = QPushButton("Reject all", body)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.accept_button, 0, 0)
        grid.addWidget(self.reject_button, 0, 1)
        grid.addWidget(self.accept_all_button, 1, 0)
        grid.addWidget(self.reject_all_button, 1, 1)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.summary)
        layout.addWidget(self.list)
        layout.addLayout(grid)
        self.setWidget(body)

        self.accept_button.clicked.connect(self.accept_selected)
        self.reject_button.clicked.connect(self.reject_selected)
        self.accept_all_button.clicked.connect(self.accept_all)
        self.reject_all_button.clicked.connect(self.reject_all)
        self.list.itemSelectionChanged.connect(self._on_selection)
        self._refresh()

    # ---------------------------------------------------------------- binding
    def proposals(self) -> ProposalSet | None:
        return self._set

    def set_proposals(self, proposals: ProposalSet | None) -> None:
        """Show this set (None clears the dock and emits ``cleared``)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        had = self._set is not None
        self._set = proposals
        if proposals is not None:
            self._unsubscribe = bind(self, proposals, self._on_set_changed)
        self._refresh()
        if proposals is None and had:
            self.cleared.emit()

    def _on_set_changed(self, changed: list[Proposal]) -> None:
        next_row = self._first_selected_row()
        self._refresh()
        if self.list.count() and next_row is not None and not self.selected_ids():
            self.list.setCurrentRow(min(next_row, self.list.count() - 1))  # keyboard flow: next one
        accepted = [p for p in changed if p.state == ProposalState.ACCEPTED]
        rejected = [p for p in changed if p.state == ProposalState.REJECTED]
        if accepted:
            self.accepted.emit(accepted)
        if rejected:
            self.rejected.emit(rejected)

    # ---------------------------------------------------------------- view
    def _refresh(self) -> None:
        selected = set(self.selected_ids())
        pending = self._set.pending() if self._set is not None else []
        self._updating = True
        try:
            self.list.clear()
            for proposal in pending:
                item = QListWidgetItem(describe(proposal), self.list)
                item.setData(ID_ROLE, proposal.id)
                item.setSelected(proposal.id in selected)
        finally:
            self._updating = False
        if self._set is None:
            self.summary.setText("No proposals. Run Segment everything (Ctrl+Shift+A).")
        else:
            counts = self._set.counts()
            self.summary.setText(
                f"{counts[ProposalState.PENDING]} pending · {counts[ProposalState.ACCEPTED]} accepted · "
                f"{counts[ProposalState.REJECTED]} rejected"
            )
        has_pending = bool(pending)
        self.accept_all_button.setEnabled(has_pending)
        self.reject_all_button.setEnabled(has_pending)
        self._update_buttons()
        if set(self.selected_ids()) != selected:
            self.selectionChanged.emit(self.selected_ids())

    def _update_buttons(self) -> None:
        has_selection = bool(self.selected_ids())
        self.accept_button.setEnabled(has_selection)
        self.reject_button.setEnabled(has_selection)

    def visible_ids(self) -> list[int]:
        return [self.list.item(i).data(ID_ROLE) for i in range(self.list.count())]

    # ---------------------------------------------------------------- selection
    def selected_ids(self) -> list[int]:
        return [self.list.item(i).data(ID_ROLE) for i in range(self.list.count()) if self.list.item(i).isSelected()]

    def select_ids(self, ids: Iterable[int]) -> None:
        """Select these proposals (e.g. clicked on the canvas) without emitting."""
        wanted = set(ids)
        self._updating = True
        try:
            self.list.clearSelection()
            for i in range(self.list.count()):
                item = self.list.item(i)
                if item.data(ID_ROLE) in wanted:
                    item.setSelected(True)
                    self.list.scrollToItem(item)
        finally:
            self._updating = False
        self._update_buttons()

    def _first_selected_row(self) -> int | None:
        rows = [i for i in range(self.list.count()) if self.list.item(i).isSelected()]
        return rows[0] if rows else None

    def _on_selection(self) -> None:
        self._update_buttons()
        if not self._updating:
            self.selectionChanged.emit(self.selected_ids())

    # ---------------------------------------------------------------- decisions
    def accept_selected(self) -> list[Proposal]:
        return self._set.accept(self.selected_ids()) if self._set is not None else []

    def reject_selected(self) -> list[Proposal]:
        return self._set.reject(self.selected_ids()) if self._set is not None else []

    def accept_all(self) -> list[Proposal]:
        return self._set.accept_all() if self._set is not None else []

    def reject_all(self) -> list[Proposal]:
        return self._set.reject_all() if self._set is not None else []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.list and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            key = event.key()
            if key in _ACCEPT_KEYS or key in _REJECT_KEYS:
                if event.type() == QEvent.Type.ShortcutOverride:
                    event.accept()  # the list handles these keys, not the window's actions
                    return True
                (self.accept_selected if key in _ACCEPT_KEYS else self.reject_selected)()
                return True
        return super().eventFilter(watched, event)
