"""A camera that disappears mid-stream ends capture with a message, and what it captured is still uploaded.

There is no camera on these machines: cv2.VideoCapture is replaced by a stand-in that gives pictures at a
camera's pace and then fails a read (unplugged) or never returns from one (a stuck driver). That is the
one fake, at the device boundary; the engine, encoder, uploader and local endpoint are real.
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import cv2
import numpy as np
import pytest

from app.engine.engine import StreamSettings
from app.engine.events import EngineMessage
from app.localkvs.server import EndpointThread
from app.media import sources
from tests.conftest import REGION, client
from tests.e2e.test_stream_cli import stored_fragments
from tests.engine.test_engine import Recorder, run_engine
from tests.mediagen import HEIGHT, WIDTH, decode_indices, indexed_frame


class GoneCamera:
    """Gives ``frames`` pictures at 15 fps, then fails (``mode`` "unplugged") or blocks (``mode`` "stuck")."""

    frames = 45
    mode = "unplugged"
    opened: ClassVar[list[tuple[int, int]]] = []

    def __init__(self, index: int, backend: int = cv2.CAP_ANY) -> None:
        GoneCamera.opened.append((index, backend))
        self.n = 0
        self.released = threading.Event()

    def isOpened(self) -> bool:
        return True

    def set(self, *_args: object) -> bool:
        return True

    def get(self, prop: int) -> float:
        return 15.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.n >= self.frames:
            if self.mode == "stuck":
                self.released.wait()  # a driver that never returns (until the handle is released)
            return False, None
        time.sleep(1 / 15)  # the device's own frame interval, not synchronisation
        self.n += 1
        return True, np.ascontiguousarray(indexed_frame(self.n - 1)[:, :, ::-1])  # BGR, as OpenCV gives

    def release(self) -> None:
        self.released.set()


@pytest.mark.parametrize("mode", ["unplugged", "stuck"])
def test_a_camera_that_goes_away_ends_the_run_and_its_video_is_uploaded(
        mode: str, endpoint: EndpointThread, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources.cv2, "VideoCapture", GoneCamera)
    monkeypatch.setattr(GoneCamera, "mode", mode)
    monkeypatch.setattr(sources, "CAMERA_READ_TIMEOUT_S", 1.0)
    client("kinesisvideo", endpoint.url).create_stream(StreamName="cam", DataRetentionInHours=1)
    rec = Recorder()
    settings = StreamSettings(stream="cam", source="camera:3@v4l2", region=REGION, endpoint_url=endpoint.url,
                              width=WIDTH, height=HEIGHT, fps=15, fragment_seconds=1.0)
    result = run_engine(settings, rec, timeout=60)
    assert GoneCamera.opened[-1] == (3, cv2.CAP_V4L2)  # the backend the list named is the one opened
    errors = [m.text for m in rec.of(EngineMessage) if m.level == "error"]
    expected = "stopped delivering pictures" if mode == "unplugged" else "gave no picture for 1 s"
    assert result.error is not None, errors
    assert expected in result.error
    assert "Camera 3 (v4l2)" in result.error
    assert result.produced >= 2
    assert result.acknowledged == result.produced  # the upload drained: nothing captured was lost
    stored = decode_indices(b"".join(stored_fragments(endpoint, "cam")))
    assert len(stored) == result.frames  # every frame encoded is stored: the upload was not cut short
    assert stored == sorted(set(stored))  # in order, none twice
    assert stored[-1] < GoneCamera.frames
