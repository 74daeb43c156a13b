"""The values that flow between pipeline stages (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RawFrame:
    """One captured picture. ``image`` is BGR (h, w, 3) uint8, or an ``av.VideoFrame`` from a file."""

    index: int  # 0-based, in capture order
    timestamp_ms: int  # absolute producer time (ms since the epoch)
    image: np.ndarray | Any


VIDEO_TRACK = 1  # MKV track numbers as KVS expects them: video first, audio (if any) second
AUDIO_TRACK = 2


@dataclass(frozen=True)
class EncodedPacket:
    """One coded frame, in decode order. ``timestamp_ms`` is its presentation time; ``decode_ms`` differs
    from it only for streams with B-frames (recordings sent as they are), whose frames are presented in
    another order than they are decoded."""

    index: int  # the RawFrame (or demuxed packet) index it came from
    timestamp_ms: int  # presentation time, absolute ms
    keyframe: bool
    data: bytes  # H.264: length-prefixed (AVCC) NAL units; AAC: one raw access unit
    track: int = VIDEO_TRACK
    decode_ms: int | None = None  # decode time when it differs from the presentation time

    @property
    def dts_ms(self) -> int:
        return self.timestamp_ms if self.decode_ms is None else self.decode_ms
