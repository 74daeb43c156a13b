"""Cameras by name on every OS, each with the OpenCV backend that matches it.

Listing uses ``cv2-enumerate-cameras`` (MSMF/DirectShow on Windows, V4L2 on Linux, AVFoundation on
macOS): it maps each device to the index that backend gives it, which OpenCV's own API cannot do. A
camera is opened with ``cv2.VideoCapture(index, backend)``, so the index always means what the list
said. The library reports names and paths only, not the sizes or frame rates a device supports: the
window offers its usual list and the camera gives the nearest it has (sources.py reports what it got).

The pure part (``cameras_from_infos``, ``find_camera``) works on the library's CameraInfo objects and is
what the tests exercise: there is no camera on the machines that run them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import cv2

from app.media.sources import BACKEND_NAMES, camera_spec

# Backends in the order we prefer them on each OS: the first that lists any camera wins, so a device
# is never listed twice (MSMF and DirectShow name the same webcams). Linux: the opencv-python wheels
# have no GStreamer, so V4L2 is the one that opens what it lists.
PREFERRED_BACKENDS: dict[str, tuple[int, ...]] = {
    "win32": (cv2.CAP_MSMF, cv2.CAP_DSHOW),
    "linux": (cv2.CAP_V4L2,),
    "darwin": (cv2.CAP_AVFOUNDATION,),
}


@dataclass(frozen=True)
class Camera:
    name: str  # as the OS names it, made unique in the list ("USB Camera (2)")
    index: int  # OpenCV's index for this backend
    backend: int  # cv2.CAP_*
    path: str | None  # /dev/videoN, a Windows device path, a macOS unique id: stays with the device

    @property
    def spec(self) -> str:
        """The source setting the engine opens (``camera:N@backend``)."""
        return camera_spec(self.index, self.backend)

    @property
    def backend_name(self) -> str:
        return BACKEND_NAMES.get(self.backend, str(self.backend))


def cameras_from_infos(infos: Iterable[Any]) -> list[Camera]:
    """The library's CameraInfo objects (index, name, path, backend) as Cameras: sorted by index, one per
    (backend, index), with repeated names numbered so each item can be told apart."""
    seen: set[tuple[int, int]] = set()
    out: list[Camera] = []
    for info in sorted(infos, key=lambda i: (int(i.backend), int(i.index))):
        key = (int(info.backend), int(info.index))
        if key in seen:
            continue
        seen.add(key)
        name = str(info.name or "").strip() or f"Camera {info.index}"
        out.append(Camera(name, int(info.index), int(info.backend), str(info.path) if info.path else None))
    counts: dict[str, int] = {}
    named = []
    for cam in out:
        counts[cam.name] = counts.get(cam.name, 0) + 1
        n = counts[cam.name]
        named.append(cam if n == 1 else Camera(f"{cam.name} ({n})", cam.index, cam.backend, cam.path))
    return named


def find_camera(cameras: list[Camera], path: str | None = None, name: str | None = None,
                spec: str | None = None) -> Camera | None:
    """The remembered camera in a fresh list: by its path (it stays with the device while its index changes
    as others come and go), then by its name (replugged elsewhere), then by the same index and backend."""
    if path:
        for cam in cameras:
            if cam.path == path:
                return cam
    if name:
        for cam in cameras:
            if cam.name == name:
                return cam
    if spec:
        for cam in cameras:
            if cam.spec == spec:
                return cam
    return None


def list_cameras(enumerate_fn: Callable[[int], list[Any]] | None = None, platform: str | None = None) -> list[Camera]:
    """The cameras the OS reports now, without opening them; empty where none are (or the library fails)."""
    if enumerate_fn is None:
        try:
            from cv2_enumerate_cameras import enumerate_cameras
        except ImportError:  # e.g. macOS without its AVFoundation bindings: no list, the test pattern still works
            return []
        enumerate_fn = enumerate_cameras
    plat = platform or sys.platform
    key = "linux" if plat.startswith("linux") else plat
    for backend in PREFERRED_BACKENDS.get(key, (cv2.CAP_ANY,)):
        try:
            found = cameras_from_infos(enumerate_fn(backend))
        except Exception:  # a backend the OS lacks, a device busy while probed: try the next backend
            continue
        if found:
            return found
    return []
