"""Before Qt starts on Linux: can its X11 platform plugin load? If not, say what to install.

Qt's own answer to a missing system library is an abort with "could not load the Qt
platform plugin "xcb"" and no word about which library. ``check_platform()`` asks the
dynamic loader first (``ldd`` on PySide6's ``libqxcb.so``, which lists every library the
plugin needs, transitively, and marks the absent ones "not found") and turns the answer
into a message naming each missing library and the Debian/Ubuntu package that provides it.

Only the xcb platform is checked: ``QT_QPA_PLATFORM=offscreen`` (tests, ``--smoke-test``)
needs none of these libraries, and on a Wayland session Qt uses its Wayland plugin.
No Qt import here: the check must run before Qt is loaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

# soname -> the Debian/Ubuntu package that ships it: the libraries Qt 6's xcb plugin needs
# beyond a minimal system (Qt's own "Qt for X11 requirements" page lists the same).
DEBIAN_PACKAGES: Mapping[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}

# The script in the source tree that installs every system package the app and its tests use.
SYSTEM_PACKAGES_SCRIPT = "tools/install-system-packages.sh"


@dataclass(frozen=True)
class PlatformProblem:
    """Why Qt's X11 platform plugin would not load.

    Attributes:
        plugin: the plugin file that was checked.
        missing: sonames the dynamic loader could not find, in ``ldd``'s order.
    """

    plugin: Path
    missing: tuple[str, ...]

    @property
    def packages(self) -> tuple[str, ...]:
        """The Debian/Ubuntu packages that provide the missing libraries (known ones only)."""
        seen: dict[str, None] = {}
        for soname in self.missing:
            if soname in DEBIAN_PACKAGES:
                seen.setdefault(DEBIAN_PACKAGES[soname])
        return tuple(seen)

    def message(self) -> str:
        lines = [
            "samlabel: Qt cannot start its X11 platform plugin (xcb): "
            f"{len(self.missing)} system librar{'y is' if len(self.missing) == 1 else 'ies are'} missing.",
            f"  plugin: {self.plugin}",
        ]
        for soname in self.missing:
            package = DEBIAN_PACKAGES.get(soname)
            lines.append(f"  missing: {soname}" + (f"  (Debian/Ubuntu package {package})" if package else ""))
        if self.packages:
            lines.append("Install them on Debian or Ubuntu with:")
            lines.append(f"  sudo apt-get install {' '.join(self.packages)}")
        lines.append("or, from the samlabel source folder, with every library Qt needs:")
        lines.append(f"  sudo bash {SYSTEM_PACKAGES_SCRIPT}")
        lines.append("On other distributions, install the packages that provide these files.")
        lines.append("Without a screen, 'QT_QPA_PLATFORM=offscreen samlabel --smoke-test' checks the rest of the install.")
        return "\n".join(lines)


def xcb_plugin_path() -> Path | None:
    """PySide6's ``libqxcb.so``, found without importing Qt (None when it is not there)."""
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        for candidate in (Path(base) / "Qt" / "plugins" / "platforms" / "libqxcb.so",
                          Path(base) / "plugins" / "platforms" / "libqxcb.so"):
            if candidate.is_file():
                return candidate
    return None


def run_ldd(path: Path) -> str | None:
    """``ldd PATH``'s output, or None when ``ldd`` is not available or fails to run."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        result = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout


def missing_from_ldd(output: str) -> tuple[str, ...]:
    """The sonames ``ldd`` marks "not found", each once, in order.

    >>> missing_from_ldd("\\tlibxcb-cursor.so.0 => not found\\n\\tlibc.so.6 => /lib/libc.so.6 (0x1)\\n")
    ('libxcb-cursor.so.0',)
    """
    missing: dict[str, None] = {}
    for line in output.splitlines():
        name, sep, target = line.strip().partition("=>")
        if sep and target.strip() == "not found":
            missing.setdefault(name.strip())
    return tuple(missing)


def xcb_would_be_used(environ: Mapping[str, str]) -> bool:
    """Whether Qt would try its xcb plugin with this environment."""
    requested = environ.get("QT_QPA_PLATFORM", "").strip()
    if requested:
        return requested.split(";")[0].split(":")[0] == "xcb"
    wayland = environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE", "").lower() == "wayland"
    return not wayland


def check_platform(
    environ: Mapping[str, str] | None = None,
    platform: str = sys.platform,
    plugin: Path | None = None,
    ldd: Callable[[Path], str | None] | None = None,
) -> PlatformProblem | None:
    """A ``PlatformProblem`` when Qt's xcb plugin would fail to load for missing libraries, else None.

    Returns None (nothing to report) off Linux, when another platform plugin is requested,
    when the plugin or ``ldd`` cannot be found (Qt then reports for itself), and when every
    library is present. ``ldd`` defaults to ``run_ldd``.
    """
    environ = os.environ if environ is None else environ
    if not platform.startswith("linux") or not xcb_would_be_used(environ):
        return None
    plugin = plugin or xcb_plugin_path()
    if plugin is None:
        return None
    output = (ldd or run_ldd)(plugin)
    if output is None:
        return None
    missing = missing_from_ldd(output)
    return PlatformProblem(plugin, missing) if missing else None


def no_display_message(environ: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """What to say when Qt would need an X display and none is set (None when one is, or none is needed)."""
    if not platform.startswith("linux") or not xcb_would_be_used(environ):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "samlabel: no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set).\n"
        "Start samlabel from a desktop session, or over SSH with X forwarding (ssh -X). Without a screen,\n"
        "'QT_QPA_PLATFORM=offscreen samlabel --smoke-test' checks the install, and 'samlabel export' works headless."
    )
