"""Retention and the disk cap: what is past its stream's DataRetentionInHours, or over the cap
(oldest first), is deleted from the listing and from the disk; what stays still decodes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from app.localkvs.embedded import EmbeddedEndpoint
from tests.conftest import client, make_endpoint
from tests.localkvs.helpers import put_media
from tests.mediagen import decode_indices, make_mkv

HOUR_MS = 3600 * 1000


def listed(url: str, stream: str) -> list[dict]:
    frags = client("kinesis-video-archived-media", url).list_fragments(StreamName=stream)["Fragments"]
    return sorted(frags, key=lambda f: int(f["FragmentNumber"]))


def stored_indices(url: str, stream: str) -> list[int]:
    numbers = [f["FragmentNumber"] for f in listed(url, stream)]
    archived = client("kinesis-video-archived-media", url)
    media = archived.get_media_for_fragment_list(StreamName=stream, Fragments=numbers)
    return decode_indices(media["Payload"].read())


def files(data_dir: Path) -> int:
    return sum(1 for p in (data_dir / "fragments").rglob("*") if p.is_file())


def age(data_dir: Path, stream: str, ms: int) -> None:
    """Make a stream's fragments look ``ms`` older, as if they had arrived that long ago."""
    with sqlite3.connect(data_dir / "kvs.sqlite3") as db:
        db.execute("UPDATE fragments SET server_ms = server_ms - ? WHERE stream = ?", (ms, stream))


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_fragments_past_retention_are_swept(data_dir: Path) -> None:
    ep = make_endpoint(data_dir, sweep_seconds=0.2)
    try:
        kv = client("kinesisvideo", ep.url)
        kv.create_stream(StreamName="short", DataRetentionInHours=1)
        kv.create_stream(StreamName="long", DataRetentionInHours=2)
        for name in ("short", "long"):
            assert len(put_media(ep.url, name, make_mkv(30)).events("PERSISTED")) == 2
        assert files(data_dir) == 4
        # 61 minutes later: past one hour's retention, within two hours'.
        for name in ("short", "long"):
            age(data_dir, name, HOUR_MS + 60_000)
        wait_for(lambda: listed(ep.url, "short") == [])
        assert files(data_dir) == 2
        assert stored_indices(ep.url, "long") == list(range(30))
        assert ep.endpoint.store.stored_bytes == sum(f["FragmentSizeInBytes"] for f in listed(ep.url, "long"))
    finally:
        ep.stop()


def test_expired_fragments_go_at_start(data_dir: Path) -> None:
    ep = make_endpoint(data_dir)
    client("kinesisvideo", ep.url).create_stream(StreamName="s", DataRetentionInHours=1)
    assert len(put_media(ep.url, "s", make_mkv(45)).events("PERSISTED")) == 3
    ep.stop()
    age(data_dir, "s", 2 * HOUR_MS)
    ep = make_endpoint(data_dir)  # sweep_seconds is a minute: only the start-up sweep can have run
    try:
        assert listed(ep.url, "s") == []
        assert files(data_dir) == 0
    finally:
        ep.stop()


def test_zero_retention_keeps_nothing(endpoint, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    client("kinesisvideo", endpoint.url).create_stream(StreamName="live", DataRetentionInHours=0)
    result = put_media(endpoint.url, "live", make_mkv(30))
    assert [a.ack["EventType"] for a in result.acks] == ["BUFFERING", "RECEIVED", "BUFFERING", "RECEIVED"]
    assert listed(endpoint.url, "live") == []
    assert files(data_dir) == 0
    assert endpoint.endpoint.store.stored_bytes == 0


def test_disk_cap_drops_the_oldest_fragments_first(data_dir: Path) -> None:
    ep = make_endpoint(data_dir)
    client("kinesisvideo", ep.url).create_stream(StreamName="old", DataRetentionInHours=24)
    client("kinesisvideo", ep.url).create_stream(StreamName="new", DataRetentionInHours=24)
    assert len(put_media(ep.url, "old", make_mkv(45)).events("PERSISTED")) == 3
    sizes = [f["FragmentSizeInBytes"] for f in listed(ep.url, "old")]
    ep.stop()

    cap = sizes[1] + sizes[2] + sizes[0] // 2  # the newest two fit, all three do not
    ep = make_endpoint(data_dir, max_disk_mb=cap / 1024 / 1024)
    try:
        # Applied at start: the oldest fragment went, the rest still decodes.
        assert [f["FragmentSizeInBytes"] for f in listed(ep.url, "old")] == sizes[1:]
        assert stored_indices(ep.url, "old") == list(range(15, 45))
        assert files(data_dir) == 2
        # Applied as fragments arrive, across streams, by arrival: the oldest kept ones go first.
        assert len(put_media(ep.url, "new", make_mkv(15)).events("PERSISTED")) == 1
        new_size = listed(ep.url, "new")[0]["FragmentSizeInBytes"]
        kept = [("old", sizes[1]), ("old", sizes[2]), ("new", new_size)]
        while sum(s for _, s in kept) > cap:
            kept.pop(0)
        assert len(kept) < 3  # the cap made room
        assert [f["FragmentSizeInBytes"] for f in listed(ep.url, "old")] == [s for n, s in kept if n == "old"]
        assert stored_indices(ep.url, "new") == list(range(15))
        assert files(data_dir) == len(kept)
        assert ep.endpoint.store.stored_bytes == sum(s for _, s in kept) <= cap
    finally:
        ep.stop()


def test_embedded_endpoint_has_a_cap_and_says_where_its_data_is(tmp_path: Path) -> None:
    emb = EmbeddedEndpoint(tmp_path / "e", max_disk_mb=5).start()
    try:
        assert emb.endpoint.store.max_bytes == 5 * 1024 * 1024
        assert emb.endpoint.store.data_dir == tmp_path / "e"
        assert str(tmp_path / "e") in emb.storage_note
        assert "5 MB" in emb.storage_note
    finally:
        emb.stop()
    assert EmbeddedEndpoint(tmp_path / "f").max_disk_mb == 1024  # the default
