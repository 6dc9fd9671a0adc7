#!/usr/bin/env bash
# The system packages samlabel and its tests use on Debian/Ubuntu, installed with apt-get.
#
#   sudo bash tools/install-system-packages.sh          # what the app needs (Qt's X11 libraries)
#   sudo bash tools/install-system-packages.sh --test   # plus what the test suite uses
#
# The app: the libraries Qt's X11 platform plugin (xcb) loads; samlabel names any that are
# missing when it starts. Python's venv module (python3-venv) for tools/run.py.
# The tests: desktop-file-validate and appstreamcli check packaging/'s desktop entry and
# AppStream metainfo; git, for the README test that clones the repository; Xvfb and xauth for
# screenshots of the real window (tools/screenshot.py).
set -euo pipefail

APP_PACKAGES=(
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1
  libdbus-1-3 python3-venv
)
TEST_PACKAGES=(desktop-file-utils appstream git xvfb xauth)

packages=("${APP_PACKAGES[@]}")
case "${1:-}" in
  --test) packages+=("${TEST_PACKAGES[@]}") ;;
  "") ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-packages: no apt-get here; install the equivalents of: ${packages[*]}" >&2
  exit 1
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-packages: all ${#packages[@]} packages are installed"
  exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
echo "install-system-packages: installing ${missing[*]}"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
