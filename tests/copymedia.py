"""Recordings for the copy-mode tests, made by FFmpeg's own encoders and muxers (frames carry their index)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av

from tests.mediagen import HEIGHT, WIDTH, encode_indexed

CONTAINERS = {"mp4": "mp4", "mov": "mov", "mkv": "matroska", "ts": "mpegts", "h264": "h264", "webm": "webm"}


def make_clip(path: Path, frames: int = 75, fps: int = 15, gop: int = 15, bframes: int = 2,
              codec: str = "libx264") -> Path:
    """A clip in the container its suffix names; x264 with ``bframes`` B-frames and a key frame every ``gop``."""
    with av.open(str(path), "w", format=CONTAINERS[path.suffix[1:]]) as out:
        st = out.add_stream(codec, rate=fps)
        st.width, st.height, st.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        st.codec_context.gop_size = gop
        if codec == "libx264":
            st.codec_context.max_b_frames = bframes
            st.codec_context.options = {"preset": "fast" if bframes else "ultrafast", "bf": str(bframes),
                                        "sc_threshold": "0", "keyint_min": str(gop)}
        elif codec == "libx265":
            st.codec_context.options = {"x265-params": f"keyint={gop}:min-keyint={gop}:log-level=error"}
        elif codec == "libvpx-vp9":
            st.codec_context.options = {"deadline": "realtime", "cpu-used": "8"}
        encode_indexed(out, st, frames, fps)
    return path


def presentation_ms(data: bytes | Path) -> list[int]:
    """Decoded frames' presentation times in ms from the first, in presentation order (FFmpeg's reading)."""
    src = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    with av.open(src) as c:
        stream = c.streams.video[0]
        tb = stream.time_base  # read while the container is open: after close() it is freed memory
        pts = [f.pts for f in c.decode(stream)]
    # relative first, then rounded: a TS starting at 1.4 s must not round its frames differently
    return [round((p - pts[0]) * tb * 1000) for p in pts]


def packet_payloads(data: bytes | Path) -> list[bytes]:
    """Each packet's bytes in decode order, as the demuxer gives them."""
    src = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    with av.open(src) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def has_b_frames(path: Path) -> bool:
    with av.open(str(path)) as c:
        return any(p.pts is not None and p.dts is not None and p.pts != p.dts for p in c.demux(video=0) if p.size)


def ffmpeg_avcc_payloads(path: Path) -> list[bytes]:
    """Packet bytes after FFmpeg's own Matroska muxer has converted them (Annex-B to AVCC for TS and raw
    streams), in decode order: what a copy must send, by code we did not write."""
    buf = io.BytesIO()
    with av.open(str(path)) as inp, av.open(buf, "w", format="matroska") as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        for i, p in enumerate(pkt for pkt in inp.demux(ist) if pkt.size):
            if p.dts is None and p.pts is None:  # raw H.264 has no timestamps: frame numbers will do
                p.time_base = Fraction(1, 15)
                p.pts = p.dts = i
            p.stream = ost
            out.mux(p)
    return packet_payloads(buf.getvalue())
