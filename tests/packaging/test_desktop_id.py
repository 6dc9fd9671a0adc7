"""The running app announces the same freedesktop id as the shipped desktop entry."""

from __future__ import annotations

from pathlib import Path

from samlabel.gui.app import DESKTOP_ID, _ensure_app

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def test_app_desktop_file_name_matches_the_shipped_entry(qapp):
    app = _ensure_app()
    assert app.desktopFileName() == DESKTOP_ID
    assert (PACKAGING / f"{DESKTOP_ID}.desktop").is_file()
    assert (PACKAGING / f"{DESKTOP_ID}.metainfo.xml").is_file()
