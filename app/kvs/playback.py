"""Playback of what the service stored: "did my video arrive?"

ListFragments finds the fragments in a producer-time range, GetMediaForFragmentList returns them (each a
small MKV document), and PyAV decodes them; both calls go to the data endpoint GetDataEndpoint names,
on AWS and on the local endpoint alike. Blocking: run it off the UI thread.

When there is nothing to play, ``Clip.reason`` says why in words: no retention, no such stream in this
region, no fragments in the range, or a codec PyAV cannot decode. Frames are kept scaled down (at most
``max_width`` wide) and at most ``max_frames`` of them (evenly thinned past that), so a minute of 1080p
does not take gigabytes.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from app.errors import KvsStudioError, StreamNotFound
from app.kvs.control import KvsControl

MAX_FRAGMENTS = 1000  # GetMediaForFragmentList takes at most 1000 fragment numbers
MAX_FRAMES = 900
MAX_WIDTH = 640


@dataclass(frozen=True)
class StoredFragment:
    number: str
    producer_ms: int
    server_ms: int
    duration_ms: int
    size: int


@dataclass(frozen=True)
class PlaybackFrame:
    image: np.ndarray  # BGR
    producer_ms: int  # when the producer captured it (ms since the epoch)
    fragment: str  # its fragment number


@dataclass
class Clip:
    stream: str
    start_ms: int
    end_ms: int
    fragments: list[StoredFragment] = field(default_factory=list)
    frames: list[PlaybackFrame] = field(default_factory=list)
    fps: float = 0.0
    thinned: int = 1  # every n-th frame is kept
    reason: str | None = None  # why there is nothing to play

    @property
    def playable(self) -> bool:
        return bool(self.frames)


def fetch_clip(control: KvsControl, stream: str, start_ms: int, end_ms: int, *, max_frames: int = MAX_FRAMES,
               max_width: int = MAX_WIDTH, cancelled: Callable[[], bool] = lambda: False) -> Clip:
    clip = Clip(stream, start_ms, end_ms)
    try:
        desc = control.describe(stream)
    except StreamNotFound:
        clip.reason = (f"No stream {stream!r} in {control.region}. If you streamed to another region, pick that "
                       "region; or check the stream's name.")
        return clip
    if desc.status != "ACTIVE":
        clip.reason = f"{stream} is {desc.status}: nothing can have been stored yet. Try again once it is ACTIVE."
        return clip
    if desc.retention_hours == 0:
        clip.reason = (f"{stream} keeps no data (retention 0 h): the service acknowledges fragments but stores "
                       "none, so there is nothing to play back. Stream to a stream with retention.")
        return clip
    try:
        clip.fragments = list_stored(control, stream, start_ms, end_ms)
    except KvsStudioError as exc:
        clip.reason = exc.user_message
        return clip
    if not clip.fragments:
        clip.reason = ("No fragments were stored between these times. Stream first (or choose an earlier range); "
                       f"if you streamed to another region than {control.region}, pick that region.")
        return clip
    clip.fragments = clip.fragments[-MAX_FRAGMENTS:]
    if cancelled():
        return clip
    try:
        payload = get_media(control, stream, [f.number for f in clip.fragments])
    except KvsStudioError as exc:
        clip.reason = exc.user_message
        return clip
    decode_into(clip, payload, max_frames=max_frames, max_width=max_width)
    return clip


def list_stored(control: KvsControl, stream: str, start_ms: int, end_ms: int) -> list[StoredFragment]:
    """ListFragments by producer timestamp, oldest first."""
    from botocore.exceptions import BotoCoreError, ClientError

    selector = {"FragmentSelectorType": "PRODUCER_TIMESTAMP",
                "TimestampRange": {"StartTimestamp": start_ms / 1000, "EndTimestamp": end_ms / 1000}}
    out: list[StoredFragment] = []
    try:
        archived = control.archived_media(stream, "LIST_FRAGMENTS")
        for page in archived.get_paginator("list_fragments").paginate(StreamName=stream, FragmentSelector=selector):
            for f in page["Fragments"]:
                out.append(StoredFragment(str(f["FragmentNumber"]), round(f["ProducerTimestamp"].timestamp() * 1000),
                                          round(f["ServerTimestamp"].timestamp() * 1000),
                                          int(f.get("FragmentLengthInMilliseconds", 0)),
                                          int(f.get("FragmentSizeInBytes", 0))))
    except (ClientError, BotoCoreError) as exc:
        raise control.translate(exc, stream) from None
    out.sort(key=lambda f: (f.producer_ms, int(f.number)))
    return out


def get_media(control: KvsControl, stream: str, numbers: list[str]) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        archived = control.archived_media(stream, "GET_MEDIA_FOR_FRAGMENT_LIST")
        resp = archived.get_media_for_fragment_list(StreamName=stream, Fragments=numbers)
        return bytes(resp["Payload"].read())
    except (ClientError, BotoCoreError) as exc:
        raise control.translate(exc, stream) from None


def decode_into(clip: Clip, payload: bytes, *, max_frames: int = MAX_FRAMES, max_width: int = MAX_WIDTH) -> None:
    """Decode the fragments' video with PyAV (FFmpeg reads the documents one after another)."""
    import av

    frames: list[tuple[int, av.VideoFrame]] = []
    try:
        with av.open(io.BytesIO(payload), format="matroska") as container:
            if not container.streams.video:
                clip.reason = "The stored fragments hold no video track PyAV can read (codec not playable)."
                return
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            clip.fps = float(rate) if rate else 0.0
            for frame in container.decode(stream):
                ms = round(frame.time * 1000) if frame.time is not None else len(frames)
                frames.append((ms, frame))
                if len(frames) > max_frames * 8:  # a bound on memory whatever the range asked for
                    break
    except (av.FFmpegError, ValueError) as exc:
        clip.reason = f"The stored video could not be decoded (codec not playable here): {exc}"
        return
    if not frames:
        clip.reason = "The fragments were fetched but held no decodable frame (codec not playable here)."
        return
    step = max(1, -(-len(frames) // max_frames))
    clip.thinned = step
    base = _time_base(clip, frames[0][0])
    spans = [(f.producer_ms, f.number) for f in clip.fragments]
    for ms, frame in frames[::step]:
        producer = ms + base
        clip.frames.append(PlaybackFrame(_scaled(frame, max_width), producer, _fragment_at(spans, producer)))
    if not clip.fps and len(clip.frames) > 1:
        span = (clip.frames[-1].producer_ms - clip.frames[0].producer_ms) / 1000
        clip.fps = (len(clip.frames) - 1) / span if span > 0 else 0.0


def _time_base(clip: Clip, first_ms: int) -> int:
    """Our own fragments (and the AWS producer SDKs') carry absolute timecodes: keep them. A producer that
    starts its timecodes at 0 gets the first fragment's producer timestamp added."""
    if first_ms > 10**12:  # after 2001 in ms since the epoch: absolute already
        return 0
    return clip.fragments[0].producer_ms - first_ms


def _fragment_at(spans: list[tuple[int, str]], producer_ms: int) -> str:
    number = spans[0][1]
    for start, n in spans:
        if start <= producer_ms:
            number = n
        else:
            break
    return number


def _scaled(frame: object, max_width: int) -> np.ndarray:
    w, h = frame.width, frame.height  # type: ignore[attr-defined]
    if w > max_width:
        h = max(2, round(h * max_width / w) // 2 * 2)
        w = max_width
    return frame.to_ndarray(format="bgr24", width=w, height=h)  # type: ignore[attr-defined]
