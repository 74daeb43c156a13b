"""Frame sources: a video file (PyAV), a camera (OpenCV) and a moving test pattern (numpy + OpenCV).

Each source is opened before anything is sent, so a missing camera or a corrupt file is reported at
once, and yields RawFrames with absolute, strictly increasing timestamps in ms. Files keep every
frame, in order, at their own timing; ``realtime`` pacing sleeps on a monotonic clock so a file is
sent like a live camera.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from app.errors import SourceError
from app.media.frames import RawFrame


@dataclass(frozen=True)
class SourceInfo:
    width: int
    height: int
    fps: float
    live: bool  # live sources may drop frames under load; files never do
    duration_s: float | None = None
    description: str = ""


class FrameSource(Protocol):
    info: SourceInfo

    def frames(self, stop: threading.Event) -> Iterator[RawFrame]: ...

    def close(self) -> None: ...


def _plain(exc: BaseException) -> str:
    """FFmpeg's words without PyAV's ``[Errno N]`` prefix and file name."""
    import av

    if isinstance(exc, av.FFmpegError) and exc.strerror:
        return str(exc.strerror)
    return str(exc)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Pacer:
    """Sleeps until each frame's due time (monotonic), interruptible by ``stop``."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.t0 = time.monotonic()

    def wait(self, offset_s: float) -> bool:
        delay = self.t0 + offset_s - time.monotonic()
        if delay > 0:
            return not self.stop.wait(delay)
        return not self.stop.is_set()


class FileSource:
    def __init__(self, path: str | Path, *, realtime: bool = True) -> None:
        import av

        self.path = Path(path)
        self.realtime = realtime
        try:
            self._container = av.open(str(self.path))
        except FileNotFoundError:
            raise SourceError(f"Video file not found: {self.path}") from None
        except IsADirectoryError:
            raise SourceError(f"{self.path} is a folder, not a video file.") from None
        except PermissionError:
            raise SourceError(f"Cannot read {self.path}: permission denied.") from None
        except (av.InvalidDataError, av.error.EOFError):
            raise SourceError(f"{self.path.name} is not a video file PyAV can read (corrupt, empty, or not "
                              "a video).") from None
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise SourceError(f"Cannot read video file {self.path.name}: {_plain(exc)}") from None
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"{self.path.name} has no video track.")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate or 30
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif self._container.duration:
            duration = self._container.duration / 1e6
        self._decoder = self._container.decode(stream)
        try:
            self._first = next(self._decoder)  # fail now, before any connection, if it cannot decode
        except StopIteration:
            self._container.close()
            raise SourceError(f"{self.path.name} contains no decodable video frames.") from None
        except (av.FFmpegError, ValueError) as exc:
            self._container.close()
            raise SourceError(f"Cannot decode the video of {self.path.name}: {_plain(exc)}") from None
        self.info = SourceInfo(self._first.width, self._first.height, float(rate), live=False,
                               duration_s=duration, description=f"file {self.path.name}")

    def frames(self, stop: threading.Event) -> Iterator[RawFrame]:
        import itertools

        import av

        # Realtime: frame times start now. Fast: the whole file lies in the past, so no timestamp is
        # in the future (the service rejects those), and uploading stays inside the limits.
        span_ms = round((self.info.duration_s or 0) * 1000)
        base = _now_ms() - (0 if self.realtime else span_ms + 1000)
        pacer = _Pacer(stop)
        first_t: float | None = None
        last_ts = -1
        index = 0
        try:
            for frame in itertools.chain([self._first], self._decoder):
                t = frame.time if frame.time is not None else index / self.info.fps
                first_t = t if first_t is None else first_t
                offset = t - first_t
                if self.realtime and not pacer.wait(offset):
                    return
                if stop.is_set():
                    return
                ts = max(base + round(offset * 1000), last_ts + 1)  # strictly increasing, never dropped
                last_ts = ts
                yield RawFrame(index, ts, frame)
                index += 1
        except (av.FFmpegError, ValueError) as exc:
            raise SourceError(f"{self.path.name} could not be decoded after frame {index}: {_plain(exc)}") from None

    def close(self) -> None:
        self._container.close()


class TestPatternSource:
    """Moving colour bars with a clock and the frame number: a live source that needs no camera."""

    __test__ = False  # not a pytest test class

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30.0,
                 duration_s: float | None = None) -> None:
        self.info = SourceInfo(width, height, fps, live=True, duration_s=duration_s, description="test pattern")
        bars = np.array([[192, 192, 192], [0, 192, 192], [192, 192, 0], [0, 192, 0], [192, 0, 192],
                         [0, 0, 192], [192, 0, 0]], dtype=np.uint8)
        cols = np.arange(width) * len(bars) // width
        self._bars = np.repeat(bars[cols][None, :, :], height, axis=0)

    def render(self, index: int, ts_ms: int) -> np.ndarray:
        w, h = self.info.width, self.info.height
        img = np.roll(self._bars, (index * 4) % w, axis=1).copy()
        clock = time.strftime("%H:%M:%S", time.localtime(ts_ms / 1000)) + f".{ts_ms % 1000:03d}"
        scale = max(0.5, h / 360)
        cv2.rectangle(img, (0, h - int(70 * scale)), (w, h), (16, 16, 16), -1)
        cv2.putText(img, f"KVS Studio  {clock}  #{index}", (int(12 * scale), h - int(24 * scale)),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA)
        x = int((index * 8) % w)
        cv2.circle(img, (x, h // 3), int(20 * scale), (255, 255, 255), -1)
        return img

    def frames(self, stop: threading.Event) -> Iterator[RawFrame]:
        pacer = _Pacer(stop)
        last_ts = -1
        index = 0
        while not stop.is_set():
            offset = index / self.info.fps
            if self.info.duration_s is not None and offset >= self.info.duration_s:
                return
            if not pacer.wait(offset):
                return
            ts = max(_now_ms(), last_ts + 1)
            last_ts = ts
            yield RawFrame(index, ts, self.render(index, ts))
            index += 1

    def close(self) -> None:
        pass


# OpenCV capture backends by the names a source spec uses (``camera:0@v4l2``).
BACKEND_NAMES: dict[int, str] = {
    cv2.CAP_ANY: "any", cv2.CAP_V4L2: "v4l2", cv2.CAP_MSMF: "msmf", cv2.CAP_DSHOW: "dshow",
    cv2.CAP_AVFOUNDATION: "avfoundation", cv2.CAP_GSTREAMER: "gstreamer",
}
CAMERA_READ_TIMEOUT_S = 5.0  # no picture for this long: the camera is gone (a read that never returns)


def camera_spec(index: int, backend: int = cv2.CAP_ANY) -> str:
    return f"camera:{index}" if backend == cv2.CAP_ANY else f"camera:{index}@{BACKEND_NAMES.get(backend, backend)}"


def parse_camera_spec(spec: str) -> tuple[int, int]:
    """``camera:N`` or ``camera:N@backend`` -> (index, cv2.CAP_*)."""
    body = spec.split(":", 1)[1]
    number, _, backend = body.partition("@")
    try:
        index = int(number)
    except ValueError:
        raise SourceError(f"{spec!r}: write camera:N with a number, e.g. camera:0") from None
    if not backend:
        return index, cv2.CAP_ANY
    by_name = {name: api for api, name in BACKEND_NAMES.items()}
    if backend.lower() not in by_name:
        raise SourceError(f"{spec!r}: unknown camera backend {backend!r}; use one of {', '.join(sorted(by_name))}")
    return index, by_name[backend.lower()]


class CameraSource:
    """A camera through OpenCV. Frames are read on a thread of its own, so a camera that disappears and
    leaves ``read()`` blocked still ends the run (with a message) instead of hanging it."""

    def __init__(self, index: int, width: int | None = None, height: int | None = None,
                 fps: float | None = None, duration_s: float | None = None, backend: int = cv2.CAP_ANY,
                 read_timeout_s: float | None = None) -> None:
        self.index = index
        self.read_timeout_s = CAMERA_READ_TIMEOUT_S if read_timeout_s is None else read_timeout_s
        self._label = f"Camera {index}" + (f" ({BACKEND_NAMES.get(backend, backend)})" if backend != cv2.CAP_ANY
                                           else "")
        cap = cv2.VideoCapture(index, backend)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self._label} could not be opened: it is missing, busy, or not allowed. "
                              "Pick another camera, or the test pattern.")
        if width and height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"{self._label} opened but gave no picture.")
        self._cap = cap
        self._first = first
        self._reader: threading.Thread | None = None
        self._closing = threading.Event()
        real_fps = cap.get(cv2.CAP_PROP_FPS) or fps or 30.0
        self.info = SourceInfo(first.shape[1], first.shape[0], float(real_fps), live=True, duration_s=duration_s,
                               description=f"camera {index}")

    def _read_loop(self, out: queue.Queue[tuple[bool, np.ndarray | None]]) -> None:
        while not self._closing.is_set():
            ok, image = self._cap.read()
            while not self._closing.is_set():
                try:
                    out.put((ok, image), timeout=0.2)
                    break
                except queue.Full:
                    continue
            if not ok or image is None:
                return

    def frames(self, stop: threading.Event) -> Iterator[RawFrame]:
        pictures: queue.Queue[tuple[bool, np.ndarray | None]] = queue.Queue(maxsize=2)
        self._reader = threading.Thread(target=self._read_loop, args=(pictures,), name="kvs-camera-read",
                                        daemon=True)
        self._reader.start()
        t0 = time.monotonic()
        last_ts = -1
        index = 0
        image: np.ndarray | None = self._first
        while not stop.is_set():
            if self.info.duration_s is not None and time.monotonic() - t0 >= self.info.duration_s:
                return
            ts = max(_now_ms(), last_ts + 1)
            last_ts = ts
            yield RawFrame(index, ts, image)
            index += 1
            waited = 0.0
            while True:  # wait in short steps so a stop is heard at once
                try:
                    ok, image = pictures.get(timeout=0.2)
                    break
                except queue.Empty:
                    if stop.is_set():
                        return
                    waited += 0.2
                    if waited >= self.read_timeout_s:
                        raise SourceError(f"{self._label} gave no picture for {self.read_timeout_s:g} s (unplugged, "
                                          "or taken by another program); capture ended.") from None
            if not ok or image is None:
                raise SourceError(f"{self._label} stopped delivering pictures (unplugged or taken by another "
                                  "program); capture ended.")

    def close(self) -> None:
        self._closing.set()
        reader = self._reader
        if reader is not None:
            reader.join(1.0)
            if reader.is_alive():  # still blocked in read(): releasing under it could crash in the driver
                return
        self._cap.release()


def open_source(spec: str, *, width: int | None = None, height: int | None = None, fps: float | None = None,
                realtime: bool = True, duration_s: float | None = None) -> FrameSource:
    """``camera:N`` (or ``camera:N@backend``, e.g. camera:0@v4l2), ``testpattern`` or a file path."""
    if spec == "testpattern":
        return TestPatternSource(width or 1280, height or 720, fps or 30.0, duration_s)
    if spec.startswith("camera:"):
        idx, backend = parse_camera_spec(spec)
        return CameraSource(idx, width, height, fps, duration_s, backend=backend)
    return FileSource(spec, realtime=realtime)
