"""What the frozen bundle leaves out, as data the PyInstaller spec applies and the tests can read.

PyInstaller's hooks collect whole families (every Qt plugin of a kind, all of botocore's service models,
Qt's translations); KVS Studio uses a few. Each rule says why it is safe to drop. Paths are the
destination names inside the bundle (``PySide6/Qt/plugins/...``), with ``/`` on every platform.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

# Pure-Python modules never imported at run time (dev tools, other GUI toolkits, test suites).
EXCLUDED_MODULES = [
    "tkinter", "_tkinter", "turtledemo", "idlelib", "lib2to3", "pydoc_data", "test", "unittest.test",
    "distutils", "setuptools", "pip", "pkg_resources", "IPython", "matplotlib", "PIL", "pytest", "_pytest",
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtNetwork", "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets",
    "PySide6.QtDBus", "PySide6.QtSql", "PySide6.QtTest", "PySide6.QtUiTools", "PySide6.QtDesigner",
    "PySide6.QtPrintSupport", "PySide6.QtXml", "PySide6.QtConcurrent", "PySide6.QtHelp",
]

# Qt plugins the window needs; every other plugin (and its libraries) is dropped.
KEEP_QT_PLUGINS = {
    # xcb for X11 and XWayland, offscreen for no display; Windows and macOS have their own.
    "platforms": {"*qxcb*", "*qoffscreen*", "*qminimal.*", "*qwindows*", "*qcocoa*", "*qdirect2d*"},
    "xcbglintegrations": {"*"},           # xcb loads one of these for its GL context
    "iconengines": {"*qsvgicon*"},        # QIcon from the SVG application icon
    "imageformats": {"*qsvg*", "*qico*"},  # SVG icon; ICO for Windows' window icon
    "platforminputcontexts": {"*compose*", "*ibus*"},  # dead keys and input methods in text fields
    "styles": {"*"},                      # native look on Windows/macOS
    "permissions": {"*"},                 # macOS camera/microphone permission requests
}

# Files dropped by destination path (glob), whoever collected them.
EXCLUDED_FILES = [
    "PySide6/Qt/translations/*",          # the app is English only
    "PySide6/Qt/qml/*",
    "PySide6/Qt/lib/libQt6Qml*", "PySide6/Qt/lib/libQt6Quick*", "PySide6/Qt/lib/libQt6Pdf*",
    "PySide6/Qt/lib/libQt6Wayland*", "PySide6/Qt/lib/libQt6Network*", "PySide6/Qt/lib/libQt6Lottie*",
    "PySide6/Qt6Qml*", "PySide6/Qt6Quick*", "PySide6/Qt6Pdf*", "PySide6/Qt6Network*",  # Windows layout
    "PySide6/Qt/lib/Qt*Qml*", "PySide6/Qt/lib/Qt*Quick*", "PySide6/Qt/lib/QtPdf*",    # macOS frameworks
    "PySide6/opengl32sw.dll",             # 20 MB software OpenGL (Windows); QtWidgets paints with the CPU
    "*/__pycache__/*", "*.pyc.*",
    "*/tests/*", "*/testing/*",           # test suites some wheels ship
    "cv2/data/*",                         # Haar cascades: the app detects nothing
    "av/include/*", "numpy/_core/include/*", "numpy/_core/lib/*", "numpy/f2py/*", "numpy/typing/*",
]

# botocore's service models: only the services KVS Studio calls and those its credential chain uses.
BOTOCORE_SERVICES = {
    "kinesisvideo", "kinesis-video-media", "kinesis-video-archived-media",
    "sts",                                # assume-role profiles
    "sso", "sso-oidc",                    # IAM Identity Center profiles
    "signin",                             # `aws login` sessions
}


def _plugin_kept(dest: str) -> bool:
    parts = dest.split("/")
    try:
        i = parts.index("plugins")
    except ValueError:
        return True
    if len(parts) < i + 3:
        return True
    kind, name = parts[i + 1], parts[-1]
    if kind not in KEEP_QT_PLUGINS:
        return False
    return any(fnmatch.fnmatch(name, pattern) for pattern in KEEP_QT_PLUGINS[kind])


def _botocore_kept(dest: str) -> bool:
    parts = dest.split("/")
    if parts[:2] != ["botocore", "data"] or len(parts) < 4:
        return True  # top-level endpoint/partition files and everything outside the models
    return parts[2] in BOTOCORE_SERVICES


def keep(dest: str) -> bool:
    """True when a bundle entry at ``dest`` (a destination path) stays in the bundle."""
    dest = dest.replace("\\", "/")
    if any(fnmatch.fnmatch(dest, pattern) for pattern in EXCLUDED_FILES):
        return False
    if "PySide6/" in dest and "/plugins/" in dest and not _plugin_kept(dest):
        return False
    return _botocore_kept(dest)


def filter_toc(toc: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """A PyInstaller TOC (dest, source, kind) without the entries ``keep`` rejects."""
    return [entry for entry in toc if keep(entry[0])]


# OpenCV's Linux wheel links its own copy of FFmpeg (about 30 MB with the libraries only it needs); the
# app decodes files with PyAV and captures cameras through V4L2. When both copies have the same major
# versions (same ABI), OpenCV's names become symlinks to PyAV's libraries.
_FFMPEG_LIB = re.compile(r"^(libavcodec|libavformat|libavutil|libswscale|libswresample)-[0-9a-f]{8}\.so\.(\d+)\.")
OPENCV_LIBS, AV_LIBS = "opencv_python_headless.libs", "av.libs"


def ffmpeg_aliases(dests: Iterable[str]) -> dict[str, str]:
    """OpenCV FFmpeg library (dest path) -> PyAV library of the same name and major version (dest path)."""
    dests = [d.replace("\\", "/") for d in dests]
    av = {}
    for d in dests:
        m = _FFMPEG_LIB.match(d.rpartition("/")[2])
        if d.startswith(AV_LIBS + "/") and m:
            av[m.groups()] = d
    aliases = {}
    for d in dests:
        m = _FFMPEG_LIB.match(d.rpartition("/")[2])
        if d.startswith(OPENCV_LIBS + "/") and m and m.groups() in av:
            aliases[d] = av[m.groups()]
    return aliases


def unreferenced(libs: dict[str, set[str]], roots: set[str]) -> set[str]:
    """Library names no root reaches through NEEDED entries; ``libs`` maps a name to the names it needs."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        for dep in libs.get(name, ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return set(libs) - seen - roots
