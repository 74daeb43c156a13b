"""Names and identifiers shared by the installers (spec, .deb, NSIS, .dmg), read without importing the app."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "KVS Studio"
COMMAND = "kvs-studio"
BUNDLE_ID = "org.kvsstudio.KVSStudio"
PUBLISHER = "KVS Studio"
SUMMARY = "Stream a camera or a video file live into Amazon Kinesis Video Streams"


def version() -> str:
    text = (ROOT / "app" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if not match:
        raise SystemExit("app/__init__.py has no __version__")
    return match.group(1)


def mac_info_plist() -> dict[str, object]:
    """Info.plist keys beyond what PyInstaller's BUNDLE writes."""
    return {
        "CFBundleName": NAME,
        "CFBundleDisplayName": NAME,
        "CFBundleShortVersionString": version(),
        "CFBundleVersion": version(),
        "LSMinimumSystemVersion": "11.0",
        "NSHighResolutionCapable": True,
        # Without this key macOS kills the app the first time it opens a camera.
        "NSCameraUsageDescription": "KVS Studio streams the camera you choose to Amazon Kinesis Video Streams.",
        "NSHumanReadableCopyright": "GPL-3.0-or-later",
        "LSApplicationCategoryType": "public.app-category.video",
    }


if __name__ == "__main__":
    print(version())
