"""Every refusal leaves exactly one line in the endpoint's log, at INFO or WARNING, without secrets:
a user of the endpoint can see why their client fails, and nobody reading the log gets a key."""

from __future__ import annotations

import datetime as dt
import logging
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

import botocore.auth
import pytest
from botocore.exceptions import ClientError

from app.localkvs.auth import KeyPair
from app.localkvs.faults import FaultPlan
from app.localkvs.server import EndpointConfig, EndpointThread, LocalEndpoint
from tests.conftest import REGION, TEST_KEYS, client, signing_credentials
from tests.localkvs.helpers import EndpointProcess, put_media
from tests.mediagen import chunks, make_mkv
from tests.putmedia_client import PutMediaClient, sign_put_media

WRONG_SECRET = "wrong-secret-never-to-be-logged-000000000"
HEX64 = re.compile(r"[0-9a-f]{64}")  # a SigV4 signature (or any hash that could stand for one)


def one_line(caplog: pytest.LogCaptureFixture, action: Callable[[], object]) -> logging.LogRecord:
    """Run ``action``; the endpoint must have logged exactly one line (INFO or WARNING), with no secret."""
    caplog.clear()
    action()  # the endpoint logs before it answers, so the line is there once the client has its answer
    records = [r for r in caplog.records if r.name.startswith("app.localkvs") and r.levelno >= logging.INFO]
    assert len(records) == 1, [r.getMessage() for r in records]
    rec = records[0]
    assert rec.levelno in (logging.INFO, logging.WARNING)
    msg = rec.getMessage()
    assert TEST_KEYS.secret_key not in msg
    assert WRONG_SECRET not in msg
    assert not HEX64.search(msg), msg
    return rec


def refused(exc_type: type[BaseException], call: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with pytest.raises(exc_type):
            call()

    return run


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="app.localkvs")
    return caplog


def test_auth_refusals(endpoint, logged: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    client("kinesisvideo", endpoint.url).create_stream(StreamName="s", DataRetentionInHours=1)
    wrong = client("kinesisvideo", endpoint.url, keys=KeyPair(TEST_KEYS.access_key, WRONG_SECRET))
    rec = one_line(logged, refused(ClientError, wrong.list_streams))
    assert rec.levelno == logging.WARNING
    assert "refused POST /listStreams" in rec.getMessage()
    assert "403 InvalidSignatureException" in rec.getMessage()
    assert f"key {TEST_KEYS.access_key}" in rec.getMessage()  # which key: the id, never the secret

    unknown = client("kinesisvideo", endpoint.url, keys=KeyPair("AKIDUNKNOWN000000000", WRONG_SECRET))
    rec = one_line(logged, refused(ClientError, unknown.list_streams))
    assert "403 UnrecognizedClientException" in rec.getMessage()
    assert "key AKIDUNKNOWN000000000" in rec.getMessage()

    head = sign_put_media(endpoint.url, "s", signing_credentials(), REGION, relative=True, start_timestamp=time.time())
    tampered = [(k, v[:-4] + "0000" if k == "Authorization" else v) for k, v in head]
    for expect in (True, False):  # answered by the Expect handler, or by the route
        rec = one_line(logged, lambda e=expect: PutMediaClient(endpoint.url).put(  # type: ignore[misc]
            tampered, chunks(make_mkv(15), 4096), expect_continue=e))
        assert rec.levelno == logging.WARNING
        assert "refused POST /putMedia (stream s, key" in rec.getMessage()

    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    rec = one_line(logged, refused(ClientError, client("kinesisvideo", endpoint.url).list_streams))
    assert "Signature expired" in rec.getMessage()


def test_session_token_never_logged(data_dir: Path, logged: pytest.LogCaptureFixture) -> None:
    keys = KeyPair(TEST_KEYS.access_key, TEST_KEYS.secret_key, "the-right-session-token-0000")
    ep = EndpointThread(LocalEndpoint(EndpointConfig(data_dir=data_dir, keys=keys, region=REGION,
                                                     creating_seconds=0))).start()
    try:
        import botocore.session

        kv = botocore.session.Session().create_client(
            "kinesisvideo", region_name=REGION, endpoint_url=ep.url, aws_access_key_id=keys.access_key,
            aws_secret_access_key=keys.secret_key, aws_session_token="a-wrong-session-token-1111")
        rec = one_line(logged, refused(ClientError, kv.list_streams))
        assert "UnrecognizedClientException" in rec.getMessage()
        assert "session-token" not in rec.getMessage()
    finally:
        ep.stop()


def test_bad_input_refusals(endpoint, logged: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    kv = client("kinesisvideo", endpoint.url)
    rec = one_line(logged, refused(ClientError, lambda: kv.create_stream(StreamName="bad name!")))
    assert rec.levelno == logging.INFO
    assert "400 InvalidArgumentException: StreamName must be" in rec.getMessage()
    rec = one_line(logged, refused(ClientError, lambda: kv.describe_stream(StreamName="missing")))
    assert "404 ResourceNotFoundException" in rec.getMessage()
    kv.create_stream(StreamName="s", DataRetentionInHours=1)
    rec = one_line(logged, lambda: put_media(endpoint.url, "s", make_mkv(15),
                                             extra_headers={"x-amzn-fragment-timecode-type": "SOMETIMES"}))
    assert "refused POST /putMedia (stream s" in rec.getMessage()
    assert "400 InvalidArgumentException: x-amzn-fragment-timecode-type" in rec.getMessage()

    host, port = endpoint.url.split("//")[1].split(":")

    def oversized_header() -> None:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(f"POST /putMedia HTTP/1.1\r\nHost: {host}\r\nAuthorization: {'a' * 70_000}\r\n\r\n".encode())
            while sock.recv(65536):
                pass

    rec = one_line(logged, oversized_header)
    assert rec.getMessage().startswith("refused a malformed HTTP request from 127.0.0.1: 400 ")
    assert "aaaa" not in rec.getMessage()  # the bytes of the offending header are not copied into the log


def test_every_error_ack_is_one_line(endpoint, logged: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    client("kinesisvideo", endpoint.url).create_stream(StreamName="s", DataRetentionInHours=1)
    rec = one_line(logged, lambda: put_media(endpoint.url, "s", b"this is not matroska at all" * 100))
    assert re.match(r"putMedia s: ERROR 4006 INVALID_MKV_DATA at timecode 0: ", rec.getMessage())
    endpoint.endpoint.set_faults("s", FaultPlan(error_ack={4501: [2]}))
    rec = one_line(logged, lambda: put_media(endpoint.url, "s", make_mkv(45)))
    assert rec.getMessage() == "putMedia s: ERROR 4501 KMS_KEY_DISABLED at timecode 1000: fault switch error_ack"


def test_the_server_shows_info_lines_without_verbose(tmp_path: Path) -> None:
    ep = EndpointProcess(tmp_path / "d")
    try:
        wrong = client("kinesisvideo", ep.url, keys=KeyPair(TEST_KEYS.access_key, WRONG_SECRET))
        with pytest.raises(ClientError):
            wrong.list_streams()
        # The line's prefix (time, level, logger) is the CLI's logging format; the words are ours.
        (line,) = ep.wait_for_log(r"refused POST /listStreams")
        assert "refused POST /listStreams (key AKIDLOCALTESTKEY0001, from 127.0.0.1): 403 InvalidSignatureException: " \
            in line
        client("kinesisvideo", ep.url).create_stream(StreamName="s", DataRetentionInHours=1)
        put_media(ep.url, "s", b"not matroska" * 100)
        (line,) = ep.wait_for_log(r"ERROR 4006")
        assert "putMedia s: ERROR 4006 INVALID_MKV_DATA at timecode 0: " in line
    finally:
        assert ep.terminate() == 0
    assert not any(WRONG_SECRET in line or TEST_KEYS.secret_key in line or HEX64.search(line) for line in ep.log_lines)
