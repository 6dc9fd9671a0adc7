"""The main window's docks. Each module's docstring says how the main window wires it.

- :class:`LabelsDock` (``labels_dock``): label list, colours, counts, visibility, 1-9 keys.
- :class:`ShapesDock` (``shapes_dock``): shapes of the current image, selection synced.
- :class:`FileListDock` (``file_list_dock``): project images, annotated marks, filter.
- :class:`ProposalsDock` (``proposals_dock``): segment-everything proposals to accept/reject.

Their logic lives in the Qt-free :mod:`samlabel.gui.docks.models` and
:mod:`samlabel.gui.proposals`.
"""

from __future__ import annotations

from samlabel.lazy import lazy_exports

_EXPORTS = {
    "LabelsDock": "samlabel.gui.docks.labels_dock",
    "ShapesDock": "samlabel.gui.docks.shapes_dock",
    "FileListDock": "samlabel.gui.docks.file_list_dock",
    "ProposalsDock": "samlabel.gui.docks.proposals_dock",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
