"""Encoded packets to KVS fragments (pure).

Theory: one Cluster per fragment, starting on a video key frame; cluster timecodes are absolute ms and
strictly increase for the session. Clusters are written with unknown size so that each frame can be
sent as soon as it is encoded: a fragment's bytes grow frame by frame and the fragment is sealed when
the next key frame starts the next cluster (or the stream ends). ``plan_key_frame`` tells an
encoder where the next boundary is; packets copied from a recording bring their own key frames.
The connection header (EBML, Segment, Info, Tracks) is built once and replayed at the start of every
connection.

Packets arrive in decode order. Block timecodes are presentation times relative to the cluster, so
B-frames (presented before frames decoded earlier) get smaller, even negative, offsets; what must
increase is each track's decode time. Packets of other tracks (audio) go into the open cluster as they
come: interleaving them in time order is the caller's job, since only it sees both tracks.

Fragment metadata (kvs-protocol.md §5.2 item 5, §5.3) goes in a Tags element right before the Cluster it
describes, inside the fragment's own bytes, so a fragment sent again after a reconnect carries it again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.media.frames import VIDEO_TRACK, EncodedPacket
from app.mkv import writer

MAX_BLOCK_OFFSET_MS = 32767  # SimpleBlock relative timecode is a signed 16-bit number
MIN_BLOCK_OFFSET_MS = -32768


@dataclass(frozen=True)
class FrameAdded:
    """A frame was appended to the open fragment (``seq``); ``data`` are the bytes to send."""

    seq: int
    data: bytes
    index: int
    started: bool  # True for the first frame, whose bytes include the cluster start
    timecode: int  # the fragment's cluster timecode (ms)
    track: int = VIDEO_TRACK
    tags: tuple[tuple[str, str], ...] = ()  # the fragment's metadata (on its first frame only)


@dataclass(frozen=True)
class FragmentSealed:
    seq: int


FragmenterEvent = FrameAdded | FragmentSealed


def video_entry(codec_private: bytes, width: int, height: int, fps: float) -> bytes:
    return writer.video_track(codec_private=codec_private, width=width, height=height,
                              default_duration_ns=round(1e9 / fps) if fps > 0 else None)


def audio_entry(codec_private: bytes, sample_rate: int, channels: int) -> bytes:
    """Track 2, AAC: CodecPrivate is the AudioSpecificConfig (app/media/aac.py)."""
    return writer.audio_track(codec_private=codec_private, sampling_frequency=float(sample_rate), channels=channels)


def connection_header(*track_entries: bytes, segment_uid: bytes | None = None) -> bytes:
    """EBML header, Segment, Info and Tracks; ``track_entries`` in track-number order (video first)."""
    return (
        writer.ebml_header()
        + writer.segment_start()
        + writer.info(1_000_000, segment_uid or os.urandom(16))
        + writer.tracks(*track_entries)
    )


class Fragmenter:
    def __init__(self, fragment_ms: int = 2000, first_seq: int = 0,
                 tags: Callable[[], Sequence[tuple[str, str]]] | None = None) -> None:
        """``tags`` is asked once per fragment, as it starts, for the metadata to send with it."""
        if not 1000 <= fragment_ms <= 10_000:
            raise ValueError("fragment duration must be 1-10 s")
        self.fragment_ms = fragment_ms
        self._tags = tags
        self._seq = first_seq - 1
        self._cluster_tc: int | None = None
        self._last_dts: dict[int, int] = {}  # per track
        self._next_boundary: int | None = None

    def plan_key_frame(self, timestamp_ms: int) -> bool:
        """Should the frame at this time be encoded as a key frame (and so start a fragment)?"""
        if self._next_boundary is None or timestamp_ms >= self._next_boundary:
            self._next_boundary = timestamp_ms + self.fragment_ms
            return True
        return False

    def add(self, packet: EncodedPacket, starts_fragment: bool | None = None) -> list[FragmenterEvent]:
        """By default every video key frame starts a fragment (an encoder makes them only where planned); a
        recording sent as it is has key frames of its own, and its caller says which ones start one."""
        last = self._last_dts.get(packet.track)
        if last is not None and packet.dts_ms <= last:
            raise ValueError(f"track {packet.track}: decode times must increase: {packet.dts_ms} after {last}")
        video_key = packet.keyframe and packet.track == VIDEO_TRACK
        if starts_fragment and not video_key:
            raise ValueError("only a video key frame can start a fragment")
        out: list[FragmenterEvent] = []
        if video_key if starts_fragment is None else starts_fragment:
            if self._cluster_tc is not None:
                if packet.timestamp_ms <= self._cluster_tc:
                    raise ValueError(f"fragment timecodes must increase: {packet.timestamp_ms} after "
                                     f"{self._cluster_tc}")
                out.append(FragmentSealed(self._seq))
            self._seq += 1
            self._cluster_tc = packet.timestamp_ms
            tags = tuple(self._tags()) if self._tags is not None else ()
            head = (writer.tags(tags) if tags else b"") + writer.cluster_start_unknown(packet.timestamp_ms)
            started = True
        elif self._cluster_tc is None:
            return out  # nothing can be sent before the first key frame
        else:
            head, started, tags = b"", False, ()
        offset = packet.timestamp_ms - self._cluster_tc
        if offset > MAX_BLOCK_OFFSET_MS:
            raise ValueError("a fragment grew past 32.7 s without a key frame")
        if offset < MIN_BLOCK_OFFSET_MS:
            raise ValueError(f"track {packet.track}: a frame 32.7 s before its fragment's start")
        self._last_dts[packet.track] = packet.dts_ms
        block = writer.simple_block(packet.track, offset, packet.keyframe, packet.data)
        out.append(FrameAdded(self._seq, head + block, packet.index, started, self._cluster_tc, packet.track, tags))
        return out

    def finish(self) -> list[FragmenterEvent]:
        if self._cluster_tc is None:
            return []
        self._cluster_tc = None
        return [FragmentSealed(self._seq)]
