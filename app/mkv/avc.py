"""H.264 bitstream glue: Annex-B (start codes, what x264 and MPEG-TS carry) to AVCC (length-prefixed, what
Matroska and KVS want), and the AVCDecoderConfigurationRecord for CodecPrivate (ISO 14496-15).

FFmpeg has no Annex-B to AVCC bitstream filter (its muxers convert internally, libavformat/avc.c), so this
is ours. Start codes are found with ``bytes.find`` (C speed), never by a Python loop over bytes: a copy
upload moves 100+ MB/s through here. As in FFmpeg, zero bytes before a start code (the first byte of a
4-byte start code, trailing_zero_8bits) belong to no NAL unit.
"""

from __future__ import annotations

NAL_SLICE, NAL_IDR, NAL_SPS, NAL_PPS, NAL_AUD = 1, 5, 7, 8, 9
_START = b"\x00\x00\x01"


def _spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each non-empty NAL unit in Annex-B bytes."""
    find = data.find
    i = find(_START)
    if i < 0:
        if data:
            raise ValueError("no Annex-B start code found")
        return []
    spans = []
    start = i + 3
    while True:
        j = find(_START, start)
        end = len(data) if j < 0 else j
        while end > start and data[end - 1] == 0:  # at most a byte or two, not a scan
            end -= 1
        if end > start:
            spans.append((start, end))
        if j < 0:
            return spans
        start = j + 3


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B byte string (3- or 4-byte start codes)."""
    return [data[s:e] for s, e in _spans(data)]


def nal_type(nal: bytes) -> int:
    return nal[0] & 0x1F


def annexb_to_avcc(data: bytes, drop: frozenset[int] = frozenset({NAL_AUD})) -> bytes:
    """Annex-B to 4-byte length-prefixed NAL units, without the NAL types in ``drop`` (access unit
    delimiters by default: they mark access units in a byte stream, which a container does itself)."""
    parts: list[bytes] = []
    for s, e in _spans(data):
        if data[s] & 0x1F not in drop:
            parts.append((e - s).to_bytes(4, "big"))
            parts.append(data[s:e])
    return b"".join(parts)


def avcc_nals(data: bytes, length_size: int = 4) -> list[bytes]:
    """NAL units of length-prefixed (AVCC) bytes; a length running past the end is an error."""
    nals, i, n = [], 0, len(data)
    while i < n:
        if i + length_size > n:
            raise ValueError("truncated NAL length")
        size = int.from_bytes(data[i:i + length_size], "big")
        i += length_size
        if size == 0 or i + size > n:
            raise ValueError("NAL length past the end of the packet")
        nals.append(data[i:i + size])
        i += size
    return nals


def avcc_normalise(data: bytes, length_size: int = 4) -> bytes:
    """AVCC with 4-byte lengths and no leading access unit delimiter. The common case (4-byte lengths, no
    delimiter: what x264 and phones write into MP4) returns ``data`` itself after one byte check."""
    if length_size == 4:
        if len(data) > 4 and data[4] & 0x1F == NAL_AUD:  # a delimiter can only come first (H.264 7.4.1.2.3)
            return data[4 + int.from_bytes(data[:4], "big"):]
        return data
    return b"".join(len(nal).to_bytes(4, "big") + nal for nal in avcc_nals(data, length_size)
                    if nal_type(nal) != NAL_AUD)


def avcc_record(sps: bytes, pps: bytes) -> bytes:
    if len(sps) < 4:
        raise ValueError("SPS too short")
    return (bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]) + len(sps).to_bytes(2, "big") + sps
            + b"\x01" + len(pps).to_bytes(2, "big") + pps)


def record_length_size(record: bytes) -> int:
    """The NAL length size (1, 2 or 4 bytes) an avcC record announces for its stream's packets."""
    if len(record) < 7 or record[0] != 1:
        raise ValueError("not an AVCDecoderConfigurationRecord")
    return (record[4] & 0x03) + 1


def with_length_size_4(record: bytes) -> bytes:
    """The same avcC record announcing 4-byte NAL lengths (after ``avcc_normalise`` rewrote the packets)."""
    return record[:4] + bytes([record[4] | 0x03]) + record[5:]


def parameter_sets(data: bytes) -> tuple[bytes, bytes] | None:
    """(SPS, PPS) found in Annex-B bytes, or None."""
    sps = pps = None
    for nal in split_annexb(data):
        if nal_type(nal) == NAL_SPS and sps is None:
            sps = nal
        elif nal_type(nal) == NAL_PPS and pps is None:
            pps = nal
    return (sps, pps) if sps and pps else None


def slice_type(nal: bytes) -> int | None:
    """slice_type (0-9; 1 and 6 are B) of a coded slice NAL unit, from the first two Exp-Golomb fields of
    its header (H.264 7.3.3); None for other NAL types or a header too short to read."""
    if nal_type(nal) not in (NAL_SLICE, NAL_IDR):
        return None
    head = nal[1:16].replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention, enough for two fields
    bits = int.from_bytes(head, "big")
    total = len(head) * 8
    pos = 0
    value = 0
    for _ in range(2):  # first_mb_in_slice, then slice_type
        zeros = 0
        while pos < total and not (bits >> (total - 1 - pos)) & 1:
            zeros += 1
            pos += 1
        if pos + zeros + 1 > total:
            return None
        value = (bits >> (total - pos - zeros - 1)) & ((1 << (zeros + 1)) - 1)
        value -= 1
        pos += zeros + 1
    return value
