"""Incremental Matroska parser: bytes in, structural events out (no I/O).

Theory: a live Matroska stream (what PutMedia carries) is an EBML header, then a Segment, usually
of unknown size, holding Info, Tracks, optional Tags and Clusters, which may themselves have unknown
size. An unknown-size Cluster ends where the next element that cannot live inside a Cluster starts
(another Cluster, Tags, Cues, a new EBML header ...) or where the body ends. Elements the parser needs
(header, Info, Tracks, Tags, blocks) are buffered whole; Clusters are walked child by child, so events
come out as soon as their bytes are in, whatever the read boundaries were.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.mkv import ebml

MAX_BUFFERED_ELEMENT = 64 * 1024 * 1024  # bytes; one frame or header larger than this is refused


class MkvError(ValueError):
    """The bytes are not a Matroska stream this parser accepts."""


@dataclass(frozen=True)
class TrackInfo:
    number: int
    uid: int = 0
    track_type: int = 0  # 1 video, 2 audio
    codec_id: str = ""
    codec_private: bytes = b""
    default_duration_ns: int | None = None
    width: int | None = None
    height: int | None = None
    name: str = ""


@dataclass(frozen=True)
class EbmlHeaderEvent:
    doctype: str


@dataclass(frozen=True)
class SegmentStarted:
    pass


@dataclass(frozen=True)
class InfoEvent:
    timecode_scale_ns: int
    raw: bytes  # the whole Info element


@dataclass(frozen=True)
class TracksEvent:
    tracks: tuple[TrackInfo, ...]
    raw: bytes  # the whole Tracks element, replayed in front of stored fragments


@dataclass(frozen=True)
class TagsEvent:
    tags: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ClusterStarted:
    known_size: int | None


@dataclass(frozen=True)
class ClusterTimecode:
    timecode: int
    raw: bytes


@dataclass(frozen=True)
class BlockEvent:
    track: int
    relative_timecode: int
    keyframe: bool
    duration: int | None  # BlockDuration in timecode units, if the block said
    frame_count: int
    raw: bytes  # the whole SimpleBlock/BlockGroup element


@dataclass(frozen=True)
class ClusterEnded:
    received_bytes: int  # cluster bytes as they arrived, header included


MkvEvent = (
    EbmlHeaderEvent | SegmentStarted | InfoEvent | TracksEvent | TagsEvent | ClusterStarted
    | ClusterTimecode | BlockEvent | ClusterEnded
)

_TOP, _SEGMENT, _CLUSTER = "top", "segment", "cluster"
# Elements that end an unknown-size cluster when they appear where a cluster child was expected.
_ENDS_UNKNOWN_CLUSTER = (ebml.SEGMENT_CHILDREN - {ebml.VOID, ebml.CRC32}) | {ebml.EBML, ebml.SEGMENT}


@dataclass
class _Level:
    kind: str
    end: int | None  # absolute offset where the element ends, None for unknown size
    start: int = 0


@dataclass
class MkvStreamParser:
    """``feed(bytes) -> list[MkvEvent]``; ``close() -> list[MkvEvent]`` at end of input."""

    _buf: bytearray = field(default_factory=bytearray)
    _base: int = 0  # absolute offset of _buf[0]
    _pos: int = 0  # absolute offset of the next unparsed byte
    _stack: list[_Level] = field(default_factory=lambda: [_Level(_TOP, None)])
    _skip: int = 0  # bytes of an ignored element still to drop
    _seen_header: bool = False

    def feed(self, data: bytes) -> list[MkvEvent]:
        self._buf += data
        events: list[MkvEvent] = []
        while self._step(events):
            pass
        # Drop what has been consumed so memory stays bounded by one element.
        consumed = self._pos - self._base
        if consumed:
            del self._buf[:consumed]
            self._base = self._pos
        return events

    def close(self) -> list[MkvEvent]:
        """End of input: close open unknown-size elements, or fail on a truncated one."""
        if self._skip or self._pos - self._base < len(self._buf):
            raise MkvError("the stream ends in the middle of an element")
        events: list[MkvEvent] = []
        while len(self._stack) > 1:
            level = self._stack.pop()
            if level.end is not None and level.end != self._pos:
                raise MkvError(f"the stream ends inside a {level.kind} of known size")
            if level.kind == _CLUSTER:
                events.append(ClusterEnded(self._pos - level.start))
        return events

    # -- internals -------------------------------------------------------------------------

    def _avail(self) -> int:
        return self._base + len(self._buf) - self._pos

    def _at(self, offset: int) -> int:
        return offset - self._base

    def _step(self, events: list[MkvEvent]) -> bool:
        if self._skip:
            n = min(self._skip, self._avail())
            self._pos += n
            self._skip -= n
            return self._skip == 0
        level = self._stack[-1]
        if level.end is not None and self._pos >= level.end:
            if self._pos > level.end:
                raise MkvError(f"a child element overruns its {level.kind}")
            self._stack.pop()
            if level.kind == _CLUSTER:
                events.append(ClusterEnded(self._pos - level.start))
            return True
        try:
            rid = ebml.read_id(self._buf, self._at(self._pos))
            if rid is None:
                return False
            eid, ilen = rid
            rsz = ebml.read_size(self._buf, self._at(self._pos) + ilen)
        except ebml.EbmlError as exc:
            raise MkvError(str(exc)) from exc
        if rsz is None:
            return False
        size, slen = rsz
        head = ilen + slen
        if level.kind == _TOP:
            return self._top(eid, size, head, events)
        if level.kind == _SEGMENT:
            return self._segment(eid, size, head, events)
        return self._cluster(level, eid, size, head, events)

    def _whole(self, size: int, head: int) -> bytes | None:
        """The whole element (head + payload) once buffered, else None."""
        if size == ebml.UNKNOWN_SIZE:
            raise MkvError("an element that must have a size has unknown size")
        if size > MAX_BUFFERED_ELEMENT:
            raise MkvError(f"element of {size} bytes is larger than allowed")
        if self._avail() < head + size:
            return None
        start = self._at(self._pos)
        raw = bytes(self._buf[start : start + head + size])
        self._pos += head + size
        return raw

    def _top(self, eid: int, size: int, head: int, events: list[MkvEvent]) -> bool:
        if eid == ebml.EBML:
            raw = self._whole(size, head)
            if raw is None:
                return False
            doctype = "matroska"
            for cid, payload in _children(raw[head:]):
                if cid == ebml.DOCTYPE:
                    doctype = payload.decode("ascii", "replace").rstrip("\x00")
            if doctype not in ("matroska", "webm"):
                raise MkvError(f"DocType {doctype!r} is not matroska or webm")
            self._seen_header = True
            events.append(EbmlHeaderEvent(doctype))
            return True
        if eid == ebml.SEGMENT:
            if not self._seen_header:
                raise MkvError("Segment before the EBML header")
            end = None if size == ebml.UNKNOWN_SIZE else self._pos + head + size
            self._pos += head
            self._stack.append(_Level(_SEGMENT, end, self._pos - head))
            events.append(SegmentStarted())
            return True
        if eid == ebml.VOID and self._seen_header:
            return self._skip_element(size, head)
        raise MkvError(f"expected an EBML header or Segment, found element 0x{eid:X}")

    def _segment(self, eid: int, size: int, head: int, events: list[MkvEvent]) -> bool:
        if eid == ebml.EBML:
            # A new document inside an unknown-size Segment: the old one ends here.
            self._stack.pop()
            return True
        if eid == ebml.CLUSTER:
            end = None if size == ebml.UNKNOWN_SIZE else self._pos + head + size
            self._stack.append(_Level(_CLUSTER, end, self._pos))
            self._pos += head
            events.append(ClusterStarted(None if end is None else head + size))
            return True
        if eid in (ebml.INFO, ebml.TRACKS, ebml.TAGS):
            raw = self._whole(size, head)
            if raw is None:
                return False
            events.append(_parse_master(eid, raw, head))
            return True
        if eid == ebml.SEGMENT:
            raise MkvError("a Segment inside a Segment")
        if size == ebml.UNKNOWN_SIZE:
            raise MkvError(f"element 0x{eid:X} of unknown size in a Segment")
        return self._skip_element(size, head)

    def _cluster(self, level: _Level, eid: int, size: int, head: int, events: list[MkvEvent]) -> bool:
        if level.end is None and eid in _ENDS_UNKNOWN_CLUSTER:
            self._stack.pop()
            events.append(ClusterEnded(self._pos - level.start))
            return True
        if eid == ebml.CLUSTER_TIMECODE:
            raw = self._whole(size, head)
            if raw is None:
                return False
            events.append(ClusterTimecode(ebml.decode_uint(raw[head:]), raw))
            return True
        if eid in (ebml.SIMPLE_BLOCK, ebml.BLOCK_GROUP):
            raw = self._whole(size, head)
            if raw is None:
                return False
            events.append(_parse_block(eid, raw, head))
            return True
        if eid in ebml.CLUSTER_CHILDREN:
            return self._skip_element(size, head)
        if level.end is None:
            raise MkvError(f"unexpected element 0x{eid:X} inside an unknown-size Cluster")
        return self._skip_element(size, head)

    def _skip_element(self, size: int, head: int) -> bool:
        if size == ebml.UNKNOWN_SIZE:
            raise MkvError("cannot skip an element of unknown size")
        self._pos += head
        self._skip = size
        return True


def _children(payload: bytes) -> list[tuple[int, bytes]]:
    try:
        return ebml.iter_children(payload)
    except ebml.EbmlError as exc:
        raise MkvError(str(exc)) from exc


def _parse_master(eid: int, raw: bytes, head: int) -> MkvEvent:
    payload = raw[head:]
    if eid == ebml.INFO:
        scale = 1_000_000
        for cid, value in _children(payload):
            if cid == ebml.TIMECODE_SCALE:
                scale = ebml.decode_uint(value)
        if scale <= 0:
            raise MkvError("TimecodeScale must be positive")
        return InfoEvent(scale, raw)
    if eid == ebml.TRACKS:
        tracks = [_parse_track(value) for cid, value in _children(payload) if cid == ebml.TRACK_ENTRY]
        return TracksEvent(tuple(tracks), raw)
    tags: list[tuple[str, str]] = []
    for cid, tag in _children(payload):
        if cid != ebml.TAG:
            continue
        for sid, simple in _children(tag):
            if sid == ebml.SIMPLE_TAG:
                name, value = "", ""
                for kid, kv in _children(simple):
                    if kid == ebml.TAG_NAME:
                        name = kv.decode("utf-8", "replace")
                    elif kid in (ebml.TAG_STRING, ebml.TAG_BINARY):
                        value = kv.decode("utf-8", "replace")
                tags.append((name, value))
    return TagsEvent(tuple(tags))


def _parse_track(payload: bytes) -> TrackInfo:
    fields: dict[str, object] = {}
    for cid, value in _children(payload):
        if cid == ebml.TRACK_NUMBER:
            fields["number"] = ebml.decode_uint(value)
        elif cid == ebml.TRACK_UID:
            fields["uid"] = ebml.decode_uint(value)
        elif cid == ebml.TRACK_TYPE:
            fields["track_type"] = ebml.decode_uint(value)
        elif cid == ebml.CODEC_ID:
            fields["codec_id"] = value.decode("ascii", "replace").rstrip("\x00")
        elif cid == ebml.CODEC_PRIVATE:
            fields["codec_private"] = value
        elif cid == ebml.DEFAULT_DURATION:
            fields["default_duration_ns"] = ebml.decode_uint(value)
        elif cid == ebml.TRACK_NAME:
            fields["name"] = value.decode("utf-8", "replace")
        elif cid == ebml.VIDEO:
            for vid, vv in _children(value):
                if vid == ebml.PIXEL_WIDTH:
                    fields["width"] = ebml.decode_uint(vv)
                elif vid == ebml.PIXEL_HEIGHT:
                    fields["height"] = ebml.decode_uint(vv)
    if not fields.get("number"):
        raise MkvError("a TrackEntry without a TrackNumber")
    return TrackInfo(**fields)  # type: ignore[arg-type]


def _parse_block(eid: int, raw: bytes, head: int) -> BlockEvent:
    payload = raw[head:]
    duration: int | None = None
    keyframe: bool
    if eid == ebml.BLOCK_GROUP:
        block = None
        has_reference = False
        for cid, value in _children(payload):
            if cid == ebml.BLOCK:
                block = value
            elif cid == ebml.BLOCK_DURATION:
                duration = ebml.decode_uint(value)
            elif cid == ebml.REFERENCE_BLOCK:
                has_reference = True
        if block is None:
            raise MkvError("a BlockGroup without a Block")
        payload = block
        keyframe = not has_reference
    try:
        track, tlen = ebml.read_vint_value(payload, 0)
    except ebml.EbmlError as exc:
        raise MkvError("truncated block header") from exc
    if len(payload) < tlen + 3:
        raise MkvError("truncated block header")
    rel = int.from_bytes(payload[tlen : tlen + 2], "big", signed=True)
    flags = payload[tlen + 2]
    if eid == ebml.SIMPLE_BLOCK:
        keyframe = bool(flags & 0x80)
    frames = 1
    if flags & 0x06:  # lacing: the next byte holds the frame count minus one
        if len(payload) < tlen + 4:
            raise MkvError("truncated laced block")
        frames = payload[tlen + 3] + 1
    elif len(payload) == tlen + 3:
        raise MkvError("a block without frame data")
    return BlockEvent(track, rel, keyframe, duration, frames, raw)
