"""Cameras the platform reports, without opening them (Linux: /sys/class/video4linux)."""

from __future__ import annotations

import re
import sys
from pathlib import Path


def list_cameras() -> list[tuple[int, str]]:
    """(OpenCV index, name) pairs; empty where none are reported."""
    if not sys.platform.startswith("linux"):
        return []  # other platforms: the user can still type camera:N in the CLI
    out = []
    base = Path("/sys/class/video4linux")
    for dev in sorted(base.glob("video*")) if base.exists() else []:
        m = re.match(r"video(\d+)$", dev.name)
        if not m:
            continue
        try:
            name = (dev / "name").read_text().strip()
            index = int((dev / "index").read_text().strip()) if (dev / "index").exists() else 0
        except OSError:
            continue
        if index == 0:  # a device's other nodes are metadata, not pictures
            out.append((int(m.group(1)), name))
    return out
