"""The app's dialogs. Each module's docstring says how the main window uses it.

- :class:`LabelPickerDialog` (``label_picker``): searchable label chooser, can create labels.
- :class:`RenameLabelDialog` (``rename_label``): a label's new name, in every image or not.
- :class:`HelpDialog` (``help_dialog``): every shortcut of ``SHORTCUTS``, grouped.
- :class:`DownloadModelDialog` (``download_dialog``): download a checkpoint with progress.
- :class:`ExportDialog` (``export_dialog``): export the project with progress and problems.
- :class:`SegmentEverythingDialog` (``segment_everything``): run the automatic mask
  generator with progress/cancel and hand back a ``ProposalSet``.
- :class:`AutolabelDialog` (``autolabel_dialog``): auto-label the project folder (boxes to
  masks, or segment-everything proposals) with progress/cancel.

The dialogs that run background work share :class:`~samlabel.gui.dialogs.task_dialog.TaskDialog`
(progress bar, status line, cancel on Close / Esc).

Names are imported lazily so that one dialog's optional dependency (the export code,
the download code) is only loaded when that dialog is used.
"""

from __future__ import annotations

from samlabel.lazy import lazy_exports

_EXPORTS = {
    "LabelPickerDialog": "samlabel.gui.dialogs.label_picker",
    "RenameLabelDialog": "samlabel.gui.dialogs.rename_label",
    "HelpDialog": "samlabel.gui.dialogs.help_dialog",
    "DownloadModelDialog": "samlabel.gui.dialogs.download_dialog",
    "ExportDialog": "samlabel.gui.dialogs.export_dialog",
    "SegmentEverythingDialog": "samlabel.gui.dialogs.segment_everything",
    "AutolabelDialog": "samlabel.gui.dialogs.autolabel_dialog",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
