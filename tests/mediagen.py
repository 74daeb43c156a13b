"""Test media made in the tests: frames that carry their own index, encoded by PyAV/FFmpeg."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

WIDTH, HEIGHT = 320, 240
BITS = 16
CELL = 20  # px; 16 cells of 20 px across the top of a 320 px frame


def indexed_frame(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """An RGB frame whose top row of cells spells ``index`` in binary (white = 1)."""
    img = np.full((height, width, 3), 64, dtype=np.uint8)
    img[CELL * 2 :, :, 1] = (index * 7) % 256  # some changing content below the code
    for bit in range(BITS):
        value = 255 if (index >> bit) & 1 else 0
        img[0:CELL, bit * CELL : (bit + 1) * CELL] = value
    return img


def read_index(rgb: np.ndarray) -> int:
    index = 0
    for bit in range(BITS):
        cell = rgb[4 : CELL - 4, bit * CELL + 4 : (bit + 1) * CELL - 4]
        if cell.mean() > 128:
            index |= 1 << bit
    return index


def make_mkv(frames: int, fps: int = 15, gop: int = 15) -> bytes:
    """An MKV by FFmpeg's own muxer: one cluster per key frame, cluster timecodes from 0."""
    buf = _Sink()
    with av.open(buf, "w", format="matroska",
                 options={"cluster_size_limit": "10485760", "cluster_time_limit": "100000"}) as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        st.codec_context.gop_size = gop
        st.codec_context.max_b_frames = 0
        st.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "sc_threshold": "0",
                                    "keyint_min": str(gop)}
        encode_indexed(out, st, frames, fps)
    return bytes(buf.data)


def make_mp4(path: Path, frames: int, fps: int = 15) -> Path:
    """A clip made by FFmpeg's mp4 muxer with its own GOP (not aligned with our fragments)."""
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        st.codec_context.gop_size = 12
        encode_indexed(out, st, frames, fps)
    return path


def encode_indexed(out: Any, st: Any, frames: int, fps: int) -> None:
    """Frames 0..frames-1, each carrying its index in its pixels, encoded by ``st`` and muxed into ``out``."""
    st.codec_context.time_base = Fraction(1, fps)
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(indexed_frame(i), format="rgb24")
        frame.pts = i
        for pkt in st.encode(frame):
            out.mux(pkt)
    for pkt in st.encode(None):
        out.mux(pkt)


class _Sink:
    """Write-only, so FFmpeg treats the output as a live, non-seekable stream."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: bytes) -> int:
        self.data += b
        return len(b)


def decode_indices(mkv_or_mp4: bytes, fmt: str | None = None) -> list[int]:
    out = []
    with av.open(io.BytesIO(mkv_or_mp4), format=fmt) as c:
        for frame in c.decode(video=0):
            out.append(read_index(frame.to_ndarray(format="rgb24")))
    return out


def count_frames(data: bytes, fmt: str | None = None) -> int:
    with av.open(io.BytesIO(data), format=fmt) as c:
        return sum(1 for _ in c.decode(video=0))


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def make_av_clip(path: Path, frames: int, fps: int = 15, *, audio_codec: str = "aac", fmt: str | None = None,
                 audio_seconds: float | None = None, rate: int = 48000, channels: int = 2) -> Path:
    """Indexed frames plus a 440 Hz tone (``audio_seconds`` long, default as long as the video), both encoded
    by FFmpeg's own encoders and muxer: what a camera or phone recording with sound looks like."""
    seconds = frames / fps if audio_seconds is None else audio_seconds
    total = round(seconds * rate)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        st.codec_context.gop_size = 12
        st.codec_context.time_base = Fraction(1, fps)
        au = out.add_stream(audio_codec, rate=rate)
        au.layout = layout
        resampler = av.AudioResampler(format=au.codec_context.format.name, layout=layout, rate=rate,
                                      frame_size=au.codec_context.frame_size or 1024)
        done = 0
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(indexed_frame(i), format="rgb24")
            frame.pts = i
            for pkt in st.encode(frame):
                out.mux(pkt)
            upto = min(total, (i + 1) * rate // fps)
            if upto > done:  # the sound of this frame's time, so the muxer interleaves the two tracks
                t = np.arange(done, upto) / rate
                tone = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
                pcm = av.AudioFrame.from_ndarray(np.repeat(tone[None, :], channels, axis=0), format="fltp",
                                                 layout=layout)
                pcm.sample_rate = rate
                pcm.pts = None
                for chunk in resampler.resample(pcm):
                    for pkt in au.encode(chunk):
                        out.mux(pkt)
                done = upto
        for chunk in resampler.resample(None):
            for pkt in au.encode(chunk):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
        for pkt in au.encode(None):
            out.mux(pkt)
    return path
