"""Fragmenter and AVC glue (pure), with the resulting bytes read back by FFmpeg and mkvinfo."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import av
import pytest

from app.media.encoder import H264Encoder
from app.media.frames import AUDIO_TRACK, EncodedPacket, RawFrame
from app.mkv import avc, writer
from app.mkv.fragmenter import Fragmenter, FragmentSealed, FrameAdded, connection_header, video_entry
from app.mkv.parser import BlockEvent, ClusterTimecode, MkvStreamParser
from tests.mediagen import decode_indices, indexed_frame

T0 = 1_764_000_000_000  # ms since the epoch


def encode_clip(frames: int, fps: int = 15, fragment_ms: int = 2000) -> tuple[bytes, list]:
    enc = H264Encoder(320, 240, fps, 300_000, "ultrafast")
    frag = Fragmenter(fragment_ms)
    events: list = []
    for i in range(frames):
        ts = T0 + round(i * 1000 / fps)
        bgr = indexed_frame(i)[:, :, ::-1].copy()
        for p in enc.encode(RawFrame(i, ts, bgr), frag.plan_key_frame(ts)):
            events += frag.add(p)
    for p in enc.flush():
        events += frag.add(p)
    events += frag.finish()
    body = connection_header(video_entry(enc.codec_private, 320, 240, fps))
    body += b"".join(e.data for e in events if isinstance(e, FrameAdded))
    return body, events


def test_one_cluster_per_fragment_each_on_a_key_frame() -> None:
    body, events = encode_clip(75)
    starts = [e for e in events if isinstance(e, FrameAdded) and e.started]
    assert [e.timecode - T0 for e in starts] == [0, 2000, 4000]
    assert [e.seq for e in events if isinstance(e, FragmentSealed)] == [0, 1, 2]
    assert decode_indices(body) == list(range(75))
    with av.open(io.BytesIO(body)) as c:
        keys = [p.pts for p in c.demux(video=0) if p.is_keyframe and p.pts is not None]
    assert [k - T0 for k in keys] == [0, 2000, 4000]
    tcs = [e.timecode for e in MkvStreamParser().feed(body) if isinstance(e, ClusterTimecode)]
    assert [t - T0 for t in tcs] == [0, 2000, 4000]


@pytest.mark.skipif(shutil.which("mkvinfo") is None, reason="mkvinfo (mkvtoolnix) not installed")
def test_mkvinfo_reads_our_stream(tmp_path: Path) -> None:
    body, _ = encode_clip(45)
    path = tmp_path / "ours.mkv"
    path.write_bytes(body)
    out = subprocess.run(["mkvinfo", "--all", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Codec ID: V_MPEG4/ISO/AVC" in out
    assert out.splitlines().count("|+ Cluster") == 2
    assert "Timestamp scale: 1000000" in out


def test_timestamps_must_increase() -> None:
    enc = H264Encoder(320, 240, 15, 300_000, "ultrafast")
    frag = Fragmenter()
    packets = enc.encode(RawFrame(0, T0, indexed_frame(0)), True)
    for p in packets:
        frag.add(p)
    with pytest.raises(ValueError, match="increase"):
        frag.add(packets[0])


def test_plan_key_frame_every_fragment() -> None:
    frag = Fragmenter(2000)
    plan = [frag.plan_key_frame(T0 + i * 100) for i in range(45)]
    assert [i for i, p in enumerate(plan) if p] == [0, 20, 40]


def test_annexb_to_avcc_and_record() -> None:
    sps, pps = bytes.fromhex("6742c01e"), bytes.fromhex("68ce3c80")
    annexb = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01" + pps + b"\x00\x00\x00\x01\x65\x88\x84"
    assert avc.split_annexb(annexb) == [sps, pps, b"\x65\x88\x84"]
    expected = b"\x00\x00\x00\x04" + sps + b"\x00\x00\x00\x04" + pps + b"\x00\x00\x00\x03\x65\x88\x84"
    assert avc.annexb_to_avcc(annexb) == expected
    assert avc.parameter_sets(annexb) == (sps, pps)
    assert avc.avcc_record(sps, pps) == bytes.fromhex("0142c01effe100046742c01e01000468ce3c80")
    with pytest.raises(ValueError, match="start code"):
        avc.split_annexb(b"\x65\x88")


def _blocks(events: list) -> list[BlockEvent]:
    body = b"".join(e.data for e in events if isinstance(e, FrameAdded))
    parsed = MkvStreamParser().feed(writer.ebml_header() + writer.segment_start() + body)
    return [e for e in parsed if isinstance(e, BlockEvent)]


def test_b_frames_keep_presentation_offsets_in_decode_order() -> None:
    """Decode order I P B B (presented I B B P): blocks stay in that order, offsets are presentation times."""
    frag = Fragmenter()
    pts = [0, 100, 33, 66, 200, 133, 166]  # a second GOP-less run of P/B after the key frame
    events: list = []
    for i, p in enumerate(pts):
        events += frag.add(EncodedPacket(i, T0 + p, i == 0, b"\x00\x00\x00\x01\x65", decode_ms=T0 - 66 + i * 33))
    assert [b.relative_timecode for b in _blocks(events)] == pts


def test_decode_times_must_increase_per_track() -> None:
    frag = Fragmenter()
    frag.add(EncodedPacket(0, T0 + 66, True, b"k", decode_ms=T0))
    frag.add(EncodedPacket(0, T0, False, b"a", track=AUDIO_TRACK))  # audio keeps its own order
    with pytest.raises(ValueError, match="decode times must increase"):
        frag.add(EncodedPacket(1, T0 + 33, False, b"b", decode_ms=T0))


def test_audio_joins_the_open_cluster_and_never_starts_one() -> None:
    frag = Fragmenter()
    early = frag.add(EncodedPacket(0, T0 - 10, True, b"a0", track=AUDIO_TRACK))
    assert early == []  # nothing before the first video key frame
    events = frag.add(EncodedPacket(0, T0, True, b"v0"))
    events += frag.add(EncodedPacket(1, T0 + 21, True, b"a1", track=AUDIO_TRACK))
    events += frag.add(EncodedPacket(1, T0 + 33, False, b"v1"))
    blocks = _blocks(events)
    assert [(b.track, b.relative_timecode) for b in blocks] == [(1, 0), (2, 21), (1, 33)]
    assert [e.track for e in events if isinstance(e, FrameAdded)] == [1, 2, 1]
    assert not any(isinstance(e, FragmentSealed) for e in events)


def test_fragment_timecodes_must_increase() -> None:
    frag = Fragmenter()
    frag.add(EncodedPacket(0, T0 + 100, True, b"k", decode_ms=T0))
    with pytest.raises(ValueError, match="fragment timecodes must increase"):
        frag.add(EncodedPacket(1, T0 + 50, True, b"k", decode_ms=T0 + 1))


def test_the_caller_can_say_which_key_frames_start_a_fragment() -> None:
    """A recording sent as it is: its key frames that do not start a fragment stay key frames inside one."""
    frag = Fragmenter()
    events: list = []
    for i, (key, starts) in enumerate([(True, True), (False, None), (True, False), (False, None), (True, True)]):
        events += frag.add(EncodedPacket(i, T0 + i * 500, key, b"\x00\x00\x00\x01\x65"), starts)
    events += frag.finish()
    assert [e.seq for e in events if isinstance(e, FragmentSealed)] == [0, 1]
    assert [e.timecode - T0 for e in events if isinstance(e, FrameAdded) and e.started] == [0, 2000]
    assert [b.keyframe for b in _blocks(events)] == [True, False, True, False, True]
    with pytest.raises(ValueError, match="only a video key frame"):
        frag.add(EncodedPacket(5, T0 + 2500, False, b"p"), True)
