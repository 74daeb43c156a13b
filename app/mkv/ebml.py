"""EBML primitives: element ids, variable-length integers, element encoding and decoding.

Theory: an EBML element is ``ID | size vint | payload``. The ID keeps its length marker bits
(1-4 bytes); the size is a vint whose marker bits are removed, and a size with all value bits set
means "unknown size" (used by live Matroska for Segment and Cluster). Everything here is pure.
"""

from __future__ import annotations

import struct

# Element ids (with their length marker bits, as written on the wire).
EBML = 0x1A45DFA3
EBML_VERSION = 0x4286
EBML_READ_VERSION = 0x42F7
EBML_MAX_ID_LENGTH = 0x42F2
EBML_MAX_SIZE_LENGTH = 0x42F3
DOCTYPE = 0x4282
DOCTYPE_VERSION = 0x4287
DOCTYPE_READ_VERSION = 0x4285
VOID = 0xEC
CRC32 = 0xBF

SEGMENT = 0x18538067
SEEK_HEAD = 0x114D9B74
INFO = 0x1549A966
TIMECODE_SCALE = 0x2AD7B1
DURATION = 0x4489
MUXING_APP = 0x4D80
WRITING_APP = 0x5741
SEGMENT_UID = 0x73A4
TITLE = 0x7BA9
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_NUMBER = 0xD7
TRACK_UID = 0x73C5
TRACK_TYPE = 0x83
TRACK_NAME = 0x536E
CODEC_ID = 0x86
CODEC_PRIVATE = 0x63A2
DEFAULT_DURATION = 0x23E383
VIDEO = 0xE0
PIXEL_WIDTH = 0xB0
PIXEL_HEIGHT = 0xBA
AUDIO = 0xE1
SAMPLING_FREQUENCY = 0xB5
CHANNELS = 0x9F
BIT_DEPTH = 0x6264
CUES = 0x1C53BB6B
CHAPTERS = 0x1043A770
ATTACHMENTS = 0x1941A469
TAGS = 0x1254C367
TAG = 0x7373
TARGETS = 0x63C0
SIMPLE_TAG = 0x67C8
TAG_NAME = 0x45A3
TAG_STRING = 0x4487
TAG_BINARY = 0x4485
CLUSTER = 0x1F43B675
CLUSTER_TIMECODE = 0xE7
CLUSTER_POSITION = 0xA7
CLUSTER_PREV_SIZE = 0xAB
SILENT_TRACKS = 0x5854
SIMPLE_BLOCK = 0xA3
BLOCK_GROUP = 0xA0
BLOCK = 0xA1
BLOCK_DURATION = 0x9B
REFERENCE_BLOCK = 0xFB

UNKNOWN_SIZE = -1
# The 8-byte "unknown size" marker that live writers (and the KVS SDKs) use.
UNKNOWN_SIZE_8 = b"\x01\xff\xff\xff\xff\xff\xff\xff"

# Elements that may appear directly inside a Segment.
SEGMENT_CHILDREN = frozenset(
    {SEEK_HEAD, INFO, TRACKS, CUES, CHAPTERS, ATTACHMENTS, TAGS, CLUSTER, VOID, CRC32}
)
# Elements that may appear inside a Cluster.
CLUSTER_CHILDREN = frozenset(
    {CLUSTER_TIMECODE, CLUSTER_POSITION, CLUSTER_PREV_SIZE, SILENT_TRACKS, SIMPLE_BLOCK, BLOCK_GROUP,
     VOID, CRC32, 0xAF}  # 0xAF = EncryptedBlock (deprecated), accepted and ignored
)


class EbmlError(ValueError):
    """Bytes that are not valid EBML."""


def read_id(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """Return (element id, length) at ``pos``, or None when more bytes are needed."""
    if pos >= len(buf):
        return None
    first = buf[pos]
    if first >= 0x80:
        length = 1
    elif first >= 0x40:
        length = 2
    elif first >= 0x20:
        length = 3
    elif first >= 0x10:
        length = 4
    else:
        raise EbmlError(f"invalid element id byte 0x{first:02x} at {pos}")
    if pos + length > len(buf):
        return None
    return int.from_bytes(buf[pos : pos + length], "big"), length


def read_size(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """Return (size, length) of the vint at ``pos``; size is UNKNOWN_SIZE for all-ones.

    None means more bytes are needed.
    """
    if pos >= len(buf):
        return None
    first = buf[pos]
    if first == 0:
        raise EbmlError(f"invalid size vint at {pos}")
    length = 9 - first.bit_length()
    if pos + length > len(buf):
        return None
    value = first & (0xFF >> length)
    for b in buf[pos + 1 : pos + length]:
        value = (value << 8) | b
    if value == (1 << (7 * length)) - 1:
        return UNKNOWN_SIZE, length
    return value, length


def read_vint_value(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """Decode a complete vint (e.g. a track number inside a block); raise if truncated."""
    res = read_size(buf, pos)
    if res is None:
        raise EbmlError("truncated vint")
    return res


def encode_id(element_id: int) -> bytes:
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")


def encode_size(size: int, length: int | None = None) -> bytes:
    """Encode a size vint; ``length`` forces a width (e.g. 8 for sizes patched later)."""
    if size == UNKNOWN_SIZE:
        return UNKNOWN_SIZE_8
    if length is None:
        length = 1
        while size >= (1 << (7 * length)) - 1:  # all-ones is reserved for "unknown"
            length += 1
    if length > 8 or size >= (1 << (7 * length)) - 1:
        raise EbmlError(f"size {size} does not fit in {length} bytes")
    return ((1 << (7 * length)) | size).to_bytes(length, "big")


def element(element_id: int, payload: bytes) -> bytes:
    return encode_id(element_id) + encode_size(len(payload)) + payload


def uint_element(element_id: int, value: int, width: int | None = None) -> bytes:
    if width is None:
        width = max(1, (value.bit_length() + 7) // 8)
    return element(element_id, value.to_bytes(width, "big"))


def float_element(element_id: int, value: float) -> bytes:
    """An 8-byte big-endian IEEE 754 float, as PIC writes SamplingFrequency."""
    return element(element_id, struct.pack(">d", value))


def string_element(element_id: int, value: str) -> bytes:
    return element(element_id, value.encode("utf-8"))


def decode_uint(payload: bytes) -> int:
    if len(payload) > 8:
        raise EbmlError("unsigned integer longer than 8 bytes")
    return int.from_bytes(payload, "big")


def iter_children(payload: bytes) -> list[tuple[int, bytes]]:
    """Split a fully buffered master element's payload into (id, payload) pairs."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(payload):
        rid = read_id(payload, pos)
        if rid is None:
            raise EbmlError("truncated child element id")
        eid, ilen = rid
        rsz = read_size(payload, pos + ilen)
        if rsz is None:
            raise EbmlError("truncated child element size")
        size, slen = rsz
        start = pos + ilen + slen
        if size == UNKNOWN_SIZE or start + size > len(payload):
            raise EbmlError(f"child element 0x{eid:x} overruns its parent")
        out.append((eid, bytes(payload[start : start + size])))
        pos = start + size
    return out
