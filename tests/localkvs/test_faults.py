"""Each fault switch, seen by an independent client over real sockets."""

from __future__ import annotations

import json
import time
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from app.localkvs.faults import FaultPlan
from tests.conftest import REGION, client, signing_credentials
from tests.localkvs.helpers import acks_by_timecode, put_media
from tests.mediagen import decode_indices, make_mkv

CLIP = make_mkv(60)  # 4 fragments of 15 frames at timecodes 0, 1000, 2000, 3000


def setup_stream(endpoint, plan: FaultPlan | None = None, name: str = "f") -> None:  # type: ignore[no-untyped-def]
    client("kinesisvideo", endpoint.url).create_stream(StreamName=name, DataRetentionInHours=1)
    if plan is not None:
        endpoint.endpoint.set_faults(name, plan)


def stored_indices(endpoint, name: str = "f") -> list[int]:  # type: ignore[no-untyped-def]
    archived = client("kinesis-video-archived-media", endpoint.url)
    frags = archived.list_fragments(StreamName=name)["Fragments"]
    if not frags:
        return []
    media = archived.get_media_for_fragment_list(StreamName=name, Fragments=[f["FragmentNumber"] for f in frags])
    return decode_indices(media["Payload"].read())


def test_drop_after_received(endpoint) -> None:  # type: ignore[no-untyped-def]
    setup_stream(endpoint, FaultPlan(drop_after_received=[2]))
    result = put_media(endpoint.url, "f", CLIP, wait_for_persisted=4, read_timeout=5)
    assert result.closed_by_server
    by_tc = acks_by_timecode(result)
    assert by_tc[0] == ["BUFFERING", "RECEIVED", "PERSISTED"]
    assert by_tc[1000] == ["BUFFERING", "RECEIVED"]
    assert 2000 not in by_tc
    assert stored_indices(endpoint) == list(range(15))
    again = put_media(endpoint.url, "f", CLIP)  # one-shot: the next connection is served in full
    assert len(again.events("PERSISTED")) == 4


def test_drop_mid_fragment(endpoint) -> None:  # type: ignore[no-untyped-def]
    setup_stream(endpoint, FaultPlan(drop_mid_fragment=[3]))
    result = put_media(endpoint.url, "f", CLIP, chunk=2048, pause=0.002, read_timeout=5)
    assert result.closed_by_server
    by_tc = acks_by_timecode(result)
    assert by_tc[2000] == ["BUFFERING"]
    assert stored_indices(endpoint) == list(range(30))


def test_error_5000(endpoint) -> None:  # type: ignore[no-untyped-def]
    setup_stream(endpoint, FaultPlan(error_5000=[2]))
    result = put_media(endpoint.url, "f", CLIP, read_timeout=5)
    (err,) = result.events("ERROR")
    assert err["ErrorId"] == 5000
    assert err["ErrorCode"] == "INTERNAL_ERROR"
    assert err["FragmentTimecode"] == 1000
    assert acks_by_timecode(result)[1000] == ["BUFFERING", "ERROR"]
    assert stored_indices(endpoint) == list(range(15))


def test_refuse_connections(endpoint) -> None:  # type: ignore[no-untyped-def]
    setup_stream(endpoint, FaultPlan(refuse_connections=2))
    for _ in range(2):
        refused = put_media(endpoint.url, "f", CLIP, expect_continue=True)
        assert refused.status == 400
        assert refused.headers["x-amzn-errortype"].startswith("ConnectionLimitExceededException")
    assert len(put_media(endpoint.url, "f", CLIP).events("PERSISTED")) == 4


def test_ack_delay_keeps_order(endpoint) -> None:  # type: ignore[no-untyped-def]
    setup_stream(endpoint, FaultPlan(ack_delay=0.4))
    began = time.monotonic()
    result = put_media(endpoint.url, "f", make_mkv(30), wait_for_persisted=2)
    assert result.acks[0].at - began >= 0.4
    assert [a.ack["EventType"] for a in result.acks] == ["BUFFERING", "RECEIVED", "PERSISTED"] * 2 or \
        [a.ack["EventType"] for a in result.acks].count("PERSISTED") == 2


def test_stall(endpoint) -> None:  # type: ignore[no-untyped-def]
    setup_stream(endpoint, FaultPlan(stall_after=[2]))
    result = put_media(endpoint.url, "f", CLIP, read_timeout=1.0, wait_for_persisted=1)
    by_tc = acks_by_timecode(result)
    assert by_tc[0] == ["BUFFERING", "RECEIVED", "PERSISTED"]
    assert set(by_tc) == {0}
    assert stored_indices(endpoint) == list(range(15))


def test_split_acks_arrive_in_pieces(endpoint) -> None:  # type: ignore[no-untyped-def]
    setup_stream(endpoint, FaultPlan(split_acks=7))
    result = put_media(endpoint.url, "f", make_mkv(30))
    assert [a.ack["EventType"] for a in result.acks].count("PERSISTED") == 2
    assert result.chunks_received > 6 * len(result.acks)


def test_faults_set_over_http(endpoint) -> None:  # type: ignore[no-untyped-def]
    setup_stream(endpoint)
    body = json.dumps({"StreamName": "f", "Faults": {"error_5000": [1]}}).encode()
    req = AWSRequest(method="POST", url=f"{endpoint.url}/_local/setFaults", data=body,
                     headers={"Content-Type": "application/json"})
    SigV4Auth(signing_credentials(), "kinesisvideo", REGION).add_auth(req)
    prepared = req.prepare()
    with urllib.request.urlopen(urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers),
                                                       method="POST"), timeout=10) as resp:
        assert resp.status == 200
    result = put_media(endpoint.url, "f", CLIP, read_timeout=5)
    assert result.events("ERROR")[0]["ErrorId"] == 5000
