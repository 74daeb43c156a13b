"""PutMedia ingest rules: MKV events in, fragment decisions out (pure, no I/O).

Theory: each Cluster is one fragment. The service acks BUFFERING when a fragment starts, RECEIVED
when it is complete (the next top-level element starts, an AWS_KINESISVIDEO_END_OF_FRAGMENT tag
arrives, or the body ends) and then PERSISTED once stored. It refuses what breaks its rules with an
ERROR ack and then closes the connection, so after a failure this object accepts nothing more.
Rules (kvs-protocol.md §3.1, §4): 4001 fragment > 50 MB, 4002 fragment > 10 s, 4004 timecode going
back within the connection, 4006 invalid MKV, 4009 > 10 metadata tags, 4010 block on an undeclared
track, 4011 a declared track without frames, 4012 more than 3 tracks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.mkv import ebml
from app.mkv.parser import (
    BlockEvent,
    ClusterEnded,
    ClusterStarted,
    ClusterTimecode,
    EbmlHeaderEvent,
    InfoEvent,
    MkvError,
    MkvStreamParser,
    TagsEvent,
    TrackInfo,
    TracksEvent,
)

END_OF_FRAGMENT_TAG = "AWS_KINESISVIDEO_END_OF_FRAGMENT"
MAX_FRAGMENT_BYTES = 50 * 1024 * 1024
MAX_FRAGMENT_MS = 10_000
MAX_TRACKS = 3
MAX_METADATA_TAGS = 10


@dataclass(frozen=True)
class StreamHeader:
    """What a stored fragment needs to be played back alone."""

    timecode_scale_ns: int
    tracks: tuple[TrackInfo, ...]
    tracks_raw: bytes


@dataclass(frozen=True)
class FragmentStarted:
    timecode: int  # cluster timecode as sent, in TimecodeScale units


@dataclass(frozen=True)
class FragmentComplete:
    timecode: int
    header: StreamHeader
    cluster: bytes  # normalised Cluster element (known size, Timecode + blocks only)
    received_bytes: int
    duration_ms: int
    frame_count: int
    starts_with_key_frame: bool
    metadata: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class IngestFailed:
    error_id: int
    timecode: int | None
    reason: str


IngestEvent = FragmentStarted | FragmentComplete | IngestFailed


@dataclass
class _Open:
    timecode: int | None = None
    parts: list[bytes] = field(default_factory=list)
    bytes_in: int = 0
    frames: int = 0
    first_key: bool | None = None
    tracks_seen: set[int] = field(default_factory=set)
    first_ms: float | None = None
    end_ms: float = 0.0  # latest frame end, in ms relative to the cluster
    max_frame_abs: int | None = None  # in timecode units
    metadata: tuple[tuple[str, str], ...] = ()


class PutMediaIngest:
    """Feed the PutMedia body; get fragment events. After an IngestFailed nothing more is accepted."""

    def __init__(self) -> None:
        self._parser = MkvStreamParser()
        self._scale_ns = 1_000_000
        self._tracks: dict[int, TrackInfo] = {}
        self._header: StreamHeader | None = None
        self._pending_tags: list[tuple[str, str]] = []
        self._open: _Open | None = None
        self._last_timecode: int | None = None
        self._last_frame_abs: int | None = None
        self.failed: IngestFailed | None = None

    @property
    def open_timecode(self) -> int | None:
        return self._open.timecode if self._open else None

    def feed(self, data: bytes) -> list[IngestEvent]:
        if self.failed:
            return []
        try:
            return self._handle(self._parser.feed(data))
        except MkvError as exc:
            return [self._fail(4006, str(exc))]

    def close(self) -> list[IngestEvent]:
        """The body ended: finish the open fragment, or fail if the bytes were cut mid-element."""
        if self.failed:
            return []
        try:
            out = self._handle(self._parser.close())
        except MkvError as exc:
            return [self._fail(4006, str(exc))]
        if self._open is not None and not self.failed:
            out += self._finish()
        return out

    # -- internals -------------------------------------------------------------------------

    def _fail(self, error_id: int, reason: str) -> IngestFailed:
        self.failed = IngestFailed(error_id, self.open_timecode, reason)
        self._open = None
        return self.failed

    def _handle(self, events: list) -> list[IngestEvent]:
        out: list[IngestEvent] = []
        for ev in events:
            if self.failed:
                break
            out += self._one(ev)
        return out

    def _one(self, ev: object) -> list[IngestEvent]:
        if isinstance(ev, EbmlHeaderEvent):
            # A new document: its Info and Tracks replace the old ones.
            self._scale_ns = 1_000_000
            self._header = None
            return []
        if isinstance(ev, InfoEvent):
            self._scale_ns = ev.timecode_scale_ns
            return []
        if isinstance(ev, TracksEvent):
            if not ev.tracks:
                return [self._fail(4006, "Tracks element without a TrackEntry")]
            if len(ev.tracks) > MAX_TRACKS:
                return [self._fail(4012, f"{len(ev.tracks)} tracks; at most {MAX_TRACKS} are allowed")]
            self._tracks = {t.number: t for t in ev.tracks}
            self._header = StreamHeader(self._scale_ns, ev.tracks, ev.raw)
            return []
        if isinstance(ev, TagsEvent):
            return self._tags(ev)
        if isinstance(ev, ClusterStarted):
            if self._header is None:
                return [self._fail(4006, "a Cluster before the Tracks element")]
            self._open = _Open(metadata=tuple(self._pending_tags))
            self._pending_tags = []
            if len(self._open.metadata) > MAX_METADATA_TAGS:
                return [self._fail(4009, f"{len(self._open.metadata)} metadata tags on one fragment")]
            return []
        if isinstance(ev, ClusterTimecode):
            return self._timecode(ev)
        if isinstance(ev, BlockEvent):
            return self._block(ev)
        if isinstance(ev, ClusterEnded):
            if self._open is None:
                return []
            self._open.bytes_in = ev.received_bytes
            return self._finish()
        return []

    def _tags(self, ev: TagsEvent) -> list[IngestEvent]:
        out: list[IngestEvent] = []
        user_tags = [(n, v) for n, v in ev.tags if n != END_OF_FRAGMENT_TAG]
        if len(user_tags) != len(ev.tags) and self._open is not None:
            out += self._finish()  # EoFr closes the current fragment
        self._pending_tags += user_tags
        return out

    def _timecode(self, ev: ClusterTimecode) -> list[IngestEvent]:
        frag = self._open
        if frag is None or frag.timecode is not None or frag.parts:
            return [self._fail(4006, "a Cluster Timecode in the wrong place")]
        if self._last_timecode is not None and ev.timecode < self._last_timecode:
            frag.timecode = ev.timecode
            return [self._fail(4004, f"timecode {ev.timecode} < previous {self._last_timecode}")]
        frag.timecode = ev.timecode
        frag.parts.append(ev.raw)
        return [FragmentStarted(ev.timecode)]

    def _block(self, ev: BlockEvent) -> list[IngestEvent]:
        frag = self._open
        if frag is None or frag.timecode is None:
            return [self._fail(4006, "a block before the Cluster Timecode")]
        track = self._tracks.get(ev.track)
        if track is None:
            return [self._fail(4010, f"a frame on track {ev.track}, which the header does not declare")]
        abs_tc = frag.timecode + ev.relative_timecode
        if frag.frames == 0 and self._last_frame_abs is not None and abs_tc < self._last_frame_abs:
            return [self._fail(4004, "the fragment starts before the previous fragment's last frame")]
        ms_per_unit = self._scale_ns / 1e6
        start_ms = ev.relative_timecode * ms_per_unit
        if ev.duration is not None:
            dur_ms = ev.duration * ms_per_unit
        else:
            dur_ms = (track.default_duration_ns or 0) / 1e6 * ev.frame_count
        frag.first_ms = start_ms if frag.first_ms is None else min(frag.first_ms, start_ms)
        frag.end_ms = max(frag.end_ms, start_ms + dur_ms)
        if frag.end_ms - frag.first_ms > MAX_FRAGMENT_MS:
            return [self._fail(4002, f"the fragment is longer than {MAX_FRAGMENT_MS // 1000} s")]
        frag.frames += ev.frame_count
        frag.tracks_seen.add(ev.track)
        if frag.first_key is None:
            frag.first_key = ev.keyframe
        frag.max_frame_abs = abs_tc if frag.max_frame_abs is None else max(frag.max_frame_abs, abs_tc)
        frag.parts.append(ev.raw)
        frag.bytes_in += len(ev.raw)
        if frag.bytes_in > MAX_FRAGMENT_BYTES:
            return [self._fail(4001, "the fragment is larger than 50 MB")]
        return []

    def _finish(self) -> list[IngestEvent]:
        frag = self._open
        self._open = None
        if frag is None:
            return []
        if frag.timecode is None:
            return [self._fail(4006, "a Cluster without a Timecode")]
        missing = set(self._tracks) - frag.tracks_seen
        if missing:
            self._open = frag  # so the failure carries this fragment's timecode
            return [self._fail(4011, f"the fragment has no frames for track(s) {sorted(missing)}")]
        assert self._header is not None
        self._last_timecode = frag.timecode
        self._last_frame_abs = frag.max_frame_abs
        payload = b"".join(frag.parts)
        cluster = ebml.encode_id(ebml.CLUSTER) + ebml.encode_size(len(payload)) + payload
        return [
            FragmentComplete(
                timecode=frag.timecode,
                header=self._header,
                cluster=cluster,
                received_bytes=max(frag.bytes_in, len(cluster)),
                duration_ms=round(frag.end_ms - (frag.first_ms or 0.0)),
                frame_count=frag.frames,
                starts_with_key_frame=bool(frag.first_key),
                metadata=frag.metadata,
            )
        ]
