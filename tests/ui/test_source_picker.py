"""The source dropdown's camera handling, on cameras built from cv2-enumerate-cameras' CameraInfo objects.

There is no camera here: the lister is the one stand-in (it returns what the library would report). The
dropdown, its refresh when it opens and on ⟳, and finding a remembered camera again are real.
"""

from __future__ import annotations

import cv2
import pytest
from cv2_enumerate_cameras import CameraInfo

from app.ui.devices import Camera, cameras_from_infos
from app.ui.source_picker import TESTPATTERN, SourcePicker

pytest.importorskip("pytestqt")
V4L2 = cv2.CAP_V4L2


class Lister:
    def __init__(self) -> None:
        self.calls = 0
        self.infos: list[CameraInfo] = []

    def __call__(self) -> list[Camera]:
        self.calls += 1
        return cameras_from_infos(self.infos)


def test_cameras_are_listed_by_name_and_a_remembered_one_follows_its_device(qtbot) -> None:  # type: ignore[no-untyped-def]
    lister = Lister()
    lister.infos = [CameraInfo(0, "Integrated Camera", "/dev/video0", None, None, V4L2),
                    CameraInfo(2, "HD Pro Webcam C920", "/dev/video2", 0x046D, 0x082D, V4L2)]
    picker = SourcePicker(lister=lister)
    qtbot.addWidget(picker)
    picker.select("camera:2@v4l2", "/dev/video2", "HD Pro Webcam C920")  # remembered from the last run
    with qtbot.waitSignal(picker.cameras_listed, timeout=5000):
        picker.refresh()
    assert picker.combo.currentText() == "HD Pro Webcam C920"
    assert picker.spec() == "camera:2@v4l2"
    # The other camera is unplugged: the C920 is now video1. The choice follows the device, not the index.
    lister.infos = [CameraInfo(1, "HD Pro Webcam C920", "/dev/video2", 0x046D, 0x082D, V4L2)]
    with qtbot.waitSignal(picker.cameras_listed, timeout=5000):
        picker.refresh_button.click()
    assert picker.spec() == "camera:1@v4l2"
    assert picker.combo.itemText(0) == "HD Pro Webcam C920"
    # Gone altogether: back to the test pattern rather than a camera that is not there.
    lister.infos = []
    with qtbot.waitSignal(picker.cameras_listed, timeout=5000):
        picker.refresh()
    assert picker.spec() == TESTPATTERN
    assert picker.cameras() == []


def test_opening_the_dropdown_lists_the_cameras_again(qtbot) -> None:  # type: ignore[no-untyped-def]
    lister = Lister()
    picker = SourcePicker(lister=lister)
    qtbot.addWidget(picker)
    picker.show()
    lister.infos = [CameraInfo(0, "USB Camera", "/dev/video0", None, None, V4L2)]
    with qtbot.waitSignal(picker.cameras_listed, timeout=5000):
        picker.combo.showPopup()
    picker.combo.hidePopup()
    assert lister.calls == 1
    assert picker.cameras() == ["camera:0@v4l2"]
    assert picker.combo.findText("Test pattern") >= 0
