"""The service's ingest rules on crafted MKV (pure: no sockets)."""

from __future__ import annotations

import pytest

from app.localkvs import ingest
from app.localkvs.ingest import FragmentComplete, FragmentStarted, IngestFailed, PutMediaIngest
from app.mkv import writer

CPD = bytes.fromhex("0142c01effe100046742c01e01000468ce3c80")
HEADER = writer.ebml_header() + writer.segment_start() + writer.info() + writer.tracks(
    writer.video_track(codec_private=CPD, width=320, height=240, default_duration_ns=33_333_333))


def frag(tc: int, n: int = 3, step: int = 33, track: int = 1, key: bool = True) -> bytes:
    blocks = [writer.simple_block(track, i * step, key and i == 0, b"\x00\x00\x00\x01\x65") for i in range(n)]
    return writer.cluster(tc, blocks)


def run(data: bytes) -> list:
    ing = PutMediaIngest()
    return ing.feed(data) + ing.close()


def failure(events: list) -> IngestFailed:
    fails = [e for e in events if isinstance(e, IngestFailed)]
    assert len(fails) == 1, events
    return fails[0]


def test_good_stream() -> None:
    events = run(HEADER + frag(1000) + frag(2000))
    assert [type(e) for e in events] == [FragmentStarted, FragmentComplete, FragmentStarted, FragmentComplete]
    assert events[1].frame_count == 3
    assert events[1].starts_with_key_frame


def test_timecode_going_back_is_4004() -> None:
    f = failure(run(HEADER + frag(2000) + frag(1000)))
    assert f.error_id == 4004
    assert f.timecode == 1000


def test_garbage_is_4006() -> None:
    assert failure(run(b"GET / HTTP/1.1\r\n\r\n")).error_id == 4006
    assert failure(run(b"\x00" * 100)).error_id == 4006


def test_cluster_before_tracks_is_4006() -> None:
    assert failure(run(writer.ebml_header() + writer.segment_start() + frag(0))).error_id == 4006


def test_truncated_body_is_4006() -> None:
    data = HEADER + frag(0, n=10)
    assert failure(run(data[:-7])).error_id == 4006


def test_unknown_track_is_4010() -> None:
    assert failure(run(HEADER + frag(0, track=2))).error_id == 4010


def test_longer_than_ten_seconds_is_4002() -> None:
    assert failure(run(HEADER + frag(0, n=3, step=5100))).error_id == 4002


def test_track_without_frames_is_4011() -> None:
    two = writer.ebml_header() + writer.segment_start() + writer.info() + writer.tracks(
        writer.video_track(codec_private=CPD, width=320, height=240),
        writer.video_track(number=2, uid=2, codec_private=CPD, width=320, height=240))
    assert failure(run(two + frag(0))).error_id == 4011


def test_more_than_three_tracks_is_4012() -> None:
    entries = [writer.video_track(number=i, uid=i, codec_private=CPD, width=8, height=8) for i in range(1, 5)]
    data = writer.ebml_header() + writer.segment_start() + writer.info() + writer.tracks(*entries)
    assert failure(run(data)).error_id == 4012


def test_too_many_metadata_tags_is_4009() -> None:
    tags = writer.tags([(f"tag{i}", "v") for i in range(11)])
    assert failure(run(HEADER + tags + frag(0))).error_id == 4009


def test_metadata_before_a_cluster_belongs_to_it() -> None:
    events = run(HEADER + writer.tags([("camera", "front")]) + frag(0) + frag(1000))
    done = [e for e in events if isinstance(e, FragmentComplete)]
    assert done[0].metadata == (("camera", "front"),)
    assert done[1].metadata == ()


def test_oversized_fragment_is_4001(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "MAX_FRAGMENT_BYTES", 1000)
    big = writer.cluster(0, [writer.simple_block(1, 0, True, b"\x00" * 2000)])
    assert failure(run(HEADER + big)).error_id == 4001


def test_end_of_fragment_tag_closes_unknown_size_cluster() -> None:
    body = HEADER + writer.cluster_start_unknown(0) + writer.simple_block(1, 0, True, b"\x01\x02")
    ing = PutMediaIngest()
    events = ing.feed(body)
    assert [type(e) for e in events] == [FragmentStarted]
    events = ing.feed(writer.tags([("AWS_KINESISVIDEO_END_OF_FRAGMENT", "")]))
    assert [type(e) for e in events] == [FragmentComplete]
    assert ing.close() == []


def test_nothing_after_a_failure() -> None:
    ing = PutMediaIngest()
    assert failure(ing.feed(HEADER + frag(0, track=9))).error_id == 4010
    assert ing.feed(frag(1000)) == []
    assert ing.close() == []
