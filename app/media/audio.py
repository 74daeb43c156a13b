"""Audio for MKV track 2, always AAC-LC (what KVS plays back, kvs-protocol.md §5.1).

Where it comes from:
- a file's first audio track (``FileAudio``, fed packet by packet by the source that demuxes the file, so
  audio and video share one clock base): AAC-LC is sent as it is (copy; ADTS from an MPEG-TS loses its
  header and gets an AudioSpecificConfig), any other codec is decoded and encoded to AAC-LC with PyAV;
- a test tone (``ToneSource``): 440 Hz beeps as each second of the wall clock starts, the second the
  test pattern's clock turns over, so sync can be seen and heard;
- a microphone (``MicSource``) through the optional ``sounddevice`` package.
Live producers stamp packets from the same wall clock the video sources use (``time.time``), so the two
tracks line up without any exchange between their threads.

The copy pipeline (a recording's H.264 sent as it is) can feed its audio the same way: hand each demuxed
audio packet of the file to ``FileAudio.packets`` with the function that maps the file's seconds to the
stream's ms, and ``FileAudio.flush`` at the end.
"""

from __future__ import annotations

import functools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from app.errors import SourceError
from app.media import aac
from app.media.frames import AUDIO_TRACK, EncodedPacket

log = logging.getLogger(__name__)
DEFAULT_AUDIO_BITRATE = 128_000
SILENCE_DBFS = -90.0
LevelCallback = Callable[[float], None]  # peak level of the latest block, dBFS
ToMs = Callable[[float], int]  # a file's time (s) -> the stream's absolute ms


@dataclass(frozen=True)
class AudioTrackInfo:
    codec_private: bytes  # the AudioSpecificConfig
    sample_rate: int
    channels: int
    description: str  # for people: "AAC-LC 48 kHz stereo, copied"

    @property
    def frame_ms(self) -> float:
        return aac.SAMPLES_PER_FRAME * 1000 / self.sample_rate


def describe(sample_rate: int, channels: int, how: str) -> str:
    layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels} ch")
    return f"AAC-LC {sample_rate / 1000:g} kHz {layout}, {how}"


def peak_dbfs(samples: np.ndarray) -> float:
    """Peak of float samples (full scale 1.0) in dBFS, floored at -90."""
    if samples.size == 0:
        return SILENCE_DBFS
    peak = float(np.max(np.abs(samples)))
    return max(SILENCE_DBFS, 20 * math.log10(peak)) if peak > 0 else SILENCE_DBFS


def aac_rate(rate: int) -> int:
    return rate if rate in aac.SAMPLING_FREQUENCIES else 48000


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


class AacEncoder:
    """PCM (any format, rate, layout) -> AAC-LC access units, with pts counted in samples from 0."""

    def __init__(self, sample_rate: int, channels: int, bitrate: int = DEFAULT_AUDIO_BITRATE) -> None:
        self.sample_rate = aac_rate(sample_rate)
        self.channels = 1 if channels == 1 else 2  # more is mixed down: what KVS playback handles everywhere
        cc = av.CodecContext.create("aac", "w")
        cc.sample_rate = self.sample_rate
        cc.layout = _layout(self.channels)
        cc.format = "fltp"
        cc.bit_rate = bitrate if self.channels == 2 else bitrate // 2
        cc.time_base = Fraction(1, self.sample_rate)
        cc.open()
        self._cc = cc
        self.codec_private = bytes(cc.extradata or b"") or aac.audio_specific_config(self.sample_rate, self.channels)
        self._resampler = av.AudioResampler(format="fltp", layout=_layout(self.channels), rate=self.sample_rate,
                                            frame_size=aac.SAMPLES_PER_FRAME)
        self._samples = 0

    def encode(self, frame: av.AudioFrame | None) -> list[tuple[int, bytes]]:
        """``None`` flushes. Returns (pts in samples, access unit); the first has a negative pts (priming)."""
        if frame is not None:
            frame.pts = None  # our own sample count is the time line; the resampler must not re-time it
        out: list[tuple[int, bytes]] = []
        for chunk in self._resampler.resample(frame):
            chunk.pts = self._samples
            chunk.time_base = self._cc.time_base  # else the encoder rescales from the input's time base
            self._samples += chunk.samples
            out += self._packets(self._cc.encode(chunk))
        if frame is None:
            out += self._packets(self._cc.encode(None))
        return out

    def encode_pcm(self, pcm: np.ndarray, sample_rate: int) -> list[tuple[int, bytes]]:
        """``pcm`` float32, shape (channels, samples), full scale 1.0."""
        pcm = np.ascontiguousarray(pcm, dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(pcm, format="fltp", layout=_layout(pcm.shape[0]))
        frame.sample_rate = sample_rate
        return self.encode(frame)

    @staticmethod
    def _packets(packets: list[Any]) -> list[tuple[int, bytes]]:
        return [(int(p.pts), bytes(p)) for p in packets if p.pts is not None and p.size]


@functools.lru_cache(maxsize=8)
def silent_frame(sample_rate: int, channels: int) -> bytes:
    """One AAC-LC access unit of digital silence, as our encoder makes it once warmed up (all such units
    are the same bytes), for filling gaps in a track (app/media/interleave.py)."""
    enc = AacEncoder(sample_rate, channels)
    zeros = np.zeros((enc.channels, aac.SAMPLES_PER_FRAME * 6), dtype=np.float32)
    units = [data for pts, data in enc.encode_pcm(zeros, enc.sample_rate) if pts >= 0]
    return units[-1]


class _Stamper:
    """Strictly increasing ms per track, whatever rounding does."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.count = 0

    def packet(self, ts: int, data: bytes) -> EncodedPacket:
        if self.last is not None and ts <= self.last:
            ts = self.last + 1
        self.last = ts
        self.count += 1
        return EncodedPacket(self.count - 1, ts, True, data, AUDIO_TRACK)


class FileAudio:
    """A file's audio stream -> AAC-LC packets. AAC-LC is copied; anything else is re-encoded."""

    def __init__(self, stream: Any, on_level: LevelCallback | None = None) -> None:
        self.stream = stream
        self.on_level = on_level
        cc = stream.codec_context
        extradata = bytes(cc.extradata or b"")
        rate, channels = int(cc.sample_rate or 0), int(cc.channels or 0)
        self._adts = False
        self._encoder: AacEncoder | None = None
        self._meter: Any = None
        self._start_t: float | None = None
        self._stamp = _Stamper()
        if cc.name == "aac" and extradata and aac.is_plain_lc(extradata):
            cfg = aac.parse_asc(extradata)
            asc, rate, channels = extradata, cfg.sample_rate, cfg.channels
        elif (cc.name == "aac" and not extradata and cc.profile == "LC" and rate in aac.SAMPLING_FREQUENCIES
              and 1 <= channels <= 7):
            self._adts = True  # MPEG-TS / .aac: every packet has an ADTS header to strip
            asc = aac.audio_specific_config(rate, channels)
        else:
            asc = b""
        if asc:
            self.copied = True
            self.info = AudioTrackInfo(asc, rate, channels, describe(rate, channels, "copied"))
            self._meter = av.CodecContext.create("aac", "r")
            self._meter.extradata = asc
        else:
            self.copied = False
            self._encoder = AacEncoder(rate or 48000, channels or 2)
            source = (cc.codec.canonical_name or cc.name or "audio").upper()
            self.info = AudioTrackInfo(self._encoder.codec_private, self._encoder.sample_rate, self._encoder.channels,
                                       describe(self._encoder.sample_rate, self._encoder.channels,
                                                f"re-encoded from {source}"))

    def packets(self, packet: Any, to_ms: ToMs) -> list[EncodedPacket]:
        """One demuxed packet of the file's audio stream; an empty packet (end of stream) flushes."""
        if packet.size == 0 or packet.pts is None:
            return self.flush(to_ms) if packet.size == 0 else []
        if self._encoder is not None:
            return self._encode(packet.decode(), to_ms)
        data = bytes(packet)
        if self._adts:
            cfg, data = aac.adts_to_raw(data)
            if (cfg.sample_rate, cfg.channels) != (self.info.sample_rate, self.info.channels):
                raise SourceError("The file's AAC audio changes its format midway; it cannot be sent as one track.")
        self._meter_level(data)
        return [self._stamp.packet(to_ms(float(packet.pts * packet.time_base)), data)]

    def flush(self, to_ms: ToMs) -> list[EncodedPacket]:
        if self._encoder is None:
            return []
        return self._encode([], to_ms, flush=True)

    def _encode(self, frames: list[Any], to_ms: ToMs, flush: bool = False) -> list[EncodedPacket]:
        assert self._encoder is not None
        units: list[tuple[int, bytes]] = []
        for frame in frames:
            if self._start_t is None:
                self._start_t = float(frame.time) if frame.time is not None else 0.0
            if self.on_level is not None:
                self.on_level(peak_dbfs(_as_float(frame)))
            units += self._encoder.encode(frame)
        if flush:
            units += self._encoder.encode(None)
        start, rate = self._start_t or 0.0, self._encoder.sample_rate
        return [self._stamp.packet(to_ms(start + pts / rate), data) for pts, data in units]

    def _meter_level(self, data: bytes) -> None:
        if self.on_level is None or self._meter is None:
            return
        try:
            for frame in self._meter.decode(av.Packet(data)):
                self.on_level(peak_dbfs(_as_float(frame)))
        except av.FFmpegError:  # the meter is for people; a frame it cannot read is still sent
            pass


def _as_float(frame: Any) -> np.ndarray:
    arr = frame.to_ndarray()
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        return arr
    return arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)


# -- live producers --------------------------------------------------------------------------------


def tone_block(first_sample: int, count: int, sample_rate: int, start_ms: float, freq: float = 440.0,
               beep_ms: int = 100) -> np.ndarray:
    """Samples ``first_sample``.. of a beep at ``freq`` during the first ``beep_ms`` of every wall-clock second
    (``start_ms`` is the wall time of sample 0), silence otherwise."""
    n = first_sample + np.arange(count)
    wall_ms = start_ms + n * 1000.0 / sample_rate
    on = np.mod(wall_ms, 1000.0) < beep_ms
    return np.where(on, 0.5 * np.sin(2 * np.pi * freq * n / sample_rate), 0.0).astype(np.float32)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ToneSource:
    """A generated tone, produced in real time (block by block, on a monotonic clock)."""

    live = True

    def __init__(self, sample_rate: int = 48000, channels: int = 1, freq: float = 440.0, beep_ms: int = 100,
                 on_level: LevelCallback | None = None) -> None:
        self.encoder = AacEncoder(sample_rate, channels)
        self.freq, self.beep_ms = freq, beep_ms
        self.on_level = on_level
        rate, ch = self.encoder.sample_rate, self.encoder.channels
        self.info = AudioTrackInfo(self.encoder.codec_private, rate, ch,
                                   describe(rate, ch, f"test tone {freq:g} Hz"))

    def packets(self, stop: threading.Event) -> Iterator[EncodedPacket]:
        rate, block = self.encoder.sample_rate, aac.SAMPLES_PER_FRAME
        base, t0 = _now_ms(), time.monotonic()
        stamp = _Stamper()
        n = 0
        while True:
            ready = t0 + (n + block) / rate  # a block exists once its last sample's time has passed
            delay = ready - time.monotonic()
            if (delay > 0 and stop.wait(delay)) or stop.is_set():
                break
            mono = tone_block(n, block, rate, base, self.freq, self.beep_ms)
            if self.on_level is not None:
                self.on_level(peak_dbfs(mono))
            pcm = np.repeat(mono[None, :], self.encoder.channels, axis=0)
            for pts, data in self.encoder.encode_pcm(pcm, rate):
                yield stamp.packet(base + round(pts * 1000 / rate), data)
            n += block
        for pts, data in self.encoder.encode(None):
            yield stamp.packet(base + round(pts * 1000 / rate), data)

    def close(self) -> None:
        pass


class AudioClock:
    """Sample counts -> wall-clock ms for a capture device. Counting samples keeps frames evenly spaced; when the
    count drifts from the wall clock by more than ``tolerance_ms`` (the device's clock runs fast or slow, or it
    stalled and lost samples) it is re-anchored, so audio never falls behind the video for good."""

    def __init__(self, sample_rate: int, tolerance_ms: float = 60.0) -> None:
        self.rate = sample_rate
        self.tolerance = tolerance_ms
        self.anchor_ms: float | None = None  # wall ms of sample 0
        self.reanchored = 0

    def block(self, first_sample: int, wall_ms: float) -> None:
        """A block whose first sample was captured at ``wall_ms``."""
        expected = None if self.anchor_ms is None else self.anchor_ms + first_sample * 1000 / self.rate
        if expected is None or abs(expected - wall_ms) > self.tolerance:
            if expected is not None:
                self.reanchored += 1
            self.anchor_ms = wall_ms - first_sample * 1000 / self.rate

    def ms(self, sample: int) -> int:
        assert self.anchor_ms is not None
        return round(self.anchor_ms + sample * 1000 / self.rate)


def _sounddevice() -> Any:
    try:
        import sounddevice  # optional: pip install sounddevice (needs the PortAudio library)
    except (ImportError, OSError) as exc:
        raise SourceError("Microphone capture needs the optional 'sounddevice' package and the PortAudio library "
                          f"(pip install sounddevice): {exc}") from None
    return sounddevice


def list_microphones() -> list[str]:
    """Names of the capture devices, or [] when there is no capture library or no device."""
    try:
        sd = _sounddevice()
        return [d["name"] for d in sd.query_devices() if d.get("max_input_channels", 0) > 0]
    except Exception:  # no library, no PortAudio, no sound system: no microphones to offer
        return []


class MicSource:
    """A microphone by name (exact, else the only one whose name contains it), via sounddevice."""

    live = True

    def __init__(self, name: str, on_level: LevelCallback | None = None) -> None:
        sd = _sounddevice()
        try:
            devices = [(i, d) for i, d in enumerate(sd.query_devices()) if d.get("max_input_channels", 0) > 0]
        except Exception as exc:
            raise SourceError(f"Cannot list microphones: {exc}") from None
        exact = [(i, d) for i, d in devices if d["name"] == name]
        loose = [(i, d) for i, d in devices if name.lower() in d["name"].lower()]
        found = exact or (loose if len(loose) == 1 else [])
        if not found:
            names = ", ".join(repr(d["name"]) for _, d in devices) or "none"
            raise SourceError(f"No microphone named {name!r} (microphones found: {names}).")
        self.device, spec = found[0]
        self.name = spec["name"]
        self.capture_rate = int(spec.get("default_samplerate") or 48000)
        self.capture_channels = min(2, int(spec["max_input_channels"]))
        self.on_level = on_level
        self._sd = sd
        self.encoder = AacEncoder(self.capture_rate, self.capture_channels)
        rate, ch = self.encoder.sample_rate, self.encoder.channels
        self.info = AudioTrackInfo(self.encoder.codec_private, rate, ch, describe(rate, ch, f"microphone {self.name}"))

    def packets(self, stop: threading.Event) -> Iterator[EncodedPacket]:
        blocks: queue.Queue[tuple[float, np.ndarray]] = queue.Queue(maxsize=500)
        block = aac.SAMPLES_PER_FRAME

        def callback(indata: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
            # The first sample of this block was captured about its duration ago.
            try:
                blocks.put_nowait((time.time() * 1000 - frames * 1000 / self.capture_rate, indata.copy()))
            except queue.Full:
                pass  # the encoder fell far behind: the clock re-anchors over the gap

        clock = AudioClock(self.encoder.sample_rate)
        stamp = _Stamper()
        captured = 0  # in the encoder's rate
        ratio = self.encoder.sample_rate / self.capture_rate
        try:
            stream = self._sd.InputStream(device=self.device, channels=self.capture_channels,
                                          samplerate=self.capture_rate, blocksize=block, dtype="float32",
                                          callback=callback)
            stream.start()
        except Exception as exc:
            raise SourceError(f"Microphone {self.name!r} could not be opened: {exc}") from None
        try:
            while not stop.is_set():
                try:
                    wall, data = blocks.get(timeout=0.2)
                except queue.Empty:
                    continue
                clock.block(captured, wall)
                captured += round(data.shape[0] * ratio)
                if self.on_level is not None:
                    self.on_level(peak_dbfs(data))
                for pts, unit in self.encoder.encode_pcm(data.T, self.capture_rate):
                    yield stamp.packet(clock.ms(pts), unit)
            if clock.anchor_ms is not None:
                for pts, unit in self.encoder.encode(None):
                    yield stamp.packet(clock.ms(pts), unit)
        finally:
            stream.stop()
            stream.close()

    def close(self) -> None:
        pass


LiveAudio = ToneSource | MicSource


def open_live_audio(*, tone: bool, mic: str | None, on_level: LevelCallback | None = None) -> LiveAudio | None:
    if tone and mic:
        raise SourceError("Choose either the test tone or a microphone, not both.")
    if mic:
        return MicSource(mic, on_level)
    if tone:
        return ToneSource(on_level=on_level)
    return None
