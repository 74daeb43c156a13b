"""Recovery: with each of the local endpoint's faults, and all of them in one run, `kvs-studio stream`
still stores every source frame exactly once, in order, and exits 0."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.localkvs.faults import FaultPlan
from app.localkvs.server import EndpointThread
from tests.conftest import client
from tests.e2e.test_stream_cli import (
    FRAMES,
    assert_every_frame_once_in_order,
    make_mp4,
    run_cli,
    stored_fragments,
)
from tests.mediagen import decode_indices

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mp4(tmp_path_factory.mktemp("media") / "long.mp4", frames=FRAMES)


FAULTS = {
    "drop_after_received": FaultPlan(drop_after_received=[2]),
    "drop_mid_fragment": FaultPlan(drop_mid_fragment=[2]),
    "drop_after_persisted": FaultPlan(drop_after_persisted=[2]),  # stored, but the ack never came
    "error_5000": FaultPlan(error_5000=[2]),
    "refuse_connections": FaultPlan(refuse_connections=2),
    "stall": FaultPlan(stall_after=[2]),
    "response_never_starts": FaultPlan(hold_response=1),  # a proxy that swallows the request
    "putmedia_404": FaultPlan(refuse_connections=1, refuse_status=404),  # a stale data endpoint
    "delayed_split_acks": FaultPlan(ack_delay=0.3, split_acks=3),
    "all_together": FaultPlan(drop_after_received=[1, 6], drop_mid_fragment=[3], error_5000=[5],
                              drop_after_persisted=[9],
                              refuse_connections=1, stall_after=[8], split_acks=11),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_every_frame_once_despite(name: str, long_clip: Path, endpoint: EndpointThread) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="r", DataRetentionInHours=1)
    endpoint.endpoint.set_faults("r", FAULTS[name])
    proc = run_cli("--stream", "r", "--source", str(long_clip), "--endpoint-url", endpoint.url, "--pace", "fast",
                   "--stale-seconds", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if name not in ("delayed_split_acks",):
        assert "reconnecting" in proc.stdout
    if name not in ("delayed_split_acks", "drop_after_persisted"):  # there, what was stored may be all there is
        assert "connection: recovered" in proc.stdout
    if name == "drop_after_persisted":
        assert "was stored before the connection dropped; it is not sent again" in proc.stdout
    if name == "putmedia_404":
        # The client may be writing the body when the 404 and the close come: either way it asks for a new
        # data endpoint and carries on (a stream that still exists is not given up on).
        assert "(asking for a new data endpoint)" in proc.stdout or "the connection dropped" in proc.stdout
    if name == "response_never_starts":
        assert "no acknowledgement for 2 s (stale connection)" in proc.stdout
    assert_every_frame_once_in_order(endpoint, "r")


def test_non_retriable_error_is_named_skipped_and_fails_the_run(long_clip: Path, endpoint: EndpointThread) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="nr", DataRetentionInHours=1)
    endpoint.endpoint.set_faults("nr", FaultPlan(error_4002=[2]))
    proc = run_cli("--stream", "nr", "--source", str(long_clip), "--endpoint-url", endpoint.url, "--pace", "fast",
                   "--fragment-seconds", "1")
    assert proc.returncode == 1
    named = "MAX_FRAGMENT_DURATION_REACHED (4002): A fragment was longer than the 10 s limit. It is skipped."
    assert named in proc.stdout
    assert "1 refused" in proc.stdout
    assert "1 of 5 fragments were not PERSISTED" in proc.stderr
    # every other fragment (1 s = 15 frames each) is stored, once, in order
    assert decode_indices(b"".join(stored_fragments(endpoint, "nr"))) == list(range(15)) + list(range(30, FRAMES))


def test_zero_retention_stream_exits_zero_on_received(long_clip: Path, endpoint: EndpointThread) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="z", DataRetentionInHours=0)
    proc = run_cli("--stream", "z", "--source", str(long_clip), "--endpoint-url", endpoint.url, "--pace", "fast")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 RECEIVED" in proc.stdout
    assert "PERSISTED" not in proc.stdout


def test_refused_fragments_do_not_reset_the_backoff(long_clip: Path, endpoint: EndpointThread) -> None:
    """Each refusal ends the connection (the service closes it); refusals in a row must back off more and
    more, not reconnect at once every time."""
    client("kinesisvideo", endpoint.url).create_stream(StreamName="rb", DataRetentionInHours=1)
    endpoint.endpoint.set_faults("rb", FaultPlan(error_4002=[1, 2, 3]))
    proc = run_cli("--stream", "rb", "--source", str(long_clip), "--endpoint-url", endpoint.url, "--pace", "fast",
                   "--fragment-seconds", "1")
    assert proc.returncode == 1
    assert proc.stdout.count("(4002): A fragment was longer than the 10 s limit. It is skipped.") == 3
    attempts = [int(m) for m in re.findall(r"reconnecting \(attempt (\d+)", proc.stdout)]
    assert attempts[:3] == [1, 2, 3]
    assert "3 refused" in proc.stdout
    assert decode_indices(b"".join(stored_fragments(endpoint, "rb"))) == list(range(45, FRAMES))
