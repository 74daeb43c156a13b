#!/usr/bin/env bash
# Build the Debian package from a clean checkout: its own build venv, the PyInstaller one-folder bundle,
# then dist/kvs-studio_<version>_<arch>.deb, whose path is the last line printed. Idempotent; installs the
# apt packages it needs (with sudo only when not root).
#   KVS_DEB_ZSTD_LEVEL  zstd level for dpkg-deb (default 19; lower builds faster and bigger)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# PyInstaller copies the host's libraries into the bundle, so the Qt xcb libraries must be here to be
# carried; binutils for PyInstaller (objdump, ldd's helpers, strip, readelf); desktop-file-utils to validate.
APT_PACKAGES=(binutils desktop-file-utils python3-venv ca-certificates
  libegl1 libgl1 libfontconfig1 libglib2.0-0 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1
  libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-xkb1 libxcb-util1)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "build-deb: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "build-deb: build venv, icons and bundle" >&2
bash packaging/build-bundle.sh >&2
VENV=build/venv
VERSION=$($VENV/bin/python packaging/app_info.py)
ARCH=$(dpkg --print-architecture)
DEB=dist/kvs-studio_${VERSION}_${ARCH}.deb

echo "build-deb: package tree" >&2
$VENV/bin/python packaging/deb/assemble.py --bundle dist/kvs-studio --icons build/icons --out build/deb-root \
  --version "$VERSION" --arch "$ARCH" >&2
desktop-file-validate build/deb-root/usr/share/applications/kvs-studio.desktop

rm -f "$DEB"
dpkg-deb --root-owner-group -Zzstd -z"${KVS_DEB_ZSTD_LEVEL:-19}" --threads-max="$(nproc)" --build build/deb-root "$DEB" >&2
echo "$ROOT/$DEB"
