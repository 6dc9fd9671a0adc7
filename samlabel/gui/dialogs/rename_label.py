"""RenameLabelDialog: a new name for a label, and whether to rename it in every image.

Used by the labels dock's Rename button::

    answer = RenameLabelDialog.get_rename(parent, "car", offer_everywhere=project is not None)
    if answer is not None:
        new_name, everywhere = answer
"""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget


class RenameLabelDialog(QDialog):
    def __init__(self, old: str, offer_everywhere: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Rename label")
        self.edit = QLineEdit(old, self)
        self.edit.selectAll()
        self.everywhere = QCheckBox("Rename in every image of the project", self)
        self.everywhere.setChecked(True)
        self.everywhere.setVisible(offer_everywhere)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"New name for “{old}”:", self))
        layout.addWidget(self.edit)
        layout.addWidget(self.everywhere)
        layout.addWidget(buttons)

    def answer(self) -> tuple[str, bool] | None:
        """``(new name, in every image)``; None when the name is empty."""
        name = self.edit.text().strip()
        if not name:
            return None
        return name, self.everywhere.isVisibleTo(self) and self.everywhere.isChecked()

    @classmethod
    def get_rename(cls, parent: QWidget | None, old: str, offer_everywhere: bool = True) -> tuple[str, bool] | None:
        """Ask modally; None when cancelled or left empty."""
        dialog = cls(old, offer_everywhere, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.answer()
