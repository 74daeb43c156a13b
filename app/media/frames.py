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


@dataclass(frozen=True)
class EncodedPacket:
    index: int  # the RawFrame index it came from
    timestamp_ms: int
    keyframe: bool
    avcc: bytes  # length-prefixed NAL units
