"""Matroska element writers for live streams (pure bytes), laid out the way KVS producers write them.

Layout per connection (kvs-protocol.md §5.2): EBML header, Segment of unknown size, Info with a
1 ms TimecodeScale, Tracks, then for each fragment optional Tags and one Cluster that starts with a
key frame. Clusters here have a known size, so a reader never has to guess where they end.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.mkv import ebml

MUXING_APP = "KVS Studio"


def ebml_header(doctype: str = "matroska") -> bytes:
    return ebml.element(
        ebml.EBML,
        ebml.uint_element(ebml.EBML_VERSION, 1)
        + ebml.uint_element(ebml.EBML_READ_VERSION, 1)
        + ebml.uint_element(ebml.EBML_MAX_ID_LENGTH, 4)
        + ebml.uint_element(ebml.EBML_MAX_SIZE_LENGTH, 8)
        + ebml.string_element(ebml.DOCTYPE, doctype)
        + ebml.uint_element(ebml.DOCTYPE_VERSION, 4)
        + ebml.uint_element(ebml.DOCTYPE_READ_VERSION, 2),
    )


def segment_start() -> bytes:
    """A Segment of unknown size: its children follow for as long as the stream lasts."""
    return ebml.encode_id(ebml.SEGMENT) + ebml.UNKNOWN_SIZE_8


def info(timecode_scale_ns: int = 1_000_000, segment_uid: bytes | None = None,
         app: str = MUXING_APP) -> bytes:
    payload = b""
    if segment_uid is not None:
        payload += ebml.element(ebml.SEGMENT_UID, segment_uid)
    payload += ebml.uint_element(ebml.TIMECODE_SCALE, timecode_scale_ns)
    payload += ebml.string_element(ebml.MUXING_APP, app) + ebml.string_element(ebml.WRITING_APP, app)
    return ebml.element(ebml.INFO, payload)


def _track_head(number: int, uid: int, track_type: int, name: str, codec_id: str) -> bytes:
    """What every TrackEntry starts with, in PIC's order: number, 8-byte UID, type (1 video, 2 audio), name, codec."""
    return (
        ebml.uint_element(ebml.TRACK_NUMBER, number)
        + ebml.uint_element(ebml.TRACK_UID, uid, width=8)
        + ebml.uint_element(ebml.TRACK_TYPE, track_type)
        + ebml.string_element(ebml.TRACK_NAME, name)
        + ebml.string_element(ebml.CODEC_ID, codec_id)
    )


def video_track(*, number: int = 1, uid: int = 1, codec_id: str = "V_MPEG4/ISO/AVC",
                codec_private: bytes, width: int, height: int, default_duration_ns: int | None = None,
                name: str = "kvs_video_track") -> bytes:
    payload = _track_head(number, uid, 1, name, codec_id)
    if default_duration_ns:
        payload += ebml.uint_element(ebml.DEFAULT_DURATION, default_duration_ns)
    payload += ebml.element(
        ebml.VIDEO,
        ebml.uint_element(ebml.PIXEL_WIDTH, width, width=2) + ebml.uint_element(ebml.PIXEL_HEIGHT, height, width=2),
    )
    payload += ebml.element(ebml.CODEC_PRIVATE, codec_private)
    return ebml.element(ebml.TRACK_ENTRY, payload)


def audio_track(*, number: int = 2, uid: int = 2, codec_id: str = "A_AAC", codec_private: bytes,
                sampling_frequency: float, channels: int, name: str = "kvs_audio_track") -> bytes:
    """An audio TrackEntry in PIC's order (MkvGenerator.c mkvgenEbmlEncodeTrackInfo): number, UID, type 2,
    name, codec id, Audio {SamplingFrequency as an 8-byte float, Channels}, CodecPrivate."""
    payload = (
        _track_head(number, uid, 2, name, codec_id)
        + ebml.element(ebml.AUDIO, ebml.float_element(ebml.SAMPLING_FREQUENCY, sampling_frequency)
                       + ebml.uint_element(ebml.CHANNELS, channels))
        + ebml.element(ebml.CODEC_PRIVATE, codec_private)
    )
    return ebml.element(ebml.TRACK_ENTRY, payload)


def tracks(*entries: bytes) -> bytes:
    return ebml.element(ebml.TRACKS, b"".join(entries))


def tags(items: Iterable[tuple[str, str]]) -> bytes:
    """One Tags element holding a Tag with a SimpleTag per (name, value)."""
    simple = b"".join(
        ebml.element(ebml.SIMPLE_TAG, ebml.string_element(ebml.TAG_NAME, name)
                     + ebml.string_element(ebml.TAG_STRING, value))
        for name, value in items
    )
    return ebml.element(ebml.TAGS, ebml.element(ebml.TAG, simple))


def simple_block(track: int, relative_timecode: int, keyframe: bool, frame: bytes) -> bytes:
    if not -32768 <= relative_timecode <= 32767:
        raise ValueError(f"relative timecode {relative_timecode} does not fit in 16 bits")
    head = (
        ebml.encode_size(track)
        + relative_timecode.to_bytes(2, "big", signed=True)
        + (b"\x80" if keyframe else b"\x00")
    )
    return ebml.element(ebml.SIMPLE_BLOCK, head + frame)


def cluster(timecode: int, blocks: Iterable[bytes]) -> bytes:
    return ebml.element(ebml.CLUSTER, ebml.uint_element(ebml.CLUSTER_TIMECODE, timecode, width=8)
                        + b"".join(blocks))


def cluster_start_unknown(timecode: int) -> bytes:
    """The start of an unknown-size Cluster, for writers that stream a fragment frame by frame."""
    return (ebml.encode_id(ebml.CLUSTER) + ebml.UNKNOWN_SIZE_8
            + ebml.uint_element(ebml.CLUSTER_TIMECODE, timecode, width=8))
