"""Disk work never blocks the endpoint's event loop: while a fragment is being stored, or the retention
sweep runs, on a disk that has stalled, other clients are still answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import client, make_endpoint
from tests.localkvs.helpers import put_media
from tests.mediagen import make_mkv


class StalledDisk:
    """Wraps a Store method: the call blocks (in whatever thread makes it) until released."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        assert self.release.wait(20), "never released"
        return self.real(*args, **kwargs)


def answered_quickly(url: str) -> float:
    started = time.monotonic()
    assert client("kinesisvideo", url).describe_stream(StreamName="s")["StreamInfo"]["Status"] == "ACTIVE"
    return time.monotonic() - started


def test_storing_a_fragment_does_not_block_other_requests(endpoint, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    client("kinesisvideo", endpoint.url).create_stream(StreamName="s", DataRetentionInHours=1)
    stall = StalledDisk(endpoint.endpoint.store.add_fragment)
    monkeypatch.setattr(endpoint.endpoint.store, "add_fragment", stall)
    results: list = []
    uploader = threading.Thread(target=lambda: results.append(put_media(endpoint.url, "s", make_mkv(15))))
    uploader.start()
    try:
        assert stall.entered.wait(10)
        assert answered_quickly(endpoint.url) < 2.0  # the disk is stalled, the server is not
    finally:
        stall.release.set()
        uploader.join(20)
    assert [a.ack["EventType"] for a in results[0].acks] == ["BUFFERING", "RECEIVED", "PERSISTED"]


def test_the_retention_sweep_does_not_block_other_requests(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ep = make_endpoint(data_dir, sweep_seconds=0.05)
    stall = StalledDisk(ep.endpoint.store.sweep)
    monkeypatch.setattr(ep.endpoint.store, "sweep", stall)
    try:
        client("kinesisvideo", ep.url).create_stream(StreamName="s", DataRetentionInHours=1)
        assert stall.entered.wait(10)
        assert answered_quickly(ep.url) < 2.0  # the sweep is stuck on the disk, the server is not
        assert len(put_media(ep.url, "s", make_mkv(15)).events("PERSISTED")) == 1
    finally:
        stall.release.set()
        ep.stop()
