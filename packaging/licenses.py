"""The licence notice shipped with the frozen bundle (the .deb's /usr/share/doc/kvs-studio/copyright).

Python packages are listed from their installed metadata (run with the build venv's Python); native
libraries that the wheels carry are listed by hand below; host libraries PyInstaller copied are named
with the Debian package they came from. Machine-readable format (DEP-5).
"""

from __future__ import annotations

import importlib.metadata as md
import re
import subprocess
from pathlib import Path

BUILD_TOOLS = {"pip", "setuptools", "wheel", "pyinstaller", "pyinstaller-hooks-contrib", "altgraph", "packaging",
               "kvs-studio"}

HEADER = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: KVS Studio
Comment:
 KVS Studio is free software under the GNU General Public License, version 3 or
 later. The frozen application in /opt/kvs-studio also carries third-party code,
 each part under its own licence (listed below). PyAV's FFmpeg is built with
 libx264 and libx265, which are GPL-2.0-or-later, so the bundle as a whole is
 distributed under the GPL-3.0-or-later; every other licence below is compatible
 with that. The corresponding source of each part is available from its project,
 at the version listed.

Files: *
Copyright: KVS Studio contributors
License: GPL-3+
"""

# Native code inside the wheels (not visible in Python metadata).
NATIVE = [
    ("_internal/av.libs/*", "FFmpeg (libavcodec, libavformat, libavutil, libswscale, libswresample, libavfilter) "
     "with libx264, libx265, libvpx, libaom, dav1d, SVT-AV1, opus, lame and others, from PyAV's wheel",
     "GPL-2+ (FFmpeg built with --enable-gpl: x264 and x265 are GPL-2+; the rest LGPL-2.1+ or BSD)"),
    ("_internal/opencv_python_headless.libs/*", "OpenBLAS, libgfortran, libavif, libaom, libpng from OpenCV's wheel; "
     "OpenCV's FFmpeg names are links to PyAV's", "BSD-3-clause and GPL-3+ with GCC runtime exception, BSD-2-clause, "
     "libpng"),
    ("_internal/numpy.libs/*", "OpenBLAS (scipy-openblas), libgfortran", "BSD-3-clause and GPL-3+ with GCC runtime "
     "exception"),
    ("_internal/PySide6/Qt/*", "Qt 6 (Core, Gui, Widgets, DBus, Svg, XcbQpa and plugins), ICU", "LGPL-3 and ICU"),
    ("_internal/libpython3*", "CPython", "PSF-2.0"),
]


def _licence_of(dist: md.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return " and ".join(classifiers)
    text = (meta.get("License") or "").strip()
    return text if text and "\n" not in text and len(text) < 80 else "see the package's licence file"


def python_packages() -> list[tuple[str, str, str]]:
    rows = []
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in BUILD_TOOLS:
            rows.append((name, dist.version, _licence_of(dist)))
    return sorted(set(rows), key=lambda r: r[0].lower())


def host_packages(bundle: Path) -> list[tuple[str, str]]:
    """(library, Debian package) for the host libraries PyInstaller copied to the top of _internal."""
    rows = []
    for lib in sorted((bundle / "_internal").glob("lib*.so*")):
        if lib.name.startswith("libpython"):
            continue
        proc = subprocess.run(["dpkg", "-S", f"*/{lib.name}"], capture_output=True, text=True)
        package = proc.stdout.split(":", 1)[0].strip() if proc.returncode == 0 else "unknown origin"
        rows.append((lib.name, package))
    return rows


def debian_copyright(bundle: Path) -> str:
    parts = [HEADER]
    for files, what, licence in NATIVE:
        parts.append(f"\nFiles: opt/kvs-studio/{files}\nComment: {what}\nCopyright: their authors\n"
                     f"License: {licence}\n")
    parts.append("\nFiles: opt/kvs-studio/_internal/*\nComment: Python packages, by installed metadata:\n")
    for name, version, licence in python_packages():
        parts.append(f" {name} {version}: {licence}\n")
    host = host_packages(bundle)
    if host:
        parts.append(" .\n Libraries copied from the build system (see /usr/share/doc/PACKAGE/copyright):\n")
        for lib, package in host:
            parts.append(f" {lib}: Debian package {package}\n")
    parts.append("Copyright: their authors\nLicense: various, compatible with GPL-3+ (see Comment)\n")
    parts.append("\nLicense: GPL-3+\n On Debian systems the full text of the GNU General Public License version 3\n"
                 " is in /usr/share/common-licenses/GPL-3.\n")
    return re.sub(r"\n{3,}", "\n\n", "".join(parts))
