"""Each fault switch, seen by an independent client over real sockets."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from app.localkvs.faults import FaultPlan
from app.localkvs.putmedia import SessionLimits
from tests.conftest import REGION, client, make_endpoint, signing_credentials
from tests.localkvs.helpers import acks_by_timecode, put_media
from tests.mediagen import decode_indices, make_mkv
from tests.putmedia_client import PutMediaClient, sign_put_media

CLIP = make_mkv(60)  # 4 fragments of 15 frames at timecodes 0, 1000, 2000, 3000
CLIP_CHUNKED = b"%x\r\n%s\r\n" % (len(CLIP), CLIP)


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


def test_error_ack_with_any_error_id_counts_across_connections(endpoint) -> None:  # type: ignore[no-untyped-def]
    setup_stream(endpoint, FaultPlan(error_ack={4501: [2, 3]}))
    first = put_media(endpoint.url, "f", CLIP, read_timeout=5)
    (err,) = first.events("ERROR")
    assert (err["ErrorId"], err["ErrorCode"], err["FragmentTimecode"]) == (4501, "KMS_KEY_DISABLED", 1000)
    assert acks_by_timecode(first) == {0: ["BUFFERING", "RECEIVED", "PERSISTED"], 1000: ["BUFFERING", "ERROR"]}
    assert first.acks[-1].ack["EventType"] == "ERROR"  # the response ends with it
    second = put_media(endpoint.url, "f", make_mkv(30), read_timeout=5)  # fragment 3 is its first
    assert acks_by_timecode(second) == {0: ["BUFFERING", "ERROR"]}
    assert second.events("ERROR")[0]["ErrorId"] == 4501
    assert stored_indices(endpoint) == list(range(15))
    third = put_media(endpoint.url, "f", make_mkv(30))  # each listed fragment fires once
    assert len(third.events("PERSISTED")) == 2


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


@pytest.mark.parametrize(("status", "error_type"), [(403, "AccessDeniedException"),
                                                     (404, "ResourceNotFoundException")])
def test_refuse_connections_with_a_stream_wide_status(endpoint, status: int, error_type: str) -> None:  # type: ignore[no-untyped-def]
    setup_stream(endpoint, FaultPlan(refuse_connections=1, refuse_status=status))
    refused = put_media(endpoint.url, "f", CLIP, expect_continue=True)
    assert (refused.status, refused.got_continue, refused.sent_bytes) == (status, False, 0)
    assert refused.headers["x-amzn-errortype"] == f"{error_type}:"
    assert len(put_media(endpoint.url, "f", CLIP).events("PERSISTED")) == 4
    with pytest.raises(ValueError, match="refuse_status"):
        FaultPlan(refuse_status=418)


def test_hold_response_reads_the_body_and_never_answers(data_dir) -> None:  # type: ignore[no-untyped-def]
    ep = make_endpoint(data_dir, limits=SessionLimits(idle_timeout=3.0))
    try:
        setup_stream(ep, FaultPlan(hold_response=1))
        head = sign_put_media(ep.url, "f", signing_credentials(), REGION, relative=True, start_timestamp=time.time())
        host, port = ep.url.split("//")[1].split(":")
        received = b""
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(("POST /putMedia HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head)
                          + "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n").encode())
            # 32 MB is far more than the socket buffers hold: it is all sent only if the server reads it.
            piece = b"%x\r\n%s\r\n" % (1 << 20, b"\0" * (1 << 20))
            for _ in range(32):
                sock.sendall(piece)
            sock.sendall(CLIP_CHUNKED + b"0\r\n\r\n")
            while chunk := sock.recv(65536):  # until the server gives up on us (idle timeout)
                received += chunk
        assert received == b""  # no 100 Continue, no status line, nothing
        assert ep.endpoint.calls[("/putMedia", 0)] == 1
        assert stored_indices(ep) == []  # nothing reached the "service"

        # A client that gives up is let go at once, however long the idle timeout.
        ep.endpoint.set_faults("f", FaultPlan(hold_response=1))
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(("POST /putMedia HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head)
                          + "Transfer-Encoding: chunked\r\n\r\n").encode())
        deadline = time.monotonic() + 2.0  # well under the 3 s idle timeout
        while ep.endpoint.calls[("/putMedia", 0)] < 2:
            assert time.monotonic() < deadline, "the held request outlived its client"
            time.sleep(0.02)
        served = put_media(ep.url, "f", CLIP)  # the switch was one-shot
        assert len(served.events("PERSISTED")) == 4
    finally:
        ep.stop()


def test_ack_delay_keeps_order(endpoint) -> None:  # type: ignore[no-untyped-def]
    setup_stream(endpoint, FaultPlan(ack_delay=0.4))
    began = time.monotonic()
    result = put_media(endpoint.url, "f", make_mkv(30), wait_for_persisted=2)
    assert result.acks[0].at - began >= 0.4
    # Each fragment's acks in order; PERSISTED 0 may come before or after fragment 1's first acks
    # (it waits for the disk), so the order across fragments is not part of the contract.
    assert acks_by_timecode(result) == {tc: ["BUFFERING", "RECEIVED", "PERSISTED"] for tc in (0, 1000)}


def test_full_ack_queue_stops_reading_the_body(data_dir) -> None:  # type: ignore[no-untyped-def]
    """Bounded per-connection queues: while acks cannot be written, the body is not read further."""
    delay = 0.25
    ep = make_endpoint(data_dir, limits=SessionLimits(ack_queue=1, persist_queue=1))
    try:
        setup_stream(ep, FaultPlan(ack_delay=delay))
        result = put_media(ep.url, "f", CLIP, wait_for_persisted=4)  # the whole body fits in socket buffers
        assert acks_by_timecode(result) == {tc: ["BUFFERING", "RECEIVED", "PERSISTED"] for tc in (0, 1000, 2000, 3000)}
        first = result.acks[0].at
        # Unbounded, all twelve acks would be queued at once and written together, `delay` after the start.
        # Bounded to one, each waits for the one before it to be written.
        assert result.acks[-1].at - first >= 3 * delay
        (last_start,) = [a.at for a in result.acks if a.ack["FragmentTimecode"] == 3000
                         and a.ack["EventType"] == "BUFFERING"]
        assert last_start - first >= 2 * delay  # fragment 4's first bytes were read only then
        assert stored_indices(ep) == list(range(60))
    finally:
        ep.stop()


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


def test_switches_parse_from_the_command_line() -> None:
    plan = FaultPlan()
    for text in ("error_ack=4501:1,2,3", "error_ack=4008:5", "error_5000=4", "error-4002=6", "hold_response=2",
                 "refuse_connections=3", "refuse_status=404", "drop_after_received=1,7", "ack_delay=0.5"):
        FaultPlan.parse_switch(text, plan)
    assert plan == FaultPlan(error_ack={4501: [1, 2, 3], 4008: [5], 5000: [4], 4002: [6]}, hold_response=2,
                             refuse_connections=3, refuse_status=404, drop_after_received=[1, 7], ack_delay=0.5)
    assert FaultPlan.from_json({"error_ack": {"4501": [1]}, "error_5000": 2}).error_ack == {4501: [1], 5000: [2]}
    for bad in ("error_ack=4501", "refuse_status=418", "explode=1", "hold_response"):
        with pytest.raises(ValueError):  # noqa: PT011 (each has its own message, checked in test_process)
            FaultPlan.parse_switch(bad)


def test_stream_deleted_during_a_connection_gets_4008(endpoint) -> None:  # type: ignore[no-untyped-def]
    """Not a switch: the real thing. The next fragment is refused with STREAM_NOT_ACTIVE, nothing more stored."""
    arn = client("kinesisvideo", endpoint.url).create_stream(StreamName="f", DataRetentionInHours=1)["StreamARN"]
    archived = client("kinesis-video-archived-media", endpoint.url)
    second_cluster = CLIP.index(b"\x1f\x43\xb6\x75", CLIP.index(b"\x1f\x43\xb6\x75") + 4)

    def body():  # type: ignore[no-untyped-def]
        yield CLIP[: second_cluster + 8]  # fragment 1 complete (fragment 2 has started)
        deadline = time.monotonic() + 10
        while not archived.list_fragments(StreamName="f")["Fragments"]:  # fragment 1 is stored
            assert time.monotonic() < deadline
            time.sleep(0.02)
        client("kinesisvideo", endpoint.url).delete_stream(StreamARN=arn)
        yield CLIP[second_cluster + 8 :]

    head = sign_put_media(endpoint.url, "f", signing_credentials(), REGION, relative=True, start_timestamp=time.time())
    result = PutMediaClient(endpoint.url).put(head, body(), read_timeout=5)
    assert acks_by_timecode(result) == {0: ["BUFFERING", "RECEIVED", "PERSISTED"], 1000: ["BUFFERING", "ERROR"]}
    (err,) = result.events("ERROR")
    assert (err["ErrorId"], err["ErrorCode"]) == (4008, "STREAM_NOT_ACTIVE")
    assert endpoint.endpoint.store.sweep() == 0  # nothing was stored for the deleted stream meanwhile
