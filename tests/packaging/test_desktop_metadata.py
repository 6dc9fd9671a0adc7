"""The desktop entry, AppStream metainfo and icons are valid and agree with each other."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
APP_ID = "io.github.samlabel.SamLabel"
DESKTOP = PACKAGING / f"{APP_ID}.desktop"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"
ICONS = ROOT / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def _tool(name: str, package: str) -> str:
    """Path of a validator; missing is a failure under CI (which installs it), else a skip."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package {package}; .ci/run installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_desktop_file_validate_accepts_the_desktop_entry():
    tool = _tool("desktop-file-validate", "desktop-file-utils")
    result = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Hints are advice, but errors and warnings must not appear.
    assert "error:" not in result.stdout and "warning:" not in result.stdout, result.stdout


def test_appstreamcli_validates_the_metainfo():
    tool = _tool("appstreamcli", "appstream")
    result = subprocess.run([tool, "validate", "--no-net", str(METAINFO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Remaining findings may only be infos/pedantic notes (e.g. appstream < 1.0 does not
    # know the <developer> tag that 1.0 requires); no errors, no warnings.
    findings = [line for line in result.stdout.splitlines() if line[:3] in ("E: ", "W: ")]
    assert findings == [], result.stdout


def test_desktop_entry_metainfo_and_icon_agree():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(DESKTOP, encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Icon"] == APP_ID
    assert section["Exec"].split()[0] == "samlabel-gui"
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == DESKTOP.name
    binaries = {b.text for b in root.iter("binary")}
    assert section["Exec"].split()[0] in binaries
    releases = [r.get("version") for r in root.iter("release")]
    from samlabel import __version__

    assert __version__ in releases, f"metainfo has no <release> for version {__version__}"
    assert (ICONS / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()


@pytest.mark.parametrize("size", SIZES)
def test_png_icons_exist_at_every_size_and_are_not_blank(size):
    path = ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
    with Image.open(path) as im:
        assert im.size == (size, size)
        assert im.mode == "RGBA"
        alpha = im.getchannel("A")
        # Transparent rounded corners, an opaque tile in the middle.
        assert alpha.getpixel((0, 0)) == 0
        assert alpha.getpixel((size // 2, size // 2)) == 255
        colors = im.convert("RGB").getcolors(maxcolors=size * size)
        assert colors is not None and len(colors) > 3


def test_svg_icon_parses_and_ico_holds_several_sizes():
    svg = ET.parse(ICONS / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").getroot()
    assert svg.tag.endswith("svg") and svg.get("viewBox") == "0 0 512 512"
    assert (ICONS / "samlabel.svg").read_text() == (ICONS / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").read_text()
    with Image.open(ICONS / "samlabel.png") as png:  # the main window's icon
        assert png.size == (256, 256)
    with Image.open(ICONS / "samlabel.ico") as ico:
        assert {(16, 16), (32, 32), (256, 256)} <= set(ico.info["sizes"])


def test_make_icons_reproduces_the_committed_svg(tmp_path):
    """The committed icons come from packaging/make_icons.py (the SVG is byte-exact)."""
    result = subprocess.run([sys.executable, str(PACKAGING / "make_icons.py"), "--out", str(tmp_path)],
                            capture_output=True, text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    rel = Path("hicolor") / "scalable" / "apps" / f"{APP_ID}.svg"
    assert (tmp_path / rel).read_text() == (ICONS / rel).read_text()
    for size in SIZES:
        rel = Path("hicolor") / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        with Image.open(tmp_path / rel) as new, Image.open(ICONS / rel) as old:
            assert new.size == old.size
