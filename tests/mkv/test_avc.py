"""Annex-B <-> AVCC glue (app/mkv/avc.py), checked against FFmpeg's own h264_mp4toannexb filter and decoder."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from av.bitstream import BitStreamFilterContext
from av.video.frame import PictureType

from app.mkv import avc
from tests.mediagen import encode_indexed

SPS, PPS = bytes.fromhex("6742c01e"), bytes.fromhex("68ce3c80")


def b_frame_clip(path: Path, fmt: str | None = None, frames: int = 30) -> Path:
    """x264 with B-frames, 15 fps, a key frame every 10 frames."""
    with av.open(str(path), "w", format=fmt) as out:
        st = out.add_stream("libx264", rate=15)
        st.width, st.height, st.pix_fmt = 320, 240, "yuv420p"
        st.codec_context.gop_size = 10
        st.codec_context.max_b_frames = 2
        st.codec_context.options = {"preset": "fast", "bf": "2", "sc_threshold": "0"}
        encode_indexed(out, st, frames, 15)
    return path


def test_split_handles_both_start_codes_and_trailing_zeros() -> None:
    annexb = (b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x01" + PPS + b"\x00\x00"  # trailing_zero_8bits
              + b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x01\x65\x88\x84\x00\x00\x03\x01")
    assert avc.split_annexb(annexb) == [SPS, PPS, b"\x09\xf0", b"\x65\x88\x84\x00\x00\x03\x01"]
    avcc = avc.annexb_to_avcc(annexb)  # the access unit delimiter (type 9) is dropped
    assert avc.avcc_nals(avcc) == [SPS, PPS, b"\x65\x88\x84\x00\x00\x03\x01"]
    assert avc.split_annexb(b"") == []
    with pytest.raises(ValueError, match="start code"):
        avc.split_annexb(b"\x65\x88")


def test_annexb_to_avcc_undoes_ffmpegs_mp4toannexb(tmp_path: Path) -> None:
    """FFmpeg turns MP4 packets into Annex-B (adding SPS/PPS before key frames); we turn them back."""
    clip = b_frame_clip(tmp_path / "b.mp4")
    checked = 0
    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        bsf = BitStreamFilterContext("h264_mp4toannexb", stream)
        for packet in c.demux(stream):
            if packet.size == 0:
                continue
            original = avc.avcc_nals(bytes(packet))
            for out in bsf.filter(packet):
                back = avc.avcc_nals(avc.annexb_to_avcc(bytes(out)))
                assert [n for n in back if avc.nal_type(n) not in (avc.NAL_SPS, avc.NAL_PPS)] == original
                checked += 1
    assert checked == 30


def test_avcc_normalise_rewrites_length_size_and_drops_a_leading_delimiter() -> None:
    aud, idr = b"\x09\xf0", b"\x65\x88\x84"
    two_byte = b"".join(len(n).to_bytes(2, "big") + n for n in (aud, idr))
    assert avc.avcc_normalise(two_byte, 2) == b"\x00\x00\x00\x03" + idr
    four_byte = b"\x00\x00\x00\x02" + aud + b"\x00\x00\x00\x03" + idr
    assert avc.avcc_normalise(four_byte) == b"\x00\x00\x00\x03" + idr
    plain = b"\x00\x00\x00\x03" + idr
    assert avc.avcc_normalise(plain) is plain  # the common case costs no copy
    record = avc.avcc_record(SPS, PPS)
    assert avc.record_length_size(record) == 4
    assert avc.record_length_size(record[:4] + b"\xfd" + record[5:]) == 2
    assert avc.record_length_size(avc.with_length_size_4(record[:4] + b"\xfd" + record[5:])) == 4
    with pytest.raises(ValueError, match="past the end"):
        avc.avcc_nals(b"\x00\x00\x00\x09\x65")


def test_slice_types_match_what_the_decoder_says(tmp_path: Path) -> None:
    clip = b_frame_clip(tmp_path / "b.h264", "h264")
    ours = []
    with av.open(str(clip)) as c:
        for packet in c.demux(video=0):
            if packet.size:
                nals = avc.split_annexb(bytes(packet))
                ours.append(next(t for t in map(avc.slice_type, nals) if t is not None) % 5)
    with av.open(str(clip)) as c:
        decoded = sorted(PictureType(f.pict_type).name for f in c.decode(video=0))
    names = {0: "P", 1: "B", 2: "I"}
    assert sorted(names[t] for t in ours) == decoded
    assert "B" in decoded
