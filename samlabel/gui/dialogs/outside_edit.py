"""Ask what to do when another program changed the open image's sidecar.

The main window calls :func:`ask_outside_edit` (looked up on this module at each call, so
tests replace it) before a save that would overwrite an outside edit. It returns the
user's :class:`~samlabel.annotations.sidecar_guard.OutsideEditChoice`, or None when the
dialog was closed without a choice (nothing is saved then; the next save asks again).
The decision logic and the file names live in
:mod:`samlabel.annotations.sidecar_guard`; this is only the message box.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from samlabel.annotations.sidecar_guard import (
    MINE_COPY_TAG,
    OUTSIDE_COPY_TAG,
    OutsideChange,
    OutsideEditChoice,
    copy_base,
)

BUTTONS = (  # all one role, so they stay in this order on every platform
    (OutsideEditChoice.RELOAD_THEIRS, "Reload theirs"),
    (OutsideEditChoice.KEEP_MINE, "Keep mine"),
    (OutsideEditChoice.SAVE_MINE_BESIDE, "Save mine beside it"),
)
_WIDE = "QLabel#qt_msgbox_informativelabel, QLabel#qt_msgbox_label { min-width: 560px; }"


def explanation(change: OutsideChange) -> str:
    """What each choice does, with the file names it would write (rich text)."""
    base = escape(copy_base(change.sidecar))
    theirs = "their deletion (no annotations)" if change.kind == "deleted" else "their version"
    kept = "" if change.kind == "deleted" else f"; theirs is kept as <i>{base}.{OUTSIDE_COPY_TAG}-&lt;time&gt;.json</i>"
    return (
        "Your unsaved changes to this image are not saved yet. What should be kept?"
        "<ul style='-qt-list-indent: 1;'>"
        f"<li><b>Reload theirs</b>: show {theirs}. <b>Your unsaved changes are discarded</b> "
        "(Edit&nbsp;▸&nbsp;Undo brings them back while the image stays open).</li>"
        f"<li><b>Keep mine</b>: save your version as {escape(change.sidecar.name)}{kept}.</li>"
        f"<li><b>Save mine beside it</b>: save your version as <i>{base}.{MINE_COPY_TAG}-&lt;time&gt;.json</i>, "
        f"then show {theirs}.</li>"
        "</ul>"
        f"Folder: {escape(str(change.sidecar.parent))}"
    )


def outside_edit_box(parent: QWidget | None, change: OutsideChange) -> QMessageBox:
    """The message box (not shown); each choice button has the property ``choice``. It
    cannot be closed without a choice (no Escape or Cancel button)."""
    box = QMessageBox(parent)
    box.setObjectName("outside_edit_dialog")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Annotations changed on disk")
    box.setTextFormat(Qt.TextFormat.RichText)  # for both texts: names are escaped
    box.setText(f"<b>{escape(change.describe())}</b>")
    box.setInformativeText(explanation(change))
    box.setStyleSheet(_WIDE)
    for choice, text in BUTTONS:
        button = box.addButton(text, QMessageBox.ButtonRole.ActionRole)
        button.setObjectName(f"choice_{choice.value}")
        button.setProperty("choice", choice.value)
        if choice is OutsideEditChoice.SAVE_MINE_BESIDE:
            box.setDefaultButton(button)  # the choice that loses nothing and overwrites nothing
    return box


def ask_outside_edit(parent: QWidget | None, change: OutsideChange) -> OutsideEditChoice | None:
    """Show the box modally; the choice, or None when it was closed without one."""
    box = outside_edit_box(parent, change)
    box.exec()
    clicked = box.clickedButton()
    value = clicked.property("choice") if clicked is not None else None
    return OutsideEditChoice(value) if value else None
