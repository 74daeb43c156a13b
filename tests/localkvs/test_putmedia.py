"""PutMedia over real sockets with an independent client; bytes checked by PyAV and ffprobe."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time

import pytest

from app.mkv import ebml, writer
from app.mkv.parser import BlockEvent, ClusterTimecode, MkvStreamParser
from tests.conftest import client, make_endpoint
from tests.localkvs.helpers import acks_by_timecode, put_media
from tests.mediagen import count_frames, decode_indices, make_mkv

FIXTURE_TIMECODES = [0, 1999, 3999, 5998, 7998, 9998, 11997, 13997]
FIXTURE_FRAMES = 444


def fetch_all(url: str, stream: str) -> tuple[list[dict], bytes]:
    archived = client("kinesis-video-archived-media", url)
    frags = archived.list_fragments(StreamName=stream)["Fragments"]
    frags.sort(key=lambda f: f["ProducerTimestamp"])
    media = archived.get_media_for_fragment_list(
        StreamName=stream, Fragments=[f["FragmentNumber"] for f in frags])
    assert media["ContentType"] == "video/webm"
    return frags, media["Payload"].read()


def test_java_sdk_recording_acked_while_uploading_and_survives_restart(data_dir, java_fixture) -> None:  # type: ignore[no-untyped-def]
    ep = make_endpoint(data_dir)
    kv = client("kinesisvideo", ep.url)
    kv.create_stream(StreamName="java", DataRetentionInHours=2)
    url = kv.get_data_endpoint(StreamName="java", APIName="PUT_MEDIA")["DataEndpoint"]
    start = 1_700_000_000.123
    # ~1.2 MB in 16 kB chunks, 10 ms apart: the upload lasts about 0.75 s.
    result = put_media(url, "java", java_fixture, start=start, pause=0.01, expect_continue=True)
    assert result.status == 200
    assert result.got_continue
    by_tc = acks_by_timecode(result)
    assert sorted(by_tc) == FIXTURE_TIMECODES
    for tc in FIXTURE_TIMECODES:
        assert by_tc[tc] == ["BUFFERING", "RECEIVED", "PERSISTED"], tc
    numbers = [a["FragmentNumber"] for a in result.events("PERSISTED")]
    assert all(n.isdigit() for n in numbers)
    assert [int(n) for n in numbers] == sorted(int(n) for n in numbers)
    # Acks came back while the body was still being sent (full duplex).
    early = [r for r in result.acks if r.at < (result.upload_finished_at or 0)]
    assert len(early) >= 6
    ep.stop()

    ep = make_endpoint(data_dir)  # restart on the same data dir
    try:
        frags, media = fetch_all(ep.url, "java")
        assert [f["FragmentNumber"] for f in frags] == numbers
        expected = [dt.datetime.fromtimestamp(round(start * 1000 + tc) / 1000, dt.UTC) for tc in FIXTURE_TIMECODES]
        assert [f["ProducerTimestamp"] for f in frags] == expected
        assert count_frames(media) == FIXTURE_FRAMES
        proc = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                               "-show_entries", "stream=nb_read_frames", "-of", "json", "-"],
                              input=media, capture_output=True, check=True)
        assert int(json.loads(proc.stdout)["streams"][0]["nb_read_frames"]) == FIXTURE_FRAMES
        later = put_media(ep.url, "java", make_mkv(15), start=start + 100)
        (after_restart,) = [int(a["FragmentNumber"]) for a in later.events("PERSISTED")]
        assert after_restart > max(int(n) for n in numbers)  # numbers keep increasing across restarts
    finally:
        ep.stop()


def test_generated_clip_every_frame_back_in_order(endpoint) -> None:  # type: ignore[no-untyped-def]
    kv = client("kinesisvideo", endpoint.url)
    kv.create_stream(StreamName="gen", DataRetentionInHours=1)
    body = make_mkv(90, fps=15, gop=15)  # 6 fragments of 1 s, indices 0..89 in the pixels
    result = put_media(endpoint.url, "gen", body, chunk=4096)
    assert len(result.events("PERSISTED")) == 6
    _, media = fetch_all(endpoint.url, "gen")
    assert decode_indices(media) == list(range(90))


def test_absolute_timecodes_unknown_size_clusters_and_end_of_fragment_tag(endpoint, java_fixture) -> None:  # type: ignore[no-untyped-def]
    """The C producer's shape: unknown-size clusters with absolute timecodes, ended by an EoFr tag,
    and the body held open until the last PERSISTED."""
    kv = client("kinesisvideo", endpoint.url)
    kv.create_stream(StreamName="cproducer", DataRetentionInHours=1)
    parser = MkvStreamParser()
    events = parser.feed(java_fixture) + parser.close()
    tracks = next(e for e in events if type(e).__name__ == "TracksEvent").raw  # type: ignore[union-attr]
    base = int(time.time() * 1000) - 60_000
    body = writer.ebml_header() + writer.segment_start() + writer.info() + tracks
    timecodes = []
    for ev in events:
        if isinstance(ev, ClusterTimecode):
            timecodes.append(base + ev.timecode)
            body += writer.cluster_start_unknown(base + ev.timecode)
        elif isinstance(ev, BlockEvent):
            body += ev.raw
    body += writer.tags([("AWS_KINESISVIDEO_END_OF_FRAGMENT", "")])
    result = put_media(endpoint.url, "cproducer", body, relative=False, wait_for_persisted=len(timecodes))
    by_tc = acks_by_timecode(result)
    assert sorted(by_tc) == timecodes
    assert all(v == ["BUFFERING", "RECEIVED", "PERSISTED"] for v in by_tc.values())
    frags, media = fetch_all(endpoint.url, "cproducer")
    assert [round(f["ProducerTimestamp"].timestamp() * 1000) for f in frags] == timecodes
    assert count_frames(media) == FIXTURE_FRAMES


def test_get_clip_is_an_mp4_with_every_frame(endpoint) -> None:  # type: ignore[no-untyped-def]
    kv = client("kinesisvideo", endpoint.url)
    kv.create_stream(StreamName="clip", DataRetentionInHours=1)
    start = time.time() - 30
    put_media(endpoint.url, "clip", make_mkv(45), start=start)
    archived = client("kinesis-video-archived-media", endpoint.url)
    clip = archived.get_clip(StreamName="clip", ClipFragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": start - 1, "EndTimestamp": start + 10}})
    assert clip["ContentType"] == "video/mp4"
    data = clip["Payload"].read()
    assert data[4:8] == b"ftyp"
    assert decode_indices(data, "mp4") == list(range(45))


def test_list_fragments_timestamp_selector(endpoint) -> None:  # type: ignore[no-untyped-def]
    kv = client("kinesisvideo", endpoint.url)
    kv.create_stream(StreamName="sel", DataRetentionInHours=1)
    start = 1_700_000_000.0
    put_media(endpoint.url, "sel", make_mkv(60), start=start)  # fragments at +0, +1, +2, +3 s
    archived = client("kinesis-video-archived-media", endpoint.url)
    frags = archived.list_fragments(StreamName="sel", FragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": start + 0.5, "EndTimestamp": start + 2.0}})["Fragments"]
    assert sorted(f["ProducerTimestamp"].timestamp() for f in frags) == [start + 1, start + 2]
    page = archived.list_fragments(StreamName="sel", MaxResults=3)
    assert len(page["Fragments"]) == 3
    assert "NextToken" in page
    rest = archived.list_fragments(StreamName="sel", MaxResults=3, NextToken=page["NextToken"])
    assert len(rest["Fragments"]) == 1


def test_zero_retention_acks_received_but_not_persisted(endpoint) -> None:  # type: ignore[no-untyped-def]
    client("kinesisvideo", endpoint.url).create_stream(StreamName="live", DataRetentionInHours=0)
    result = put_media(endpoint.url, "live", make_mkv(30))
    assert len(result.events("RECEIVED")) == 2
    assert result.events("PERSISTED") == []


def test_stream_arn_header(endpoint) -> None:  # type: ignore[no-untyped-def]
    arn = client("kinesisvideo", endpoint.url).create_stream(StreamName="byarn", DataRetentionInHours=1)["StreamARN"]
    from tests.conftest import REGION, signing_credentials
    from tests.mediagen import chunks
    from tests.putmedia_client import PutMediaClient, sign_put_media

    head = sign_put_media(endpoint.url, "ignored", signing_credentials(), REGION, relative=True,
                          start_timestamp=time.time())
    head = [(k, v) for k, v in head if k.lower() not in ("x-amzn-stream-name", "authorization", "x-amz-date")]
    # re-sign with the ARN header instead of the name
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    req = AWSRequest(method="POST", url=f"{endpoint.url}/putMedia", data=b"",
                     headers=dict(head) | {"x-amzn-stream-arn": arn})
    SigV4Auth(signing_credentials(), "kinesisvideo", REGION).add_auth(req)
    result = PutMediaClient(endpoint.url).put(list(req.headers.items()), chunks(make_mkv(15), 8192))
    assert len(result.events("PERSISTED")) == 1


def test_known_size_segment_and_concatenated_documents_parse(java_fixture) -> None:
    """Our writer's output of one fragment is read by ffprobe as the same frames (a parser we did not write)."""
    parser = MkvStreamParser()
    events = parser.feed(java_fixture) + parser.close()
    tracks = next(e for e in events if type(e).__name__ == "TracksEvent").raw  # type: ignore[union-attr]
    blocks = [e.raw for e in events if isinstance(e, BlockEvent)]
    doc = writer.ebml_header() + writer.segment_start() + writer.info() + tracks + \
        ebml.element(ebml.CLUSTER, ebml.uint_element(ebml.CLUSTER_TIMECODE, 0) + b"".join(blocks[:59]))
    assert count_frames(doc) == 59


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_parser_is_indifferent_to_read_boundaries(java_fixture, step: int) -> None:
    from app.localkvs.ingest import FragmentComplete, PutMediaIngest

    data = java_fixture[:300_000] if step == 1 else java_fixture
    whole = PutMediaIngest()
    expected = [e for e in whole.feed(data) + whole.close() if isinstance(e, FragmentComplete)]
    ing = PutMediaIngest()
    got = []
    for i in range(0, len(data), step):
        got += ing.feed(data[i : i + step])
    got += ing.close()
    assert [e for e in got if isinstance(e, FragmentComplete)] == expected
    assert expected
