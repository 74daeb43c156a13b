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
        _encode_indexed(out, st, frames, fps)
    return bytes(buf.data)


def make_mp4(path: Path, frames: int, fps: int = 15) -> Path:
    """A clip made by FFmpeg's mp4 muxer with its own GOP (not aligned with our fragments)."""
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        st.codec_context.gop_size = 12
        _encode_indexed(out, st, frames, fps)
    return path


def _encode_indexed(out: Any, st: Any, frames: int, fps: int) -> None:
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
