"""H.264 encoder around PyAV's libx264 CodecContext (zero latency, no B-frames).

Key frames come where the caller asks (``force_key``), so every fragment starts on one: the
fragmenter asks at each fragment boundary. Timestamps pass through as pts in ms, so each packet maps
back to its frame. Output is AVCC with the avcC record for CodecPrivate: x264 writes length-prefixed
NAL units itself when asked (``annexb=0``), which saves converting every byte in Python; should an FFmpeg
build ignore that, Annex-B output is converted (app/mkv/avc.py).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
import cv2
import numpy as np
from av.video.frame import PictureType

from app.media.frames import EncodedPacket, RawFrame
from app.mkv import avc

DEFAULT_BITRATE = 2_000_000  # bit/s
_MS = Fraction(1, 1000)


class H264Encoder:
    def __init__(self, width: int, height: int, fps: float, bitrate: int = DEFAULT_BITRATE,
                 preset: str = "veryfast") -> None:
        if width % 2 or height % 2:
            raise ValueError("width and height must be even for yuv420p")
        self.width, self.height = width, height
        cc = av.CodecContext.create("libx264", "w")
        cc.width, cc.height, cc.pix_fmt = width, height, "yuv420p"
        cc.time_base = _MS
        cc.framerate = Fraction(fps).limit_denominator(1001)
        cc.bit_rate = bitrate
        cc.gop_size = 10_000  # key frames only when forced (fragment boundaries)
        cc.max_b_frames = 0
        cc.flags |= av.codec.context.Flags.global_header  # SPS/PPS once, in extradata
        cc.options = {"preset": preset, "tune": "zerolatency", "forced-idr": "1", "sc_threshold": "0",
                      "repeat-headers": "0", "x264-params": "annexb=0"}
        cc.open()
        self._cc = cc
        extradata = bytes(cc.extradata or b"")
        self._annexb = not extradata.startswith(b"\x01")  # an avcC record starts with its version, 1
        if self._annexb:
            sets = avc.parameter_sets(extradata)
            if sets is None:
                raise RuntimeError("libx264 gave no SPS/PPS")
            self.codec_private = avc.avcc_record(*sets)
        else:
            self.codec_private = extradata
        self._meta: dict[int, int] = {}  # pts -> frame index

    def encode(self, frame: RawFrame, force_key: bool) -> list[EncodedPacket]:
        vf = self._to_video_frame(frame.image)
        vf.pts = frame.timestamp_ms
        vf.time_base = _MS  # else PyAV rescales pts from a decoded file's own time base
        vf.pict_type = PictureType.I if force_key else PictureType.NONE
        self._meta[frame.timestamp_ms] = frame.index
        return self._packets(self._cc.encode(vf))

    def flush(self) -> list[EncodedPacket]:
        return self._packets(self._cc.encode(None))

    def _packets(self, packets: list[Any]) -> list[EncodedPacket]:
        out = []
        for p in packets:
            pts = int(p.pts)
            data = avc.annexb_to_avcc(bytes(p)) if self._annexb else bytes(p)
            out.append(EncodedPacket(self._meta.pop(pts, -1), pts, bool(p.is_keyframe), data))
        return out

    def _to_video_frame(self, image: Any) -> av.VideoFrame:
        if isinstance(image, av.VideoFrame):
            if image.width == self.width and image.height == self.height and image.format.name == "yuv420p":
                return image
            return image.reformat(width=self.width, height=self.height, format="yuv420p")
        img = np.asarray(image)
        if img.shape[1] != self.width or img.shape[0] != self.height:
            img = cv2.resize(img, (self.width, self.height), interpolation=cv2.INTER_AREA)
        # cvtColor is about twice as fast as PyAV's reformat for BGR -> I420 (ENVIRONMENT.md §4).
        i420 = cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420)
        return av.VideoFrame.from_ndarray(i420, format="yuv420p")
