"""A recording's H.264 sent as it is (``--copy``): demuxed with PyAV, never decoded.

Reads MP4/MOV, MKV/WebM, MPEG-TS and raw Annex-B ``.h264``. Before anything is sent, a demux-only pass
over the file (no decoding: it reads at disk speed) checks what copy mode cannot send, finds the key
frames and plans the fragment cuts (app/media/copy_plan.py): a codec other than H.264 and key frames more
than 10 s apart are refused with a message that names the problem.

Packets come out in decode order as EncodedPackets with presentation times in ms (``timestamp_ms``);
B-frames keep their own presentation times. Decode times only order the blocks (Matroska stores none),
so where a container gives none (Matroska, a stream's first packets) they are made up to increase.

Packet data becomes AVCC with 4-byte lengths: MP4/MKV packets already are (other length sizes are
rewritten), Annex-B ones (TS, raw) are converted with app/mkv/avc.py. Access unit delimiters are dropped
(a container marks access units itself). SPS/PPS that a stream carries in-band are kept: CodecPrivate has
them for players that start at a fragment, and in-band copies keep a stream decodable where its
parameters change mid-file (joined TS recordings); removing them would cost a pass over every key frame
and gain ~50 bytes per fragment.

CodecPrivate is the file's avcC (MP4/MKV), or built from SPS/PPS: from the extradata FFmpeg found
(Annex-B in TS and raw streams) or else from the first key frame.

Timing: ``realtime`` places the first frame now and releases each packet when its presentation time comes
(a packet is never sent before a frame that precedes it is due, as a live encoder with B-frames works).
``fast`` places the whole recording in the past, so no timestamp is in the future, and sends at once.
Raw Annex-B carries no timestamps: frames get FFmpeg's frame duration (from the SPS timing, else 25 fps),
and B-frames there are refused, since their presentation order is not known without decoding.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from app.errors import SourceError
from app.kvs.limits import MAX_FRAGMENT_MS
from app.media import copy_plan
from app.media.audio import FileAudio, LevelCallback
from app.media.frames import EncodedPacket
from app.media.sources import SourceInfo, _plain, open_video_file
from app.media.thumbnail import preview_bgr
from app.mkv import avc

log = logging.getLogger(__name__)
CODEC_NAMES = {"hevc": "H.265/HEVC", "vp9": "VP9", "vp8": "VP8", "av1": "AV1", "mpeg4": "MPEG-4 Part 2",
               "mjpeg": "Motion JPEG", "mpeg2video": "MPEG-2", "prores": "ProRes"}
DROP_COPY = "Send it re-encoded instead (drop --copy, or untick “Upload as recorded”)."


@dataclass
class _Scan:
    """What the demux-only pass found (times in the stream's time base)."""

    count: int = 0
    origin: int | None = None  # presentation time of the first key frame
    key_ticks: list[int] = field(default_factory=list)
    end_ticks: int = 0  # when the last frame ends
    timed: bool = True  # the container gives timestamps (raw Annex-B gives none)
    b_slices: bool = False  # only looked for in raw Annex-B
    first_key: bytes = b""  # its data, for SPS/PPS when the container has none


class CopySource:
    """The file's H.264 as it is and (``audio=True``) its first audio track, demuxed in one pass on one clock:
    audio packets go to ``audio_sink`` (set by the engine) as AAC-LC EncodedPackets, AAC copied as well."""

    def __init__(self, path: str | Path, *, realtime: bool = True, fragment_ms: int = 2000, audio: bool = True,
                 on_level: LevelCallback | None = None) -> None:
        self.path = Path(path)
        self.realtime = realtime
        self.audio: FileAudio | None = None
        self.audio_problem: str | None = None  # why the file's audio is left out, for a warning
        self.audio_sink: Callable[[EncodedPacket], None] | None = None
        container = open_video_file(self.path)
        try:
            if not container.streams.video:
                raise SourceError(f"{self.path.name} has no video track.")
            stream = container.streams.video[0]
            cc = stream.codec_context
            if cc.name != "h264":
                named = CODEC_NAMES.get(cc.name, cc.codec.long_name or cc.name)
                raise SourceError(f"{self.path.name} has {named} video; upload as recorded (--copy) sends H.264 "
                                  f"only. {DROP_COPY}")
            self._tb = stream.time_base or Fraction(1, 90_000)
            rate = stream.average_rate or stream.guessed_rate or 25
            if container.format.name == "h264":
                rate = stream.guessed_rate or rate  # the SPS timing; average_rate is FFmpeg's 25 fps guess
            self.fps = float(rate)
            self._frame_ticks = max(1, round(1 / (Fraction(rate) * self._tb)))
            width, height = cc.width, cc.height
            extradata = bytes(cc.extradata or b"")
            if audio and container.streams.audio:
                try:
                    self.audio = FileAudio(container.streams.audio[0], on_level)
                except (av.FFmpegError, ValueError) as exc:
                    self.audio_problem = (f"The audio of {self.path.name} cannot be sent ({_plain(exc)}); "
                                          "sending video only.")
            scan = self._scan(container, stream)
        except av.FFmpegError as exc:
            raise SourceError(f"Cannot read the video of {self.path.name}: {_plain(exc)}") from None
        finally:
            container.close()
        self._check(scan)
        self._scan_result = scan
        self._avcc = extradata[:1] == b"\x01"  # avcC extradata <=> length-prefixed packets (MP4, MKV)
        self.codec_private, self._length_size = self._codec_private(extradata, scan)
        key_ms = [self._ms(t) for t in scan.key_ticks]
        self.span_ms = self._ms(scan.end_ticks)
        self._cuts = copy_plan.plan_cuts(key_ms, self.span_ms, fragment_ms)
        self.info = SourceInfo(width, height, self.fps, live=False, duration_s=self.span_ms / 1000,
                               description=f"file {self.path.name} (as recorded)")
        self.fragments = sum(self._cuts)

    # -- the demux-only pass -------------------------------------------------------------------------

    def _scan(self, container: Any, stream: Any) -> _Scan:
        scan = _Scan()
        raw = container.format.name == "h264"
        ticks = 0
        for p in container.demux(stream):
            if p.size == 0:
                continue  # the demuxer's end-of-stream marker
            if raw or (p.pts is None and p.dts is None and scan.count == 0):
                scan.timed = False
            pts = ticks if not scan.timed else (p.pts if p.pts is not None else p.dts)
            dur = p.duration or self._frame_ticks
            ticks += dur
            scan.count += 1
            if pts is None:
                continue
            if p.is_keyframe:
                if scan.origin is None:
                    scan.origin = pts
                    scan.first_key = bytes(p)
                scan.key_ticks.append(pts)
            scan.end_ticks = max(scan.end_ticks, pts + dur)
            if not scan.timed and not scan.b_slices and not p.is_keyframe:
                scan.b_slices = _has_b_slice(bytes(memoryview(p)[:1024]))  # a slice header is in its first bytes
        return scan

    def _check(self, scan: _Scan) -> None:
        name = self.path.name
        if scan.origin is None:
            raise SourceError(f"{name} has no H.264 key frame, so no fragment can start. {DROP_COPY}")
        if scan.b_slices:
            raise SourceError(f"{name} is raw H.264 with B-frames, which carries no presentation times, so it "
                              f"cannot be sent as recorded. {DROP_COPY}")
        keys = scan.key_ticks
        if any(b <= a for a, b in itertools.pairwise(keys)):
            raise SourceError(f"{name}: its key frames are not in presentation order, so it cannot be cut into "
                              f"fragments as recorded. {DROP_COPY}")
        scan.end_ticks -= scan.origin
        scan.key_ticks = [t - scan.origin for t in keys]
        gop = copy_plan.long_gop([self._ms(t) for t in scan.key_ticks], self._ms(scan.end_ticks))
        if gop is not None:
            raise SourceError(f"{name} has {gop.gap_ms / 1000:.1f} s between key frames (at {gop.at_ms / 1000:.1f} s), "
                              f"longer than the {MAX_FRAGMENT_MS // 1000} s a Kinesis Video fragment may last, so it "
                              f"cannot be sent as recorded. {DROP_COPY}")

    def _codec_private(self, extradata: bytes, scan: _Scan) -> tuple[bytes, int]:
        if self._avcc:
            try:
                size = avc.record_length_size(extradata)
            except ValueError:
                raise SourceError(f"{self.path.name}: its H.264 configuration (avcC) cannot be read.") from None
            return (extradata if size == 4 else avc.with_length_size_4(extradata)), size
        sets = avc.parameter_sets(extradata) if extradata else None
        if sets is None:
            sets = avc.parameter_sets(scan.first_key)
        if sets is None:
            raise SourceError(f"{self.path.name}: no SPS/PPS found before the first key frame, so a player could not "
                              f"decode it. {DROP_COPY}")
        return avc.avcc_record(*sets), 4

    def _ms(self, ticks: int) -> int:
        """Stream ticks to ms, rounded half up, exactly (no float)."""
        num = ticks * self._tb.numerator * 1000
        den = self._tb.denominator
        return (2 * num + den) // (2 * den)

    # -- sending --------------------------------------------------------------------------------------

    def packets(self, stop: threading.Event) -> Iterator[tuple[EncodedPacket, bool]]:
        """(packet, starts a fragment), in decode order, paced when ``realtime``."""
        scan = self._scan_result
        origin = scan.origin
        assert origin is not None
        now_ms = time.time_ns() // 1_000_000
        base = now_ms if self.realtime else now_ms - self.span_ms - 1000
        t0 = time.monotonic()
        due_ms = 0  # the latest presentation time released so far (realtime)
        last_dts: int | None = None
        keys = 0
        index = 0
        ticks = 0
        started = False
        origin_s = float(origin * self._tb)

        def to_ms(t: float) -> int:  # the file's time line, for its audio: the same origin as the picture's
            return base + round((t - origin_s) * 1000)

        container = open_video_file(self.path)
        try:
            stream = container.streams.video[0]
            streams = [stream] + ([container.streams.audio[0]] if self.audio is not None else [])
            for p in container.demux(streams):
                if stop.is_set():
                    return
                if p.stream.type == "audio":
                    if self.audio is not None and self.audio_sink is not None:
                        for packet in self.audio.packets(p, to_ms):
                            self.audio_sink(packet)
                    continue
                if p.size == 0:
                    continue
                dur = p.duration or self._frame_ticks
                if scan.timed:
                    pts = p.pts if p.pts is not None else p.dts
                    dts = p.dts
                else:
                    pts = dts = ticks
                ticks += dur
                key = bool(p.is_keyframe) and pts is not None
                if not started and not key:
                    continue  # before the first key frame nothing can be decoded
                if pts is None or pts < origin:
                    continue  # leading pictures of an open GOP at the very start refer to frames not in the file
                started = True
                pts_ms = self._ms(pts - origin)
                dts_ms = self._ms(dts - origin) if dts is not None else None
                if dts_ms is None or (last_dts is not None and dts_ms <= last_dts):
                    dts_ms = pts_ms if last_dts is None else last_dts + 1  # only orders blocks (see above)
                last_dts = dts_ms
                cut = False
                if key:
                    cut = self._cuts[keys] if keys < len(self._cuts) else False
                    keys += 1
                data = bytes(p)
                data = avc.avcc_normalise(data, self._length_size) if self._avcc else avc.annexb_to_avcc(data)
                if self.realtime and pts_ms > due_ms:
                    due_ms = pts_ms
                    delay = t0 + due_ms / 1000 - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        return
                yield (EncodedPacket(index, base + pts_ms, key, data,
                                     decode_ms=base + dts_ms if dts_ms != pts_ms else None), cut)
                index += 1
        except av.FFmpegError as exc:
            raise SourceError(f"{self.path.name} could not be read after packet {index}: {_plain(exc)}") from None
        finally:
            container.close()

    def close(self) -> None:
        """Nothing stays open between passes: each pass opens and closes its own container."""


def _has_b_slice(head: bytes) -> bool:
    """Whether the first slice in the start of an Annex-B access unit is a B slice."""
    try:
        nals = avc.split_annexb(head)
    except ValueError:
        return False
    for nal in nals:
        kind = avc.slice_type(nal)
        if kind is not None:
            return kind % 5 == 1
    return False


class KeyFramePreview:
    """A picture of a key frame now and then for the window, decoded on its own (a fresh decoder per key
    frame: a few ms at 720p, and nothing is held between previews)."""

    def __init__(self, codec_private: bytes) -> None:
        self.codec_private = codec_private

    def picture(self, data: bytes) -> np.ndarray | None:
        try:
            cc = av.CodecContext.create("h264", "r")
            cc.extradata = self.codec_private
            frames = cc.decode(av.Packet(data)) + cc.decode(None)
        except (av.FFmpegError, ValueError) as exc:
            log.debug("no preview of a key frame: %s", exc)
            return None
        return preview_bgr(frames[0]) if frames else None
