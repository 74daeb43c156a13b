#!/usr/bin/env bash
# macOS: dist/KVS Studio.app (PyInstaller) and dist/KVS-Studio-<version>.dmg (dmgbuild); last line = the .dmg.
# Signing and notarisation run only when configured; otherwise they are skipped with a note:
#   MACOS_SIGN_IDENTITY   "Developer ID Application: …" in the keychain: codesign the .app and the .dmg
#   APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD: notarise the .dmg with notarytool and staple the ticket
set -euo pipefail
cd "$(dirname "$0")/../.."
EXTRA_REQUIREMENTS=packaging/macos/requirements.txt bash packaging/build-bundle.sh >&2
VENV=build/venv
VERSION=$($VENV/bin/python packaging/app_info.py)
APP="dist/KVS Studio.app"
DMG="dist/KVS-Studio-$VERSION.dmg"
/usr/libexec/PlistBuddy -c "Print :NSCameraUsageDescription" "$APP/Contents/Info.plist" >&2

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  codesign --force --deep --options runtime --timestamp --entitlements packaging/macos/entitlements.plist \
    --sign "$MACOS_SIGN_IDENTITY" "$APP" >&2
  codesign --verify --deep --strict "$APP" >&2
else
  echo "build-macos: MACOS_SIGN_IDENTITY not set: the .app keeps PyInstaller's ad-hoc signature (not notarised)" >&2
fi

rm -f "$DMG"
$VENV/bin/dmgbuild -s packaging/macos/dmg_settings.py -D app="$APP" "KVS Studio" "$DMG" >&2

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  codesign --force --timestamp --sign "$MACOS_SIGN_IDENTITY" "$DMG" >&2
  if [ -n "${APPLE_ID:-}" ] && [ -n "${APPLE_TEAM_ID:-}" ] && [ -n "${APPLE_APP_PASSWORD:-}" ]; then
    xcrun notarytool submit "$DMG" --apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" \
      --password "$APPLE_APP_PASSWORD" --wait >&2
    xcrun stapler staple "$DMG" >&2
  else
    echo "build-macos: APPLE_ID/APPLE_TEAM_ID/APPLE_APP_PASSWORD not set: not notarised" >&2
  fi
fi
echo "$PWD/$DMG"
