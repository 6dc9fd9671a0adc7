"""Generate samlabel's application icon: one SVG, PNGs at the usual sizes, a Windows .ico.

    python3 packaging/make_icons.py            # writes resources/icons/

The icon shows what the app does: a soft mask (the model's proposal) with a polygon
outline and its vertex handles around it, and the green positive click that produced
it, on a rounded dark-blue tile. The SVG below is the single source; the PNGs are
rendered from it with Qt's SVG renderer (so they match the SVG exactly), and sizes of
32 px and below use a simpler variant (no handles, thicker lines) that stays legible.

Output, in the freedesktop ``hicolor`` theme layout so that it can be copied as-is
into ``~/.local/share/icons`` (see packaging/README.md)::

    resources/icons/hicolor/scalable/apps/io.github.samlabel.SamLabel.svg
    resources/icons/hicolor/{16,24,32,48,64,128,256,512}x{...}/apps/io.github.samlabel.SamLabel.png
    resources/icons/samlabel.ico   (16-256 px, for the frozen Windows build)
    resources/icons/samlabel.svg, samlabel.png (256 px)   (what the main window loads)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

APP_ID = "io.github.samlabel.SamLabel"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
SMALL = 32  # sizes <= this use the simplified drawing
ROOT = Path(__file__).resolve().parent.parent

# The outline's vertices, in the 512x512 design grid (a rounded, slightly lopsided object).
POLYGON = [(150, 170), (250, 118), (360, 150), (398, 250), (352, 360), (238, 392), (140, 330), (116, 240)]
CLICK = (252, 256)


def icon_svg(small: bool = False) -> str:
    """The icon as an SVG document (512x512 view box); ``small`` drops fine detail."""
    points = " ".join(f"{x},{y}" for x, y in POLYGON)
    stroke = 30 if small else 16
    handles = "" if small else "\n".join(
        f'    <circle cx="{x}" cy="{y}" r="19" fill="#ffffff" stroke="#f4a100" stroke-width="8"/>' for x, y in POLYGON
    )
    click_r = 54 if small else 38
    cx, cy = CLICK
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512" viewBox="0 0 512 512">
  <title>samlabel</title>
  <defs>
    <linearGradient id="tile" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#2f4f8f"/>
      <stop offset="1" stop-color="#16213e"/>
    </linearGradient>
    <radialGradient id="mask" cx="0.45" cy="0.42" r="0.65">
      <stop offset="0" stop-color="#ffd166" stop-opacity="0.95"/>
      <stop offset="1" stop-color="#f4a100" stop-opacity="0.70"/>
    </radialGradient>
  </defs>
  <rect x="24" y="24" width="464" height="464" rx="104" fill="url(#tile)"/>
  <path d="M 150 178 C 190 120 300 100 356 156 C 412 212 408 318 346 362
           C 290 402 190 398 146 334 C 106 280 112 232 150 178 Z" fill="url(#mask)"/>
  <polygon points="{points}" fill="none" stroke="#ffffff" stroke-width="{stroke}"
           stroke-linejoin="round"/>
{handles}
  <circle cx="{cx}" cy="{cy}" r="{click_r}" fill="#2ec27e" stroke="#ffffff" stroke-width="{12 if small else 10}"/>
  <path d="M {cx - click_r * 0.45:.1f} {cy} H {cx + click_r * 0.45:.1f} M {cx} {cy - click_r * 0.45:.1f} V {cy + click_r * 0.45:.1f}"
        stroke="#ffffff" stroke-width="{16 if small else 11}" stroke-linecap="round"/>
</svg>
"""


def render_png(svg: str, size: int, path: Path) -> None:
    """Render ``svg`` to a ``size`` x ``size`` RGBA PNG at ``path`` with Qt's SVG renderer."""
    from PySide6.QtCore import QByteArray, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    if not renderer.isValid():
        raise ValueError("make_icons: the generated SVG does not parse")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(path), "PNG"):
        raise OSError(f"make_icons: could not write {path}")


def write_ico(pngs: dict[int, Path], path: Path) -> None:
    """A multi-size Windows icon from the rendered PNGs (Pillow)."""
    from PIL import Image

    sizes = [s for s in sorted(pngs) if s <= 256]
    largest = Image.open(pngs[max(sizes)]).convert("RGBA")
    largest.save(path, format="ICO", sizes=[(s, s) for s in sizes],
                 append_images=[Image.open(pngs[s]).convert("RGBA") for s in sizes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "icons", help="output folder")
    args = parser.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (Qt needs one)
    hicolor = args.out / "hicolor"
    svg_path = hicolor / "scalable" / "apps" / f"{APP_ID}.svg"
    svg_path.parent.mkdir(parents=True, exist_ok=True)
    svg_path.write_text(icon_svg(), encoding="utf-8")
    pngs = {}
    for size in SIZES:
        pngs[size] = hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        render_png(icon_svg(small=size <= SMALL), size, pngs[size])
    write_ico(pngs, args.out / "samlabel.ico")
    (args.out / "samlabel.svg").write_text(icon_svg(), encoding="utf-8")
    render_png(icon_svg(), 256, args.out / "samlabel.png")
    print(f"wrote {svg_path}, {len(pngs)} PNGs, samlabel.ico/.svg/.png under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
