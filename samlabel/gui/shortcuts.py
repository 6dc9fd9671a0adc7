"""Every keyboard shortcut of the app, in one table.

The main window builds its actions from this table and the help dialog lists it, so the
two can never disagree. Keys use Qt's portable text form (``QKeySequence(text)``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    action: str  # stable id used by the main window, e.g. "accept"
    keys: tuple[str, ...]  # Qt key-sequence strings; the first is the primary one
    description: str
    group: str


SHORTCUTS: tuple[Shortcut, ...] = (
    # Files
    Shortcut("open_image", ("Ctrl+O",), "Open an image", "Files"),
    Shortcut("open_folder", ("Ctrl+Shift+O",), "Open a folder of images as a project", "Files"),
    Shortcut("open_video", ("Ctrl+Shift+V",), "Open a video: its frames become a sequence folder beside it", "Files"),
    Shortcut("save", ("Ctrl+S",), "Save annotations now (autosave also runs after each change)", "Files"),
    Shortcut("next_image", ("D",), "Next image (saves first)", "Files"),
    Shortcut("prev_image", ("A",), "Previous image (saves first)", "Files"),
    Shortcut("first_frame", ("Home",), "First image / frame of the sequence", "Files"),
    Shortcut("last_frame", ("End",), "Last image / frame of the sequence", "Files"),
    Shortcut("export", ("Ctrl+E",), "Export the project", "Files"),
    Shortcut("quit", ("Ctrl+Q",), "Quit", "Files"),
    # Segment Anything
    Shortcut("tool_ai", ("S",), "SAM tool: hover to preview, click to add points, drag for a box", "Segment Anything"),
    Shortcut("accept", ("Return", "Enter"), "Accept the current mask as a shape", "Segment Anything"),
    Shortcut("clear_prompt", ("Esc",), "Clear the prompt", "Segment Anything"),
    Shortcut("remove_last_point", ("Backspace",), "Remove the last point", "Segment Anything"),
    Shortcut("cycle_candidates", ("Tab",), "Cycle the multimask candidates", "Segment Anything"),
    Shortcut("toggle_refine", ("R",), "Feed the previous mask back when refining (on/off)", "Segment Anything"),
    Shortcut("segment_everything", ("Ctrl+Shift+A",), "Segment everything: propose masks for the whole image", "Segment Anything"),
    # Drawing and editing
    Shortcut("tool_polygon", ("P",), "Polygon tool (click vertices, Enter or double-click to close)", "Drawing"),
    Shortcut("tool_rectangle", ("B",), "Rectangle tool", "Drawing"),
    Shortcut("tool_select", ("V",), "Select and edit shapes", "Drawing"),
    Shortcut("delete_shape", ("Delete",), "Delete the selected shapes", "Drawing"),
    Shortcut("change_label", ("Ctrl+L",), "Change the label of the selected shapes", "Drawing"),
    Shortcut("choose_label", ("L",), "Search and choose the current label", "Drawing"),
    Shortcut("label_1_9", ("1", "2", "3", "4", "5", "6", "7", "8", "9"), "Choose label 1-9 of the label list", "Drawing"),
    Shortcut("undo", ("Ctrl+Z",), "Undo", "Drawing"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", "Drawing"),
    # Video
    Shortcut("propagate", ("Ctrl+P",), "Propagate the objects of this frame through the sequence (SAM 2.1)", "Video"),
    Shortcut("toggle_reviewed", ("Ctrl+R",), "Mark this frame reviewed: propagation never overwrites it", "Video"),
    # View
    Shortcut("fit_window", ("F",), "Fit the image to the window", "View"),
    Shortcut("zoom_in", ("Ctrl++", "Ctrl+="), "Zoom in (or the mouse wheel)", "View"),
    Shortcut("zoom_out", ("Ctrl+-",), "Zoom out", "View"),
    Shortcut("pan", ("Space",), "Hold Space and drag (or middle-drag) to pan", "View"),
    Shortcut("opacity_up", ("]",), "More opaque overlays", "View"),
    Shortcut("opacity_down", ("[",), "More transparent overlays", "View"),
    Shortcut("object_colours", ("Ctrl+Shift+C",),
             "Colour shapes by object (label and group id: one colour per tracked object), else by label", "View"),
    Shortcut("help", ("F1",), "Show this list of shortcuts", "Help"),
)


def shortcut(action: str) -> Shortcut:
    """The shortcut with this action id (KeyError if there is none)."""
    for entry in SHORTCUTS:
        if entry.action == action:
            return entry
    raise KeyError(action)
