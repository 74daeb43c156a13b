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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from app.errors import SourceError
from app.media.audio import FileAudio, LevelCallback
from app.media.frames import EncodedPacket, RawFrame


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


def open_video_file(path: Path) -> Any:
    """``av.open``, with a user message naming what is wrong for each way it fails."""
    import av

    try:
        return av.open(str(path))
    except FileNotFoundError:
        raise SourceError(f"Video file not found: {path}") from None
    except IsADirectoryError:
        raise SourceError(f"{path} is a folder, not a video file.") from None
    except PermissionError:
        raise SourceError(f"Cannot read {path}: permission denied.") from None
    except (av.InvalidDataError, av.error.EOFError):
        raise SourceError(f"{path.name} is not a video file PyAV can read (corrupt, empty, or not a video).") from None
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise SourceError(f"Cannot read video file {path.name}: {_plain(exc)}") from None


class FileSource:
    """A video file, and (``audio=True``) its first audio track: both are demuxed in one pass so they share
    one clock base. Audio packets go to ``audio_sink`` (set by the engine) as AAC-LC EncodedPackets."""

    def __init__(self, path: str | Path, *, realtime: bool = True, audio: bool = True,
                 on_level: LevelCallback | None = None) -> None:
        import av

        self.path = Path(path)
        self.realtime = realtime
        self._container = open_video_file(self.path)
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"{self.path.name} has no video track.")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream = stream
        self.audio: FileAudio | None = None
        self.audio_problem: str | None = None  # why the file's audio is left out, for a warning
        self.audio_sink: Callable[[EncodedPacket], None] | None = None
        if audio and self._container.streams.audio:
            try:
                self.audio = FileAudio(self._container.streams.audio[0], on_level)
            except (av.FFmpegError, ValueError) as exc:
                self.audio_problem = (f"The audio of {self.path.name} cannot be sent ({_plain(exc)}); "
                                      "sending video only.")
        rate = stream.average_rate or stream.guessed_rate or 30
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif self._container.duration:
            duration = self._container.duration / 1e6
        self._items = self._demux([stream] + ([self.audio.stream] if self.audio else []))
        self._early: list[Any] = []  # audio packets demuxed before the first picture
        try:
            self._first = self._first_frame()  # fail now, before any connection, if it cannot decode
        except StopIteration:
            self._container.close()
            raise SourceError(f"{self.path.name} contains no decodable video frames.") from None
        except (av.FFmpegError, ValueError) as exc:
            self._container.close()
            raise SourceError(f"Cannot decode the video of {self.path.name}: {_plain(exc)}") from None
        self.info = SourceInfo(self._first.width, self._first.height, float(rate), live=False,
                               duration_s=duration, description=f"file {self.path.name}")

    def _demux(self, streams: list[Any]) -> Iterator[Any]:
        """Decoded pictures and audio packets, in file order."""
        for packet in self._container.demux(streams):
            if packet.stream.type == "video":
                yield from packet.decode()
            else:
                yield packet

    def _first_frame(self) -> Any:
        import av

        for item in self._items:
            if isinstance(item, av.VideoFrame):
                return item
            self._early.append(item)
        raise StopIteration

    def frames(self, stop: threading.Event) -> Iterator[RawFrame]:
        import itertools

        import av

        # Realtime: frame times start now. Fast: the whole file lies in the past, so no timestamp is
        # in the future (the service rejects those), and uploading stays inside the limits.
        span_ms = round((self.info.duration_s or 0) * 1000)
        base = _now_ms() - (0 if self.realtime else span_ms + 1000)
        pacer = _Pacer(stop)
        first_t = self._first.time if self._first.time is not None else 0.0

        def to_ms(t: float) -> int:  # the file's time line -> the stream's, for audio and video alike
            return base + round((t - first_t) * 1000)

        last_ts = -1
        index = 0
        try:
            for frame in itertools.chain(self._early, [self._first], self._items):
                if not isinstance(frame, av.VideoFrame):
                    if self.audio is not None and self.audio_sink is not None:
                        for packet in self.audio.packets(frame, to_ms):
                            self.audio_sink(packet)
                    continue
                t = frame.time if frame.time is not None else first_t + index / self.info.fps
                offset = t - first_t
                if self.realtime and not pacer.wait(offset):
                    return
                if stop.is_set():
                    return
                ts = max(to_ms(t), last_ts + 1)  # strictly increasing, never dropped
                last_ts = ts
                yield RawFrame(index, ts, frame)
                index += 1
        except (av.FFmpegError, ValueError) as exc:
            raise SourceError(f"{self.path.name} could not be decoded after frame {index}: {_plain(exc)}") from None

    def close(self) -> None:
        self._container.close()


class TestPatternSource:
    """Moving colour bars with a clock and the frame number: a live source that needs no camera.

    Drawn straight in I420 (what the encoder takes) from rows converted once, so a frame costs a few
    row copies and the text, not a full-frame colour conversion: about 0.2 ms a 720p frame, against 3 ms for
    drawing in BGR and converting it (measured with time.process_time over 300 frames)."""

    __test__ = False  # not a pytest test class

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30.0,
                 duration_s: float | None = None) -> None:
        if width % 2 or height % 2:
            raise ValueError("the test pattern's width and height must be even")
        self.info = SourceInfo(width, height, fps, live=True, duration_s=duration_s, description="test pattern")
        bars = np.array([[192, 192, 192], [0, 192, 192], [192, 192, 0], [0, 192, 0], [192, 0, 192],
                         [0, 0, 192], [192, 0, 0]], dtype=np.uint8)  # BGR
        cols = np.arange(width) * len(bars) // width
        row = np.tile(bars[cols], (1, 2, 1))  # two periods side by side: a scrolled row is one slice
        dark = np.full((1, 2, 3), 16, dtype=np.uint8)
        row_yuv = cv2.cvtColor(np.repeat(row[None, :, :], 2, axis=0).reshape(2, 2 * width, 3), cv2.COLOR_BGR2YUV_I420)
        self._y = row_yuv[0].copy()  # 2*width luma values
        self._u = row_yuv[2, :width].copy()  # I420 of 2 rows: one chroma row each of U then V, width values
        self._v = row_yuv[2, width:].copy()
        self._dark_y = int(cv2.cvtColor(np.repeat(dark, 2, axis=0), cv2.COLOR_BGR2YUV_I420)[0, 0])
        self._scale = max(0.5, height / 360)
        self._band = (height - int(70 * self._scale)) // 2 * 2  # first row of the caption band (even)

    def render(self, index: int, ts_ms: int) -> np.ndarray:
        """One frame as an I420 array: (height * 3 / 2, width), Y then U then V planes."""
        w, h = self.info.width, self.info.height
        flat = np.empty(w * h * 3 // 2, dtype=np.uint8)
        c = (w // 2) * (h // 2)
        self._draw(flat[: w * h].reshape(h, w), flat[w * h: w * h + c].reshape(h // 2, w // 2),
                   flat[w * h + c:].reshape(h // 2, w // 2), index, ts_ms)
        return flat.reshape(h * 3 // 2, w)

    def video_frame(self, index: int, ts_ms: int) -> Any:
        """One frame drawn straight into a new ``av.VideoFrame``'s planes (no copy on the way to x264)."""
        import av

        w, h = self.info.width, self.info.height
        frame = av.VideoFrame(w, h, "yuv420p")
        y, u, v = (np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width] for p in frame.planes)
        self._draw(y, u, v, index, ts_ms)
        return frame

    def _draw(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, index: int, ts_ms: int) -> None:
        w, h, band, scale = self.info.width, self.info.height, self._band, self._scale
        start = w - (index * 4) % w  # even: chroma moves by exactly half as many columns
        y[:band] = self._y[start: start + w]
        y[band:] = self._dark_y
        u[: band // 2] = self._u[start // 2: start // 2 + w // 2]
        v[: band // 2] = self._v[start // 2: start // 2 + w // 2]
        u[band // 2:] = 128
        v[band // 2:] = 128
        clock = time.strftime("%H:%M:%S", time.localtime(ts_ms / 1000)) + f".{ts_ms % 1000:03d}"
        cv2.putText(y, f"KVS Studio  {clock}  #{index}", (int(12 * scale), h - int(24 * scale)),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, 235, max(1, int(2 * scale)), cv2.LINE_AA)
        x, r = int((index * 8) % w), int(20 * scale)
        cv2.circle(y, (x, h // 3), r, 235, -1)
        cv2.circle(u, (x // 2, h // 6), r // 2, 128, -1)
        cv2.circle(v, (x // 2, h // 6), r // 2, 128, -1)

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
            yield RawFrame(index, ts, self.video_frame(index, ts))
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
                realtime: bool = True, duration_s: float | None = None, audio: bool = True,
                on_level: LevelCallback | None = None) -> FrameSource:
    """``camera:N`` (or ``camera:N@backend``, e.g. camera:0@v4l2), ``testpattern`` or a file path."""
    if spec == "testpattern":
        return TestPatternSource(width or 1280, height or 720, fps or 30.0, duration_s)
    if spec.startswith("camera:"):
        idx, backend = parse_camera_spec(spec)
        return CameraSource(idx, width, height, fps, duration_s, backend=backend)
    return FileSource(spec, realtime=realtime, audio=audio, on_level=on_level)
