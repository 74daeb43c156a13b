"""The cheap live path: the test pattern drawn in I420, x264 writing AVCC itself, previews scaled once.
Checked with OpenCV and PyAV/FFmpeg decoding, not with our own code."""

from __future__ import annotations

import io
import threading

import av
import cv2
import numpy as np
import pytest

from app.media.encoder import H264Encoder
from app.media.frames import RawFrame
from app.media.sources import TestPatternSource
from app.media.thumbnail import preview_bgr, preview_size
from app.mkv.fragmenter import Fragmenter, FrameAdded, connection_header, video_entry

T0 = 1_764_000_000_000
BARS_BGR = [(192, 192, 192), (0, 192, 192), (192, 192, 0), (0, 192, 0), (192, 0, 192), (0, 0, 192), (192, 0, 0)]


def test_pattern_frames_are_i420_video_frames_with_the_bars_and_caption() -> None:
    pattern = TestPatternSource(640, 360, 30)
    frame = pattern.video_frame(0, T0)
    assert (frame.width, frame.height, frame.format.name) == (640, 360, "yuv420p")
    bgr = frame.to_ndarray(format="bgr24")  # FFmpeg's conversion, not ours
    for i, colour in enumerate(BARS_BGR):
        x = round((i + 0.5) * 640 / len(BARS_BGR))
        assert np.abs(bgr[20, x].astype(int) - colour).max() <= 6, (i, bgr[20, x])
    band = bgr[340, 600]  # right end of the caption band: dark grey, no text there
    assert band.max() <= 24
    assert np.ptp(band) <= 4
    assert (frame.to_ndarray() == pattern.render(0, T0)).all()  # both drawing paths give the same picture


def test_pattern_moves_and_writes_its_frame_number() -> None:
    pattern = TestPatternSource(320, 240, 30)
    a, b = pattern.render(0, T0), pattern.render(1, T0)
    y = slice(0, 240)
    assert not np.array_equal(a[y, :], b[y, :])  # the bars scroll and the circle moves
    assert np.array_equal(pattern.render(5, T0), pattern.render(5, T0))
    c = pattern.render(5, T0 + 1000)
    assert not np.array_equal(c[200:240], pattern.render(5, T0)[200:240])  # the clock in the caption changed


def test_pattern_sizes_must_be_even() -> None:
    with pytest.raises(ValueError, match="even"):
        TestPatternSource(321, 240, 30)


def test_pattern_frames_are_paced_and_timestamped() -> None:
    pattern = TestPatternSource(160, 120, 50, duration_s=0.2)
    frames = list(pattern.frames(threading.Event()))
    assert [f.index for f in frames] == list(range(10))
    stamps = [f.timestamp_ms for f in frames]
    assert stamps == sorted(set(stamps))
    assert 150 <= stamps[-1] - stamps[0] <= 400


def _avcc_nal_types(data: bytes) -> list[int]:
    types, i = [], 0
    while i < len(data):
        size = int.from_bytes(data[i: i + 4], "big")
        assert 0 < size <= len(data) - i - 4, f"NAL length {size} at {i} runs past the packet"
        assert data[i + 4] & 0x80 == 0, "forbidden_zero_bit set: not a NAL unit header"
        types.append(data[i + 4] & 0x1F)
        i += 4 + size
    return types


def test_encoder_output_is_avcc_and_ffmpeg_decodes_it_frame_exact() -> None:
    pattern = TestPatternSource(320, 240, 15)
    enc = H264Encoder(320, 240, 15, 300_000, "ultrafast")
    assert enc.codec_private[0] == 1  # an avcC record (ISO 14496-15), not Annex-B
    frag = Fragmenter(1000)
    events: list = []
    packets = []
    for i in range(30):
        ts = T0 + round(i * 1000 / 15)
        packets += enc.encode(RawFrame(i, ts, pattern.video_frame(i, ts)), frag.plan_key_frame(ts))
    packets += enc.flush()
    for p in packets:
        assert _avcc_nal_types(p.data)  # the packet is exactly a chain of length-prefixed NAL units
        events += frag.add(p)
    body = connection_header(video_entry(enc.codec_private, 320, 240, 15))
    body += b"".join(e.data for e in events if isinstance(e, FrameAdded))
    with av.open(io.BytesIO(body)) as c:
        decoded = [f.to_ndarray() for f in c.decode(video=0)]
    assert len(decoded) == 30
    # each decoded picture is closest to the pattern frame it came from (lossy, so nearest, not equal)
    for i in (0, 7, 29):
        src = pattern.render(i, T0 + round(i * 1000 / 15))
        errs = [np.abs(decoded[i].astype(int) - pattern.render(j, T0 + round(j * 1000 / 15)).astype(int)).mean()
                for j in range(max(0, i - 2), min(30, i + 3))]
        assert np.abs(decoded[i].astype(int) - src.astype(int)).mean() == min(errs)


def test_preview_is_scaled_by_powers_of_two_to_at_most_960() -> None:
    assert preview_size(1280, 720) == (640, 360)
    assert preview_size(1920, 1080) == (960, 540)
    assert preview_size(3840, 2160) == (960, 540)
    assert preview_size(640, 480) == (640, 480)
    frame = TestPatternSource(1280, 720, 30).video_frame(3, T0)
    small = preview_bgr(frame)
    assert small.shape == (360, 640, 3)
    assert small.dtype == np.uint8
    full = cv2.resize(frame.to_ndarray(format="bgr24"), (640, 360), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - full.astype(int)).mean() < 4  # the same picture, not a crop or a tint
    camera = np.zeros((480, 640, 3), np.uint8)
    assert preview_bgr(camera) is camera  # small enough: no copy
    assert preview_bgr(np.zeros((1080, 1920, 3), np.uint8)).shape == (540, 960, 3)
