"""Soak: minutes of real-time streaming with a fault every few seconds; every frame must land once.

Not in the default run. Run it with:  ./scripts/test.sh -m soak tests/e2e/test_soak.py
(KVS_SOAK_SECONDS sets the length, default 180.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.localkvs.faults import FaultPlan
from app.localkvs.server import EndpointThread
from tests.conftest import client
from tests.e2e.test_stream_cli import assert_every_frame_once_in_order, make_mp4, run_cli

pytestmark = [pytest.mark.soak, pytest.mark.e2e]


def test_soak_with_a_fault_every_few_seconds(tmp_path: Path, endpoint: EndpointThread) -> None:
    seconds = int(os.environ.get("KVS_SOAK_SECONDS", "180"))
    fps = 15
    clip = make_mp4(tmp_path / "soak.mp4", frames=seconds * fps, fps=fps)
    fragments = seconds  # 1 s fragments; ordinals also count resent fragments, so faults keep coming
    kinds = ["drop_after_received", "drop_mid_fragment", "error_5000", "stall_after"]
    plan: dict[str, list[int]] = {k: [] for k in kinds}
    for n, ordinal in enumerate(range(3, fragments * 2, 3)):
        plan[kinds[n % len(kinds)]].append(ordinal)
    client("kinesisvideo", endpoint.url).create_stream(StreamName="soak", DataRetentionInHours=1)
    endpoint.endpoint.set_faults("soak", FaultPlan(refuse_connections=1, split_acks=13, **plan))  # type: ignore[arg-type]
    proc = run_cli("--stream", "soak", "--source", str(clip), "--endpoint-url", endpoint.url,
                   "--fragment-seconds", "1", "--stale-seconds", "3", timeout=seconds * 4 + 120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert proc.stdout.count("reconnecting") >= seconds // 10
    assert_every_frame_once_in_order(endpoint, "soak", frames=seconds * fps)
