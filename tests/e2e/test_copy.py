"""`kvs-studio stream --copy`: recordings sent as they are, over real sockets to the local endpoint.

What the endpoint stored is read back with FFmpeg (PyAV): every frame once and in order (the frames carry
their index in their pixels), presentation times equal to the source's, each fragment on a key frame, and
the coded bytes identical to the file's (nothing was re-encoded; Annex-B compared with FFmpeg's own
conversion).
"""

from __future__ import annotations

import io
import itertools
import time
from pathlib import Path

import av
import pytest

from app.localkvs.server import EndpointThread
from app.mkv import avc
from tests.conftest import client
from tests.copymedia import ffmpeg_avcc_payloads, has_b_frames, make_clip, packet_payloads, presentation_ms
from tests.e2e.test_stream_cli import run_cli, stored_fragments
from tests.mediagen import decode_indices

pytestmark = pytest.mark.e2e
FRAMES = 75  # 5 s at 15 fps


def without_aud(payload: bytes) -> list[bytes]:
    return [nal for nal in avc.avcc_nals(payload) if avc.nal_type(nal) != avc.NAL_AUD]


def assert_stored_as_recorded(ep: EndpointThread, stream: str, clip: Path, frames: int = FRAMES) -> list[bytes]:
    docs = stored_fragments(ep, stream)
    for doc in docs:  # each fragment starts on a key frame (read by FFmpeg's demuxer, not ours)
        with av.open(io.BytesIO(doc)) as c:
            assert next(c.demux(video=0)).is_keyframe
    whole = b"".join(docs)
    assert decode_indices(whole) == list(range(frames))
    if clip.suffix == ".h264":  # no timestamps in the file: FFmpeg's frame duration (1/15 s here)
        assert presentation_ms(whole) == [round(i * 1000 / 15) for i in range(frames)]
    else:
        assert presentation_ms(whole) == presentation_ms(clip)
    stored = [nals for doc in docs for nals in map(without_aud, packet_payloads(doc))]
    assert stored == [without_aud(p) for p in ffmpeg_avcc_payloads(clip)]
    return docs


@pytest.mark.parametrize(("suffix", "bframes"), [("mp4", 2), ("mkv", 2), ("ts", 2), ("h264", 0), ("mov", 0)])
def test_recording_is_stored_frame_exact_without_re_encoding(suffix: str, bframes: int, tmp_path: Path,
                                                             endpoint: EndpointThread) -> None:
    clip = make_clip(tmp_path / f"clip.{suffix}", FRAMES, gop=15, bframes=bframes)
    assert has_b_frames(clip) == (bframes > 0)
    proc = run_cli("--stream", "c", "--source", str(clip), "--endpoint-url", endpoint.url, "--create", "--copy",
                   "--pace", "fast")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "as recorded: H.264 320x240 at 15 fps, 5.0 s in 3 fragments" in proc.stdout
    assert "summary: 3 fragments, 75 frames; 3 PERSISTED" in proc.stdout
    docs = assert_stored_as_recorded(endpoint, "c", clip)
    if suffix in ("mp4", "mkv", "mov"):  # AVCC already: the very bytes of the file
        assert [p for doc in docs for p in packet_payloads(doc)] == packet_payloads(clip)


def test_fragments_follow_the_files_key_frames(tmp_path: Path, endpoint: EndpointThread) -> None:
    """Key frames every 0.8 s and 2 s fragments asked for: each fragment starts at the first key frame at or
    after 2 s, so fragments are 2.4 s long, and the key frames in between stay inside them."""
    clip = make_clip(tmp_path / "gop12.mp4", 90, gop=12)
    proc = run_cli("--stream", "g", "--source", str(clip), "--endpoint-url", endpoint.url, "--create", "--copy",
                   "--pace", "fast")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frags = client("kinesis-video-archived-media", endpoint.url).list_fragments(StreamName="g")["Fragments"]
    starts = sorted(f["ProducerTimestamp"].timestamp() for f in frags)
    assert [round(b - a, 3) for a, b in itertools.pairwise(starts)] == [2.4, 2.4]
    assert_stored_as_recorded(endpoint, "g", clip, 90)


def test_realtime_copy_starts_now_and_takes_the_clips_time(tmp_path: Path, endpoint: EndpointThread) -> None:
    clip = make_clip(tmp_path / "rt.mp4", 45)  # 3 s with B-frames
    client("kinesisvideo", endpoint.url).create_stream(StreamName="rt", DataRetentionInHours=1)
    started = time.time()
    proc = run_cli("--stream", "rt", "--source", str(clip), "--endpoint-url", endpoint.url, "--copy")
    elapsed = time.time() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert elapsed >= 45 / 15 - 1 / 15  # paced: the last frame is due 2.93 s after the first (a lower bound)
    frags = client("kinesis-video-archived-media", endpoint.url).list_fragments(StreamName="rt")["Fragments"]
    first = min(f["ProducerTimestamp"].timestamp() for f in frags)
    assert started <= first <= started + elapsed  # timecodes from now, not from the past
    assert_stored_as_recorded(endpoint, "rt", clip, 45)


def test_too_long_gop_is_refused_before_anything_is_sent(tmp_path: Path, endpoint: EndpointThread) -> None:
    clip = make_clip(tmp_path / "long.mp4", 200, gop=180, bframes=0)  # 12 s between key frames
    client("kinesisvideo", endpoint.url).create_stream(StreamName="l", DataRetentionInHours=1)
    proc = run_cli("--stream", "l", "--source", str(clip), "--endpoint-url", endpoint.url, "--copy")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "long.mp4 has 12.0 s between key frames" in proc.stderr
    assert "longer than the 10 s a Kinesis Video fragment may last" in proc.stderr
    assert "drop --copy" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert client("kinesis-video-archived-media", endpoint.url).list_fragments(StreamName="l")["Fragments"] == []
    ok = run_cli("--stream", "l", "--source", str(clip), "--endpoint-url", endpoint.url, "--pace", "fast")
    assert ok.returncode == 0, ok.stdout + ok.stderr  # re-encoded, as the message suggests, it goes


@pytest.mark.parametrize(("name", "codec", "words"), [("hevc.mp4", "libx265", "H.265/HEVC"),
                                                      ("vp9.webm", "libvpx-vp9", "VP9")])
def test_other_codecs_are_refused_with_their_name(name: str, codec: str, words: str, tmp_path: Path,
                                                  endpoint: EndpointThread) -> None:
    clip = make_clip(tmp_path / name, 10, codec=codec)
    client("kinesisvideo", endpoint.url).create_stream(StreamName="o", DataRetentionInHours=1)
    proc = run_cli("--stream", "o", "--source", str(clip), "--endpoint-url", endpoint.url, "--copy")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{name} has {words} video; upload as recorded (--copy) sends H.264 only" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_copy_with_settings_it_cannot_honour_is_one_line(tmp_path: Path, endpoint: EndpointThread) -> None:
    clip = make_clip(tmp_path / "c.mp4", 15)
    cases = ((["--source", "testpattern"], "the test pattern and cameras are always encoded"),
             (["--source", "camera:0"], "the test pattern and cameras are always encoded"),
             (["--source", str(clip), "--width", "640", "--fps", "30"],
              "--copy keeps the file's own size, frame rate and bitrate, so --width, --fps cannot apply"))
    for args, words in cases:
        proc = run_cli("--stream", "x", *args, "--endpoint-url", endpoint.url, "--create", "--copy")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert words in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert "x" not in [s["StreamName"] for s in client("kinesisvideo", endpoint.url).list_streams()["StreamInfoList"]]


def test_max_rate_caps_a_custom_endpoint(tmp_path: Path, endpoint: EndpointThread) -> None:
    """No cap against a custom endpoint unless asked: at --max-rate 0.004 (4000 bytes/s) the clip cannot go
    out faster than that after its first piece (one fragment): a lower bound, whatever the machine's speed."""
    clip = make_clip(tmp_path / "capped.mp4", 90, bframes=0)
    started = time.monotonic()
    proc = run_cli("--stream", "m", "--source", str(clip), "--endpoint-url", endpoint.url, "--create", "--copy",
                   "--pace", "fast", "--max-rate", "0.004")
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sizes = [len(doc) for doc in assert_stored_as_recorded(endpoint, "m", clip, 90)]
    assert len(sizes) == 3
    assert elapsed >= (sum(sizes) - max(sizes)) / 4000  # stored documents are a little smaller than what was sent
