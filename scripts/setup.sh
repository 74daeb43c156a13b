#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine: system packages, then .venv with the project.
# `setup.sh` is what running the app needs; `setup.sh --dev` adds the test, lint and packaging tools.
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

APT_PACKAGES=(
  # Qt's xcb platform and GL/font libraries (the window under X11/Xvfb)
  libegl1 libgl1 libfontconfig1 libglib2.0-0 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1
  libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-xkb1 libxcb-util1
  # a Secret Service for saved credentials
  dbus dbus-bin gnome-keyring
  python3-venv
)
if ((DEV)); then
  APT_PACKAGES+=(
    # checks with tools we did not write, the keyring's CLI, virtual screen
    ffmpeg mkvtoolnix libsecret-tools xvfb xauth
    # packaging (packaging/, tests/packaging): ELF tools for PyInstaller, desktop entry check, Windows
    # installer compiler and a reader for it, window listing for the installed-app test
    binutils desktop-file-utils nsis p7zip-full x11-utils
  )
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  available=()
  for p in "${missing[@]}"; do  # names differ between releases (dbus-bin is new in Debian 12)
    if apt-cache show "$p" >/dev/null 2>&1; then available+=("$p"); else echo "setup: no package $p here, skipped"; fi
  done
  echo "setup: installing system packages: ${available[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${available[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "KVS Studio needs Python 3.11+"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# Reinstall only when pyproject.toml changed since the last successful install (of this kind or more).
if ((DEV)); then stamp=.venv/.kvs-studio-installed-dev; target=".[dev]"; else stamp=.venv/.kvs-studio-installed; target="."; fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e "$target"
  touch "$stamp"
  if ((DEV)); then touch .venv/.kvs-studio-installed; fi  # the dev install includes the app's own
fi
