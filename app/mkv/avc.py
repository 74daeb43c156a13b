"""H.264 bitstream glue: Annex-B (start codes, what x264 emits) to AVCC (length-prefixed, what
Matroska and KVS want), and the AVCDecoderConfigurationRecord for CodecPrivate (ISO 14496-15).
FFmpeg has no Annex-B to AVCC filter we can call per packet, so this is ours (kvs-protocol.md §5.1)."""

from __future__ import annotations

NAL_SPS, NAL_PPS, NAL_AUD = 7, 8, 9


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B byte string (3- or 4-byte start codes)."""
    nals: list[bytes] = []
    i, n = 0, len(data)
    start = -1
    while i + 3 <= n:
        if data[i] == 0 and data[i + 1] == 0 and data[i + 2] == 1:
            if start >= 0:
                end = i - 1 if i > 0 and data[i - 1] == 0 else i
                nals.append(data[start:end])
            i += 3
            start = i
        else:
            i += 1
    if start >= 0 and start < n:
        nals.append(data[start:])
    elif start < 0 and data:
        raise ValueError("no Annex-B start code found")
    return [nal for nal in nals if nal]


def nal_type(nal: bytes) -> int:
    return nal[0] & 0x1F


def annexb_to_avcc(data: bytes, drop: frozenset[int] = frozenset({NAL_AUD})) -> bytes:
    return b"".join(len(nal).to_bytes(4, "big") + nal for nal in split_annexb(data) if nal_type(nal) not in drop)


def avcc_record(sps: bytes, pps: bytes) -> bytes:
    if len(sps) < 4:
        raise ValueError("SPS too short")
    return (bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]) + len(sps).to_bytes(2, "big") + sps
            + b"\x01" + len(pps).to_bytes(2, "big") + pps)


def parameter_sets(data: bytes) -> tuple[bytes, bytes] | None:
    """(SPS, PPS) found in Annex-B bytes, or None."""
    sps = pps = None
    for nal in split_annexb(data):
        if nal_type(nal) == NAL_SPS and sps is None:
            sps = nal
        elif nal_type(nal) == NAL_PPS and pps is None:
            pps = nal
    return (sps, pps) if sps and pps else None
