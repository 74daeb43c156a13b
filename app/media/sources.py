"""Frame sources: a video file (PyAV), a camera (OpenCV) and a moving test pattern (numpy + OpenCV).

Each source is opened before anything is sent, so a missing camera or a corrupt file is reported at
once, and yields RawFrames with absolute, strictly increasing timestamps in ms. Files keep every
frame, in order, at their own timing; ``realtime`` pacing sleeps on a monotonic clock so a file is
sent like a live camera.
"""

from __future__ import annotations

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


class FileSource:
    """A video file, and (``audio=True``) its first audio track: both are demuxed in one pass so they share
    one clock base. Audio packets go to ``audio_sink`` (set by the engine) as AAC-LC EncodedPackets."""

    def __init__(self, path: str | Path, *, realtime: bool = True, audio: bool = True,
                 on_level: LevelCallback | None = None) -> None:
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


class CameraSource:
    def __init__(self, index: int, width: int | None = None, height: int | None = None,
                 fps: float | None = None, duration_s: float | None = None) -> None:
        self.index = index
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"Camera {index} could not be opened: it is missing, busy, or not allowed. "
                              "Pick another camera, or the test pattern.")
        if width and height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"Camera {index} opened but gave no picture.")
        self._cap = cap
        self._first = first
        real_fps = cap.get(cv2.CAP_PROP_FPS) or fps or 30.0
        self.info = SourceInfo(first.shape[1], first.shape[0], float(real_fps), live=True, duration_s=duration_s,
                               description=f"camera {index}")

    def frames(self, stop: threading.Event) -> Iterator[RawFrame]:
        t0 = time.monotonic()
        last_ts = -1
        index = 0
        image = self._first
        while not stop.is_set():
            if self.info.duration_s is not None and time.monotonic() - t0 >= self.info.duration_s:
                return
            ts = max(_now_ms(), last_ts + 1)
            last_ts = ts
            yield RawFrame(index, ts, image)
            index += 1
            ok, image = self._cap.read()
            if not ok or image is None:
                raise SourceError(f"Camera {self.index} stopped delivering pictures (unplugged or taken "
                                  "by another program).")

    def close(self) -> None:
        self._cap.release()


def open_source(spec: str, *, width: int | None = None, height: int | None = None, fps: float | None = None,
                realtime: bool = True, duration_s: float | None = None, audio: bool = True,
                on_level: LevelCallback | None = None) -> FrameSource:
    """``camera:N``, ``testpattern`` or a file path."""
    if spec == "testpattern":
        return TestPatternSource(width or 1280, height or 720, fps or 30.0, duration_s)
    if spec.startswith("camera:"):
        try:
            idx = int(spec.split(":", 1)[1])
        except ValueError:
            raise SourceError(f"{spec!r}: write camera:N with a number, e.g. camera:0") from None
        return CameraSource(idx, width, height, fps, duration_s)
    return FileSource(spec, realtime=realtime, audio=audio, on_level=on_level)
