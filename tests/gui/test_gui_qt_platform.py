"""The Qt platform preflight: missing X11 libraries are named with their packages, before Qt loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from samlabel.gui import qt_platform
from samlabel.gui.qt_platform import PlatformProblem, check_platform, missing_from_ldd, no_display_message

LDD_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffc)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-cursor.so.0 => not found
\tlibfoo-unknown.so.7 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""


def test_ldd_output_gives_each_missing_soname_once_in_order():
    assert missing_from_ldd(LDD_MISSING) == ("libxcb-cursor.so.0", "libxkbcommon-x11.so.0", "libfoo-unknown.so.7")
    assert missing_from_ldd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == ()


def test_message_names_libraries_packages_and_the_install_command(tmp_path):
    problem = check_platform(environ={"DISPLAY": ":0"}, platform="linux", plugin=tmp_path / "libqxcb.so",
                             ldd=lambda path: LDD_MISSING)
    assert problem == PlatformProblem(tmp_path / "libqxcb.so",
                                      ("libxcb-cursor.so.0", "libxkbcommon-x11.so.0", "libfoo-unknown.so.7"))
    text = problem.message()
    assert "3 system libraries are missing" in text
    assert "libxcb-cursor.so.0  (Debian/Ubuntu package libxcb-cursor0)" in text
    assert "missing: libfoo-unknown.so.7\n" in text  # unknown ones are still named
    assert "sudo apt-get install libxcb-cursor0 libxkbcommon-x11-0\n" in text
    assert "tools/install-system-packages.sh" in text


@pytest.mark.parametrize("environ, platform", [
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux"),
    ({"QT_QPA_PLATFORM": "wayland"}, "linux"),
    ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, "linux"),
    ({"DISPLAY": ":0"}, "darwin"),
    ({"DISPLAY": ":0"}, "win32"),
])
def test_nothing_is_checked_where_xcb_is_not_used(environ, platform):
    def ldd(path):
        raise AssertionError("ldd must not run")

    assert check_platform(environ=environ, platform=platform, plugin=Path("x"), ldd=ldd) is None


def test_xcb_is_checked_when_asked_for_or_by_default():
    calls = []
    for environ in ({"QT_QPA_PLATFORM": "xcb"}, {"QT_QPA_PLATFORM": "xcb:dpiawareness=1"}, {"DISPLAY": ":1"}):
        check_platform(environ=environ, platform="linux", plugin=Path("p"), ldd=lambda p: calls.append(p) or "")
    assert calls == [Path("p")] * 3


def test_no_ldd_or_no_plugin_leaves_qt_to_report():
    assert check_platform(environ={}, platform="linux", plugin=Path("p"), ldd=lambda p: None) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin exists on Linux only")
def test_this_machines_real_plugin_is_found_and_read_by_ldd():
    plugin = qt_platform.xcb_plugin_path()
    assert plugin is not None and plugin.name == "libqxcb.so"
    output = qt_platform.run_ldd(plugin)
    assert output is not None and "libQt6XcbQpa.so.6" in output  # ldd really read the plugin
    # tools/install-system-packages.sh (run by CI) provides every library it needs
    assert missing_from_ldd(output) == ()


def test_no_display_message_only_without_a_display():
    assert no_display_message({"DISPLAY": ":0"}, platform="linux") is None
    assert no_display_message({"QT_QPA_PLATFORM": "offscreen"}, platform="linux") is None
    assert no_display_message({}, platform="darwin") is None
    text = no_display_message({}, platform="linux")
    assert "DISPLAY" in text and "--smoke-test" in text


def test_samlabel_prints_the_missing_libraries_instead_of_starting_qt():
    # In a fresh process: nothing of Qt may be loaded when the message is printed.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from samlabel.gui import qt_platform\n"
        f"qt_platform.run_ldd = lambda plugin: {LDD_MISSING!r}\n"
        "qt_platform.xcb_plugin_path = lambda: Path('/fake/libqxcb.so')\n"
        "from samlabel.cli import main\n"
        "code = main([])\n"
        "print('qt loaded:', any(m.startswith('PySide6.Qt') for m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["DISPLAY"] = ":99"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "qt loaded: False" in result.stdout
    assert "libxcb-cursor.so.0  (Debian/Ubuntu package libxcb-cursor0)" in result.stderr
    assert "Traceback" not in result.stderr
