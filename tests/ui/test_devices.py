"""Camera listing and selection, on the data structures cv2-enumerate-cameras returns.

These machines have no camera, so the library's CameraInfo objects are built here the way its backends
build them (index, name, path, vid, pid, backend); that is the one fake, at the device boundary. What is
tested is ours: backend choice per OS, de-duplication, names, finding a remembered camera again.
"""

from __future__ import annotations

import cv2
import pytest
from cv2_enumerate_cameras import CameraInfo

from app.errors import SourceError
from app.media.sources import parse_camera_spec
from app.ui.devices import cameras_from_infos, find_camera, list_cameras

V4L2, MSMF, DSHOW, AVF = cv2.CAP_V4L2, cv2.CAP_MSMF, cv2.CAP_DSHOW, cv2.CAP_AVFOUNDATION


def info(index: int, name: str, path: str | None, backend: int) -> CameraInfo:
    return CameraInfo(index, name, path, 0x046D, 0x0825, backend)


def test_linux_lists_v4l2_cameras_by_name_with_a_spec_that_opens_them() -> None:
    calls: list[int] = []

    def enumerate_fn(backend: int) -> list[CameraInfo]:
        calls.append(backend)
        return [info(2, "HD Pro Webcam C920", "/dev/video2", V4L2), info(0, "Integrated Camera", "/dev/video0", V4L2)]

    cams = list_cameras(enumerate_fn, platform="linux")
    assert calls == [V4L2]
    assert [c.name for c in cams] == ["Integrated Camera", "HD Pro Webcam C920"]
    assert [c.spec for c in cams] == ["camera:0@v4l2", "camera:2@v4l2"]
    assert parse_camera_spec(cams[1].spec) == (2, V4L2)  # what the engine opens is what the list said


def test_windows_prefers_msmf_and_falls_back_to_directshow() -> None:
    lists = {MSMF: [], DSHOW: [info(0, "USB2.0 HD UVC WebCam", r"\\?\usb#vid_13d3&pid_56a2", DSHOW)]}
    cams = list_cameras(lambda b: lists[b], platform="win32")
    assert [(c.name, c.backend_name) for c in cams] == [("USB2.0 HD UVC WebCam", "dshow")]
    lists[MSMF] = [info(0, "USB2.0 HD UVC WebCam", r"\\?\usb#vid_13d3&pid_56a2", MSMF)]
    cams = list_cameras(lambda b: lists[b], platform="win32")
    assert [c.spec for c in cams] == ["camera:0@msmf"]  # one backend only: a webcam is never listed twice


def test_macos_uses_avfoundation_and_a_failing_backend_gives_an_empty_list() -> None:
    cams = list_cameras(lambda b: [info(0, "FaceTime HD Camera", "0x8020000005ac8514", b)], platform="darwin")
    assert [(c.name, c.spec) for c in cams] == [("FaceTime HD Camera", "camera:0@avfoundation")]

    def broken(_backend: int) -> list[CameraInfo]:
        raise OSError("device busy")

    assert list_cameras(broken, platform="darwin") == []


def test_same_names_are_numbered_and_duplicates_dropped() -> None:
    cams = cameras_from_infos([info(0, "USB Camera", "/dev/video0", V4L2), info(0, "USB Camera", "/dev/video0", V4L2),
                               info(4, "USB Camera", "/dev/video4", V4L2), info(6, "", None, V4L2)])
    assert [c.name for c in cams] == ["USB Camera", "USB Camera (2)", "Camera 6"]


def test_a_remembered_camera_is_found_by_its_path_after_its_index_changed() -> None:
    before = cameras_from_infos([info(0, "Integrated Camera", "/dev/video0", V4L2),
                                 info(2, "C920", "/dev/video2", V4L2)])
    path, name = before[1].path, before[1].name
    after = cameras_from_infos([info(0, "Integrated Camera", "/dev/video0", V4L2),
                                info(4, "C920", "/dev/video2", V4L2)])
    assert find_camera(after, path, name).spec == "camera:4@v4l2"  # type: ignore[union-attr]
    after = cameras_from_infos([info(0, "C920", "/dev/video5", V4L2)])  # replugged: new node, same name
    assert find_camera(after, path, name) == after[0]
    assert find_camera(after, "/dev/video9", "Other") is None  # gone: the caller falls back to the test pattern


@pytest.mark.parametrize("spec", ["camera:x", "camera:0@nosuch"])
def test_bad_camera_specs_say_how_to_write_one(spec: str) -> None:
    with pytest.raises(SourceError, match="camera"):
        parse_camera_spec(spec)

