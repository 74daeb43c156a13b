"""A new stream is CREATING for a while, as on the service: described as such, refused for media."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from app.localkvs.auth import KeyPair
from app.localkvs.embedded import DEMO_STREAM, EmbeddedEndpoint
from tests.conftest import client, make_endpoint
from tests.localkvs.helpers import put_media
from tests.mediagen import make_mkv

CREATING_SECONDS = 3.0


def wait_until_active(kv, name: str, timeout: float = 15.0) -> float:  # type: ignore[no-untyped-def]
    """Poll DescribeStream as a producer should; return when it said ACTIVE (monotonic time)."""
    deadline = time.monotonic() + timeout
    while True:
        if kv.describe_stream(StreamName=name)["StreamInfo"]["Status"] == "ACTIVE":
            return time.monotonic()
        assert time.monotonic() < deadline, f"{name} is still not ACTIVE"
        time.sleep(0.1)


def test_creating_is_described_and_refused_until_active(data_dir: Path) -> None:
    ep = make_endpoint(data_dir, creating_seconds=CREATING_SECONDS)
    try:
        kv = client("kinesisvideo", ep.url)
        created = time.monotonic()
        kv.create_stream(StreamName="new", DataRetentionInHours=1)
        assert kv.describe_stream(StreamName="new")["StreamInfo"]["Status"] == "CREATING"
        assert [(s["StreamName"], s["Status"]) for s in kv.list_streams()["StreamInfoList"]] == [("new", "CREATING")]
        with pytest.raises(ClientError) as exc:
            kv.get_data_endpoint(StreamName="new", APIName="PUT_MEDIA")
        assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert "not found or not active" in exc.value.response["Error"]["Message"]
        refused = put_media(ep.url, "new", make_mkv(15), expect_continue=True)
        assert refused.status == 404
        assert not refused.got_continue  # refused before any media was taken
        assert refused.sent_bytes == 0
        assert refused.headers["x-amzn-errortype"].startswith("ResourceNotFoundException")
        assert ep.endpoint.calls[("/putMedia", 404)] == 1

        active_at = wait_until_active(kv, "new")
        assert active_at - created >= CREATING_SECONDS - 0.5  # it really was CREATING that long
        assert kv.get_data_endpoint(StreamName="new", APIName="PUT_MEDIA")["DataEndpoint"] == ep.url
        assert len(put_media(ep.url, "new", make_mkv(30)).events("PERSISTED")) == 2
        assert kv.list_streams()["StreamInfoList"][0]["Status"] == "ACTIVE"
    finally:
        ep.stop()


def test_creating_survives_a_restart(data_dir: Path) -> None:
    ep = make_endpoint(data_dir, creating_seconds=60)
    client("kinesisvideo", ep.url).create_stream(StreamName="slow")
    ep.stop()
    ep = make_endpoint(data_dir)  # the state is the stream's, stored with it, not the new config's
    try:
        assert client("kinesisvideo", ep.url).describe_stream(StreamName="slow")["StreamInfo"]["Status"] == "CREATING"
    finally:
        ep.stop()


def test_embedded_demo_stream_is_active_at_once_but_new_streams_are_creating(tmp_path: Path) -> None:
    emb = EmbeddedEndpoint(tmp_path / "e").start()
    try:
        kv = client("kinesisvideo", emb.url, keys=KeyPair(emb.keys.access_key, emb.keys.secret_key))
        assert kv.describe_stream(StreamName=DEMO_STREAM)["StreamInfo"]["Status"] == "ACTIVE"
        assert kv.get_data_endpoint(StreamName=DEMO_STREAM, APIName="PUT_MEDIA")["DataEndpoint"] == emb.url
        kv.create_stream(StreamName="later")
        assert kv.describe_stream(StreamName="later")["StreamInfo"]["Status"] == "CREATING"
        wait_until_active(kv, "later")
    finally:
        emb.stop()
