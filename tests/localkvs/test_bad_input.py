"""Bad input over real sockets never takes the endpoint down, and gets the service's answer."""

from __future__ import annotations

import json
import re
import socket
import time

from app.localkvs.putmedia import SessionLimits
from tests.conftest import REGION, client, make_endpoint, signing_credentials
from tests.localkvs.helpers import put_media
from tests.mediagen import chunks, make_mkv
from tests.putmedia_client import PutMediaClient, sign_put_media

HTTP_400 = re.compile(rb"^HTTP/1\.[01] 400 Bad Request\r\n")


def raw_request(url: str, data: bytes, read_until_close: bool = True) -> bytes:
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        out = b""
        while True:
            try:
                piece = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not piece:
                break
            out += piece
            if not read_until_close and b"\r\n\r\n" in out:
                break
    return out


def stream_with_data(endpoint, name: str = "s") -> None:  # type: ignore[no-untyped-def]
    client("kinesisvideo", endpoint.url).create_stream(StreamName=name, DataRetentionInHours=1)
    assert len(put_media(endpoint.url, name, make_mkv(30)).events("PERSISTED")) == 2


def stored(endpoint, name: str = "s") -> int:  # type: ignore[no-untyped-def]
    archived = client("kinesis-video-archived-media", endpoint.url)
    return len(archived.list_fragments(StreamName=name)["Fragments"])


def test_tampered_signature_refused_before_any_media(endpoint) -> None:  # type: ignore[no-untyped-def]
    stream_with_data(endpoint)
    head = sign_put_media(endpoint.url, "s", signing_credentials(), REGION, relative=True, start_timestamp=time.time())
    head = [(k, v[:-4] + "0000" if k == "Authorization" else v) for k, v in head]
    result = PutMediaClient(endpoint.url).put(head, chunks(make_mkv(30), 4096), expect_continue=True)
    assert result.status == 403
    assert not result.got_continue
    assert result.sent_bytes == 0
    assert result.headers["x-amzn-errortype"].startswith("InvalidSignatureException")
    assert "signature" in json.loads(result.error_body)["message"]
    assert stored(endpoint) == 2


def test_headers_changed_after_signing_are_refused(endpoint) -> None:  # type: ignore[no-untyped-def]
    stream_with_data(endpoint)
    head = sign_put_media(endpoint.url, "s", signing_credentials(), REGION, relative=True, start_timestamp=time.time())
    head = [(k, "ABSOLUTE" if k == "x-amzn-fragment-timecode-type" else v) for k, v in head]
    result = PutMediaClient(endpoint.url).put(head, chunks(make_mkv(15), 4096))
    assert result.status == 403
    assert stored(endpoint) == 2


def test_unknown_stream_and_bad_headers(endpoint) -> None:  # type: ignore[no-untyped-def]
    missing = put_media(endpoint.url, "nope", make_mkv(15))
    assert missing.status == 404
    assert missing.headers["x-amzn-errortype"].startswith("ResourceNotFoundException")
    client("kinesisvideo", endpoint.url).create_stream(StreamName="s", DataRetentionInHours=1)
    bad = put_media(endpoint.url, "s", make_mkv(15), extra_headers={"x-amzn-fragment-timecode-type": "SOMETIMES"})
    assert bad.status == 400
    assert bad.headers["x-amzn-errortype"].startswith("InvalidArgumentException")
    no_start = put_media(endpoint.url, "s", make_mkv(15), relative=True, start=None,
                         extra_headers={"x-amzn-producer-start-timestamp": "yesterday"})
    assert no_start.status == 400


def test_garbage_body_gets_error_4006_and_connection_closes(endpoint) -> None:  # type: ignore[no-untyped-def]
    stream_with_data(endpoint)
    result = put_media(endpoint.url, "s", b"this is not matroska at all" * 100)
    assert result.status == 200
    (err,) = result.events("ERROR")
    assert err["ErrorId"] == 4006
    assert err["ErrorCode"] == "INVALID_MKV_DATA"
    assert result.acks[-1].ack["EventType"] == "ERROR"  # nothing follows an error ack
    assert stored(endpoint) == 2


def test_wrong_method_unknown_operation_oversized_header(endpoint) -> None:  # type: ignore[no-untyped-def]
    stream_with_data(endpoint)
    host = endpoint.url.split("//")[1]
    got = raw_request(endpoint.url, f"GET /putMedia HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert got.startswith(b"HTTP/1.1 405")
    got = raw_request(endpoint.url, f"POST /nothing HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n"
                      "Connection: close\r\n\r\n".encode())
    assert got.startswith(b"HTTP/1.1 404")
    assert b"UnknownOperationException" in got
    huge = "x" * 70_000
    got = raw_request(endpoint.url, f"POST /putMedia HTTP/1.1\r\nHost: {host}\r\nX-Big: {huge}\r\n\r\n".encode())
    assert HTTP_400.match(got), got[:200]
    assert b"\r\n\r\nGot more than 8190 bytes when reading" in got  # aiohttp's limit on a header line
    got = raw_request(endpoint.url, f"POST /{huge} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert HTTP_400.match(got), got[:200]
    got = raw_request(endpoint.url, b"\x16\x03\x01 not http at all\r\n\r\n")
    assert HTTP_400.match(got), got[:200]
    assert got.endswith(b"Received HTTPS traffic on an HTTP port")
    # Still serving, nothing lost.
    assert len(put_media(endpoint.url, "s", make_mkv(15)).events("PERSISTED")) == 1
    assert stored(endpoint) == 3


def test_broken_chunked_framing_and_vanishing_clients(data_dir) -> None:  # type: ignore[no-untyped-def]
    endpoint = make_endpoint(data_dir, limits=SessionLimits(idle_timeout=1.0))
    try:
        broken_framing_and_vanishing_client(endpoint)
    finally:
        endpoint.stop()


def broken_framing_and_vanishing_client(endpoint) -> None:  # type: ignore[no-untyped-def]
    stream_with_data(endpoint)
    head = sign_put_media(endpoint.url, "s", signing_credentials(), REGION, relative=True, start_timestamp=time.time())
    head_bytes = ("POST /putMedia HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head)
                  + "Transfer-Encoding: chunked\r\n\r\n").encode()
    body = make_mkv(30)
    host, port = endpoint.url.split("//")[1].split(":")
    # 1. chunk framing that is not hex, after the 200: no ack, and the connection ends (aiohttp does
    # not tell the handler about a framing error, so it ends when no body data came for the idle timeout)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head_bytes)
        got = b""
        while b"\r\n\r\n" not in got:
            got += sock.recv(4096)
        assert got.startswith(b"HTTP/1.1 200 OK\r\n")
        sock.sendall(b"zz\r\nhello\r\n")
        rest = b""
        while piece := sock.recv(4096):
            rest += piece
        assert got.endswith(b"\r\n\r\n")  # the head, and nothing after it
        assert rest == b""
    # 2. a client that vanishes in the middle of a fragment
    sock = socket.create_connection((host, int(port)), timeout=10)
    part = body[: len(body) * 3 // 4]
    sock.sendall(head_bytes + b"%x\r\n%s\r\n" % (len(part), part))
    sock.recv(4096)
    sock.close()
    # Others are still served; only complete fragments were ever stored.
    assert len(put_media(endpoint.url, "s", make_mkv(15)).events("PERSISTED")) == 1
    n = stored(endpoint)
    assert n == 4  # 2 before + the vanished client's complete first fragment + 1 after
    archived = client("kinesis-video-archived-media", endpoint.url)
    frags = archived.list_fragments(StreamName="s")["Fragments"]
    media = archived.get_media_for_fragment_list(StreamName="s", Fragments=[f["FragmentNumber"] for f in frags])
    from tests.mediagen import count_frames

    assert count_frames(media["Payload"].read()) == 15 * n


def test_putmedia_with_skewed_clock_is_refused(endpoint, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    import botocore.auth

    stream_with_data(endpoint)
    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    result = put_media(endpoint.url, "s", make_mkv(15), expect_continue=True)
    assert result.status == 403
    assert "Signature not yet current" in json.loads(result.error_body)["message"]
