"""Every ``QAction`` of the main window, built from :data:`samlabel.gui.shortcuts.SHORTCUTS`.

The table is the single source of keys and descriptions (the help dialog lists the same
table), so a shortcut can never differ between the menus and the help.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from samlabel.gui.shortcuts import SHORTCUTS

# actions that exist only to show the key in menus/help, handled elsewhere (canvas, label list)
_NOT_ACTIONS = {"pan", "label_1_9"}

# short menu texts; the table's description becomes the tooltip / status tip
MENU_TEXT = {
    "open_image": "&Open image…",
    "open_folder": "Open &folder…",
    "save": "&Save",
    "next_image": "&Next image",
    "prev_image": "&Previous image",
    "open_video": "Open &video…",
    "first_frame": "F&irst frame",
    "last_frame": "&Last frame",
    "propagate": "&Propagate…",
    "toggle_reviewed": "Mark &reviewed",
    "export": "&Export…",
    "quit": "&Quit",
    "tool_ai": "&SAM tool",
    "accept": "&Accept mask",
    "clear_prompt": "&Clear prompt",
    "remove_last_point": "Remove last &point",
    "cycle_candidates": "Next &candidate",
    "toggle_refine": "&Refine with previous mask",
    "segment_everything": "Segment &everything…",
    "tool_polygon": "&Polygon tool",
    "tool_rectangle": "&Rectangle tool",
    "tool_select": "S&elect / edit tool",
    "delete_shape": "&Delete",
    "change_label": "Change &label…",
    "choose_label": "C&hoose current label…",
    "undo": "&Undo",
    "redo": "&Redo",
    "fit_window": "&Fit to window",
    "zoom_in": "Zoom &in",
    "zoom_out": "Zoom &out",
    "opacity_up": "More opaque overlays",
    "opacity_down": "More transparent overlays",
    "help": "&Keyboard shortcuts",
}

CHECKABLE = {"tool_ai", "tool_polygon", "tool_rectangle", "tool_select", "toggle_refine", "toggle_reviewed", "object_colours"}


def build_actions(parent, handlers: dict[str, Callable[[], object]]) -> dict[str, QAction]:
    """One QAction per table entry (except pan/label keys), triggering ``handlers[action]``."""
    actions: dict[str, QAction] = {}
    for entry in SHORTCUTS:
        if entry.action in _NOT_ACTIONS:
            continue
        act = QAction(MENU_TEXT.get(entry.action, entry.description), parent)
        act.setObjectName(f"action_{entry.action}")
        act.setShortcuts([QKeySequence(k) for k in entry.keys])
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.setToolTip(f"{entry.description} ({entry.keys[0]})")
        act.setStatusTip(entry.description)
        act.setCheckable(entry.action in CHECKABLE)
        handler = handlers.get(entry.action)
        if handler is not None:
            act.triggered.connect(lambda _checked=False, h=handler: h())
        else:
            act.setEnabled(False)
        parent.addAction(act)
        actions[entry.action] = act
    return actions


def label_key_actions(parent, choose: Callable[[int], None]) -> list[QAction]:
    """Keys 1-9 choose the n-th label of the list."""
    entry = next(e for e in SHORTCUTS if e.action == "label_1_9")
    out = []
    for i, key in enumerate(entry.keys):
        act = QAction(f"Label {i + 1}", parent)
        act.setShortcut(QKeySequence(key))
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.triggered.connect(lambda _c=False, n=i: choose(n))
        parent.addAction(act)
        out.append(act)
    return out
