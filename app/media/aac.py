"""AAC framing facts (pure): the AudioSpecificConfig that goes into the MKV CodecPrivate, and ADTS.

Theory (ISO 14496-3 §1.6.2.1, §1.A.2): Matroska's ``A_AAC`` track carries raw access units, one per
block, and its CodecPrivate is the AudioSpecificConfig (ASC): 5 bits object type (2 = AAC-LC), 4 bits
sampling-frequency index, 4 bits channel configuration, 3 bits of flags (0). An MPEG-TS (or a bare
``.aac`` file) carries ADTS instead: every access unit has a 7-byte header (9 with CRC) holding the same
three values, and no ASC exists. PIC builds the same 2-byte ASC (``mkvgenGenerateAacCpd``) and reads
sampling rate and channels back out of it (``getSamplingFreqAndChannelFromAacCpd``). Hand-written
because it is a few bit fields: PyAV's ``aac_adtstoasc`` bitstream filter strips the header but does
not hand the ASC it builds back to Python.
"""

from __future__ import annotations

from dataclasses import dataclass

AAC_LC = 2
# The sampling-frequency index table (ISO 14496-3 Table 1.18; PIC gMkvAACSamplingFrequencies).
SAMPLING_FREQUENCIES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
SAMPLES_PER_FRAME = 1024  # AAC-LC access unit


class AacError(ValueError):
    """Bytes that are not the AAC this module understands."""


@dataclass(frozen=True)
class AacConfig:
    object_type: int
    sample_rate: int
    channels: int

    @property
    def frame_ms(self) -> float:
        return SAMPLES_PER_FRAME * 1000 / self.sample_rate


def audio_specific_config(sample_rate: int, channels: int, object_type: int = AAC_LC) -> bytes:
    """The 2-byte ASC for a standard rate and a channel configuration 1-7."""
    if sample_rate not in SAMPLING_FREQUENCIES:
        raise AacError(f"{sample_rate} Hz is not an AAC sampling frequency")
    if not 1 <= channels <= 7:
        raise AacError(f"{channels} channels has no AAC channel configuration")
    value = (object_type << 11) | (SAMPLING_FREQUENCIES.index(sample_rate) << 7) | (channels << 3)
    return value.to_bytes(2, "big")


def parse_asc(asc: bytes) -> AacConfig:
    """Object type, rate and channels from the first bytes of an ASC (extensions after them are ignored)."""
    if len(asc) < 2:
        raise AacError("AudioSpecificConfig shorter than 2 bytes")
    value = int.from_bytes(asc[:2], "big")
    object_type = value >> 11
    index = (value >> 7) & 0xF
    channels = (value >> 3) & 0xF
    if object_type == 31 or index >= len(SAMPLING_FREQUENCIES):
        raise AacError("AudioSpecificConfig with an escaped object type or an explicit sampling frequency")
    return AacConfig(object_type, SAMPLING_FREQUENCIES[index], channels)


def adts_to_raw(frame: bytes) -> tuple[AacConfig, bytes]:
    """One ADTS frame -> (its config, the raw access unit without the header)."""
    if len(frame) < 7 or frame[0] != 0xFF or frame[1] & 0xF6 != 0xF0:
        raise AacError("not an ADTS frame (no sync word)")
    protection_absent = frame[1] & 0x01
    profile = frame[2] >> 6
    index = (frame[2] >> 2) & 0xF
    channels = ((frame[2] & 0x01) << 2) | (frame[3] >> 6)
    length = ((frame[3] & 0x03) << 11) | (frame[4] << 3) | (frame[5] >> 5)
    blocks = (frame[6] & 0x03) + 1
    header = 7 if protection_absent else 9
    if blocks != 1:
        raise AacError("ADTS frame with several raw data blocks")
    if index >= len(SAMPLING_FREQUENCIES) or channels == 0:
        raise AacError("ADTS frame with a reserved sampling frequency or a channel layout in the stream")
    if length > len(frame) or length < header:
        raise AacError("ADTS frame length does not match its bytes")
    return AacConfig(profile + 1, SAMPLING_FREQUENCIES[index], channels), bytes(frame[header:length])


def is_plain_lc(asc: bytes) -> bool:
    """AAC-LC with 1024-sample frames and no SBR/PS signalled, so that our own AAC-LC frames (silence) can sit
    next to the copied ones under one CodecPrivate. Anything else is re-encoded rather than copied."""
    try:
        cfg = parse_asc(asc)
    except AacError:
        return False
    if cfg.object_type != AAC_LC or not 1 <= cfg.channels <= 7 or asc[1] & 0x04:  # frameLengthFlag: 960
        return False
    if len(asc) >= 5:  # an explicit sync extension (0x2B7) may announce SBR (HE-AAC) after the LC config
        bits = int.from_bytes(asc[2:5], "big")
        if bits >> 13 == 0x2B7 and (bits >> 8) & 0x1F == 5 and (bits >> 7) & 1:
            return False
    return True
