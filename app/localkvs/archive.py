"""Archived media (``kinesis-video-archived-media``): ListFragments, GetMediaForFragmentList, GetClip.

Fragments come back the way the service returns them: each one as a small MKV document of its own
(EBML header, Segment, Info, Tracks, Tags, one Cluster), so a reader can start at any fragment
(kvs-protocol.md §5.3, §8). The Tags hold the fragment number and timestamps the service adds, then
the producer's own metadata for that fragment (the SimpleTags sent before its Cluster): the payload
is "a sequence of chunks" as sent with PutMedia plus those extra tags (API reference,
GetMediaForFragmentList, Payload).
"""

from __future__ import annotations

import io
from typing import Any

from app.localkvs.control import paginate, resolve_stream
from app.localkvs.errors import ServiceError, invalid, not_found
from app.localkvs.store import FragmentRecord, Store
from app.mkv import writer

MAX_CLIP_FRAGMENTS = 200
MAX_CLIP_BYTES = 100 * 1024 * 1024


def _epoch_ms(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{what} must be a timestamp.")
    return round(float(value) * 1000)


def _range(selector: object, kind_key: str) -> tuple[str, int, int]:
    if not isinstance(selector, dict):
        raise invalid("The fragment selector must be an object.")
    kind = selector.get(kind_key)
    if kind not in ("PRODUCER_TIMESTAMP", "SERVER_TIMESTAMP"):
        raise invalid(f"{kind_key} must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP.")
    rng = selector.get("TimestampRange")
    if not isinstance(rng, dict):
        raise invalid("TimestampRange is required.")
    start = _epoch_ms(rng.get("StartTimestamp"), "StartTimestamp")
    end = _epoch_ms(rng.get("EndTimestamp"), "EndTimestamp")
    if end < start:
        raise invalid("EndTimestamp must not be before StartTimestamp.")
    by = "producer_ms" if kind == "PRODUCER_TIMESTAMP" else "server_ms"
    return by, start, end


def list_fragments(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    rec = resolve_stream(store, body)
    max_results = body.get("MaxResults", 1000)
    if not isinstance(max_results, int) or not 1 <= max_results <= 1000:
        raise invalid("MaxResults must be between 1 and 1000.")
    if "FragmentSelector" in body:
        by, start, end = _range(body["FragmentSelector"], "FragmentSelectorType")
        frags = store.list_fragments(rec.name, start, end, by)
    else:
        frags = store.list_fragments(rec.name)
    return paginate([f.to_json() for f in frags], body, max_results, "Fragments")


def _cluster_or_empty(store: Store, frag: FragmentRecord) -> bytes:
    try:
        return store.read_cluster(frag)
    except FileNotFoundError:  # deleted by the retention sweep after it was listed
        return b""


def fragment_document(store: Store, frag: FragmentRecord) -> bytes:
    """One fragment as a playable MKV document; empty if its file is gone (deleted by retention meanwhile)."""
    scale, tracks_raw = store.get_header(frag.header_id)
    cluster = _cluster_or_empty(store, frag)
    if not cluster:
        return b""
    return (
        writer.ebml_header()
        + writer.segment_start()
        + writer.info(scale)
        + tracks_raw
        + writer.tags([
            ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", frag.number),
            ("AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP", f"{frag.server_ms / 1000:.3f}"),
            ("AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP", f"{frag.producer_ms / 1000:.3f}"),
            *frag.metadata,
        ])
        + cluster
    )


def fragments_for_list(store: Store, body: dict[str, Any]) -> list[FragmentRecord]:
    rec = resolve_stream(store, body)
    numbers = body.get("Fragments")
    if not isinstance(numbers, list) or not 1 <= len(numbers) <= 1000 or \
            not all(isinstance(n, str) and n.isdigit() for n in numbers):
        raise invalid("Fragments must list 1-1000 fragment numbers.")
    found = store.get_fragments(rec.name, numbers)
    missing = [n for n in numbers if n not in found]
    if missing:
        raise not_found(f"Fragment {missing[0]} was not found in stream {rec.name}.")
    return [found[n] for n in numbers]


def clip_fragments(store: Store, body: dict[str, Any]) -> list[FragmentRecord]:
    rec = resolve_stream(store, body)
    if rec.retention_hours == 0:
        raise ServiceError(400, "NoDataRetentionException", "The stream does not retain data.")
    by, start, end = _range(body.get("ClipFragmentSelector"), "FragmentSelectorType")
    frags = store.list_fragments(rec.name, start, end, by)
    if not frags:
        raise not_found("No fragments were found in the requested time range.")
    if len(frags) > MAX_CLIP_FRAGMENTS or sum(f.size for f in frags) > MAX_CLIP_BYTES:
        raise ServiceError(400, "ClientLimitExceededException",
                           "The clip would be larger than 200 fragments or 100 MB.")
    return frags


def _fill_decode_times(packets: list[Any]) -> None:
    """Matroska stores presentation times only; MP4 needs decode times too. Where FFmpeg leaves them unset
    (H.264 with B-frames), each packet's decode time is the i-th smallest presentation time of its stream,
    moved back by the largest reordering, so decode times increase and never pass presentation times.
    (Dropping such packets, as before, lost the first frames of every clip of a B-frame stream.)"""
    by_stream: dict[int, list[Any]] = {}
    for p in packets:
        by_stream.setdefault(p.stream.index, []).append(p)
    for group in by_stream.values():
        if all(p.dts is not None for p in group) or any(p.pts is None for p in group):
            continue
        ordered = sorted(p.pts for p in group)
        delay = max(o - p.pts for o, p in zip(ordered, group, strict=True))
        for o, p in zip(ordered, group, strict=True):
            p.dts = o - delay


def build_clip(store: Store, frags: list[FragmentRecord]) -> bytes:
    """Remux the fragments into one MP4 with PyAV (runs in a worker thread)."""
    import av  # heavy; imported only when a clip is asked for

    first = frags[0]
    scale, tracks_raw = store.get_header(first.header_id)
    same = [f for f in frags if f.header_id == first.header_id]  # a codec change ends the clip
    mkv = writer.ebml_header() + writer.segment_start() + writer.info(scale) + tracks_raw
    mkv += b"".join(_cluster_or_empty(store, f) for f in same)
    out_buf = io.BytesIO()
    try:
        with av.open(io.BytesIO(mkv), format="matroska") as src, \
                av.open(out_buf, "w", format="mp4") as dst:
            mapping = {}
            for stream in src.streams:
                if stream.type in ("video", "audio"):
                    mapping[stream.index] = dst.add_stream_from_template(stream)
            packets = [p for p in src.demux(list(src.streams)) if p.size and p.stream.index in mapping]
            _fill_decode_times(packets)
            for packet in packets:
                packet.stream = mapping[packet.stream.index]
                dst.mux(packet)
    except (av.FFmpegError, ValueError) as exc:
        raise ServiceError(400, "InvalidCodecPrivateDataException", f"Cannot build an MP4 clip: {exc}") from exc
    return out_buf.getvalue()
