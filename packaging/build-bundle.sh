#!/usr/bin/env bash
# The frozen bundle on this OS (Linux, macOS, or Windows under Git Bash): build venv with the app's
# dependencies and the pinned tools, icons from the SVG, then PyInstaller with packaging/kvs-studio.spec.
# Output: dist/kvs-studio/ (Linux, Windows) or dist/KVS Studio.app (macOS). Idempotent.
#   EXTRA_REQUIREMENTS  another requirements file for the build venv (macOS: dmgbuild)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=build/venv
BIN=$VENV/bin
[ "${OS:-}" = "Windows_NT" ] && BIN=$VENV/Scripts
mkdir -p build
"$PY" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
  >build/requirements-app.txt
stamp=$VENV/.kvs-studio-build-deps
want=$(cat build/requirements-app.txt packaging/requirements-build.txt ${EXTRA_REQUIREMENTS:-} | cksum)
if [ ! -x "$BIN/python" ] && [ ! -x "$BIN/python.exe" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf $VENV
  "$PY" -m venv $VENV
  "$BIN/python" -m pip install -q --upgrade pip
  "$BIN/python" -m pip install -q -r build/requirements-app.txt -r packaging/requirements-build.txt \
    ${EXTRA_REQUIREMENTS:+-r "$EXTRA_REQUIREMENTS"}
  echo "$want" >"$stamp"
fi
QT_QPA_PLATFORM=offscreen "$BIN/python" packaging/make_icons.py build/icons
"$BIN/python" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
  packaging/kvs-studio.spec >&2
