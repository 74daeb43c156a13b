"""The audio TrackEntry and the AAC CodecPrivate, byte for byte against PIC's layout (MkvStatics.c
gMkvTrackInfoBits / gMkvTrackAudioBits, MkvGenerator.c mkvgenEbmlEncodeTrackInfo, mkvgenGenerateAacCpd), and
read back by FFmpeg."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from app.media import aac
from app.media.audio import AacEncoder, tone_block
from app.mkv import writer
from app.mkv.fragmenter import audio_entry


def pic_audio_track_entry(cpd: bytes, rate: float, channels: int) -> bytes:
    """PIC's bytes for track 2 (C producer defaults: track id 2, name kvs_audio_track, A_AAC), with its fixed
    4-byte sizes (0x10xxxxxx) kept, as PIC writes them."""
    body = (bytes([0xD7, 0x81, 0x02])  # TrackNumber = list index + 1
            + bytes([0x73, 0xC5, 0x88]) + (2).to_bytes(8, "big")  # TrackUID = trackId
            + bytes([0x83, 0x81, 0x02])  # TrackType audio
            + bytes([0x53, 0x6E, 0x80 | 15]) + b"kvs_audio_track"
            + bytes([0x86, 0x80 | 5]) + b"A_AAC"
            + bytes([0xE1, 0x10, 0x00, 0x00, 0x0D, 0xB5, 0x88]) + struct.pack(">d", rate)
            + bytes([0x9F, 0x81, channels])
            + bytes([0x63, 0xA2, 0x80 | len(cpd)]) + cpd)
    return bytes([0xAE]) + (0x10000000 | len(body)).to_bytes(4, "big") + body


def minimal_sizes(pic: bytes) -> bytes:
    """The same elements with the shortest size fields (what our writer emits): PIC's 4-byte sizes of the
    TrackEntry and Audio elements become 1 byte."""
    out = bytearray(pic)
    audio = out.index(bytes([0xE1, 0x10, 0x00, 0x00, 0x0D]))
    out[audio + 1 : audio + 5] = bytes([0x80 | 0x0D])
    body = bytes(out[5:])
    return bytes([0xAE, 0x80 | len(body)]) + body


@pytest.mark.parametrize(("rate", "channels", "cpd"), [(48000, 2, b"\x11\x90"), (44100, 1, b"\x12\x08"),
                                                       (8000, 1, b"\x15\x88")])
def test_aac_cpd_matches_pics_generator(rate: int, channels: int, cpd: bytes) -> None:
    # PIC: objectType << 11 | samplingFreqIndex << 7 | channelConfig << 3
    assert aac.audio_specific_config(rate, channels) == cpd
    assert aac.parse_asc(cpd) == aac.AacConfig(aac.AAC_LC, rate, channels)


def test_audio_track_entry_is_pics_layout() -> None:
    cpd = aac.audio_specific_config(48000, 2)
    ours = audio_entry(cpd, 48000, 2)
    pic = pic_audio_track_entry(cpd, 48000.0, 2)
    assert ours == minimal_sizes(pic)
    assert bytes.fromhex("b58840e77000000000009f8102") in ours  # SamplingFrequency 48000.0 (double), Channels 2


def test_ffmpeg_reads_rate_channels_and_sound_from_our_track() -> None:
    enc_rate, tone_frames = 44100, 20
    enc = AacEncoder(enc_rate, 1)
    units = []
    for n in range(tone_frames):
        pcm = tone_block(n * 1024, 1024, enc_rate, start_ms=0, beep_ms=1000)[None, :]
        units += enc.encode_pcm(pcm, enc_rate)
    units += enc.encode(None)
    blocks = [writer.simple_block(2, round(pts * 1000 / enc_rate) + 30, True, data) for pts, data in units]
    body = (writer.ebml_header() + writer.segment_start() + writer.info(1_000_000, b"\x55" * 16)
            + writer.tracks(audio_entry(enc.codec_private, enc_rate, 1)) + writer.cluster(1000, blocks))
    with av.open(io.BytesIO(body)) as c:
        st = c.streams.audio[0]
        assert (st.codec_context.name, st.sample_rate, st.channels) == ("aac", enc_rate, 1)
        samples = sum(f.samples for f in c.decode(st))
    assert samples >= tone_frames * 1024


def test_adts_header_is_stripped_and_gives_the_asc(tmp_path: Path) -> None:
    path = tmp_path / "tone.aac"
    with av.open(str(path), "w", format="adts") as out:
        st = out.add_stream("aac", rate=22050)
        st.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        frame.sample_rate = 22050
        for i in range(4):
            frame.pts = i * 1024
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    data = path.read_bytes()
    cfg, raw = aac.adts_to_raw(data)
    length = ((data[3] & 3) << 11) | (data[4] << 3) | (data[5] >> 5)
    assert cfg == aac.AacConfig(aac.AAC_LC, 22050, 2)
    assert raw == data[7:length]
    assert aac.audio_specific_config(cfg.sample_rate, cfg.channels) == b"\x13\x90"
    with pytest.raises(aac.AacError, match="sync"):
        aac.adts_to_raw(b"\x00" * 10)


def test_only_plain_aac_lc_is_copied() -> None:
    assert aac.is_plain_lc(bytes.fromhex("1190"))
    assert aac.is_plain_lc(bytes.fromhex("119056e500"))  # FFmpeg's: sync extension, SBR absent
    assert not aac.is_plain_lc(bytes.fromhex("119056e580"))  # SBR present: HE-AAC
    assert not aac.is_plain_lc(bytes.fromhex("2b92"))  # object type 5 (SBR)
    assert not aac.is_plain_lc(bytes.fromhex("1194"))  # 960-sample frames
    assert not aac.is_plain_lc(bytes.fromhex("1180"))  # channels in a PCE
