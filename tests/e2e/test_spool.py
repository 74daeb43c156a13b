"""Durable spool: fragments captured while the service refuses every connection survive a kill -9
and are uploaded, first and exactly once, by the next run."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.localkvs.faults import FaultPlan
from app.localkvs.server import EndpointThread
from tests.conftest import client
from tests.e2e.test_stream_cli import cli_env, make_mp4, run_cli, stored_fragments
from tests.mediagen import decode_indices

pytestmark = pytest.mark.e2e


def test_spool_survives_a_crash_and_is_sent_first(tmp_path: Path, endpoint: EndpointThread) -> None:
    clip = make_mp4(tmp_path / "clip.mp4", frames=90)  # 6 s at 15 fps
    spool = tmp_path / "spool"
    client("kinesisvideo", endpoint.url).create_stream(StreamName="sp", DataRetentionInHours=1)
    endpoint.endpoint.set_faults("sp", FaultPlan(refuse_connections=10_000))  # offline: nothing gets in
    env = cli_env()
    proc = subprocess.Popen([sys.executable, "-m", "app", "stream", "--stream", "sp", "--source", str(clip),
                             "--endpoint-url", endpoint.url, "--fragment-seconds", "1", "--spool", str(spool)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait on the CLI's own output: the 4th fragment has started
        if "reconnecting" in line and len(list((spool / "sp").glob("*.frag"))) >= 3:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    kept = sorted((spool / "sp").glob("*.frag"))
    assert len(kept) >= 3
    assert not list((spool / "sp").glob("*.tmp"))

    endpoint.endpoint.set_faults("sp", FaultPlan())
    second = run_cli("--stream", "sp", "--source", str(clip), "--endpoint-url", endpoint.url, "--fragment-seconds",
                     "1", "--spool", str(spool))
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{len(kept)} fragments kept from an earlier run" in second.stdout
    assert not list((spool / "sp").glob("*.frag"))  # all acknowledged, so all removed
    frames = decode_indices(b"".join(stored_fragments(endpoint, "sp")))
    assert frames == list(range(15 * len(kept))) + list(range(90))


def test_a_spool_older_than_the_buffer_window_is_sent_whole_and_first(tmp_path: Path,
                                                                      endpoint: EndpointThread) -> None:
    """The memory buffer's time window (here 2 s) must not judge fragments an earlier run left on disk."""
    clip = make_mp4(tmp_path / "clip.mp4", frames=90)  # 6 s at 15 fps
    spool = tmp_path / "spool"
    client("kinesisvideo", endpoint.url).create_stream(StreamName="old", DataRetentionInHours=1)
    endpoint.endpoint.set_faults("old", FaultPlan(refuse_connections=10_000))
    proc = subprocess.Popen([sys.executable, "-m", "app", "stream", "--stream", "old", "--source", str(clip),
                             "--endpoint-url", endpoint.url, "--fragment-seconds", "1", "--spool", str(spool)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env())
    assert proc.stdout is not None
    for line in proc.stdout:
        if "reconnecting" in line and len(list((spool / "old").glob("*.frag"))) >= 3:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    kept = sorted((spool / "old").glob("*.frag"))
    newest_ms = max(int(p.name.split("-")[0]) for p in kept)
    window_s = 2.0
    while time.time() * 1000 < newest_ms + (window_s + 1) * 1000:  # the scenario: that run is now older than
        time.sleep(0.05)                                             # the next run's window

    endpoint.endpoint.set_faults("old", FaultPlan())
    second = run_cli("--stream", "old", "--source", str(clip), "--endpoint-url", endpoint.url,
                     "--fragment-seconds", "1", "--buffer-seconds", str(window_s), "--spool", str(spool))
    assert second.returncode == 0, second.stdout + second.stderr
    assert "dropped unsent" not in second.stdout
    assert f"summary: {len(kept) + 6} fragments" in second.stdout
    assert not list((spool / "old").glob("*.frag"))
    frames = decode_indices(b"".join(stored_fragments(endpoint, "old")))
    assert frames == list(range(15 * len(kept))) + list(range(90))


def test_a_stream_wide_refusal_stops_and_the_spool_keeps_the_video(tmp_path: Path, endpoint: EndpointThread) -> None:
    """ERROR 4501 (the stream's KMS key is disabled) says no fragment can be taken: the run stops at once with
    the remedy, nothing is skipped, and once the key is fixed the next run sends what was kept, once."""
    clip = make_mp4(tmp_path / "clip.mp4", frames=90)  # 6 s at 15 fps: 6 fragments of 1 s
    spool = tmp_path / "spool"
    client("kinesisvideo", endpoint.url).create_stream(StreamName="kms", DataRetentionInHours=1)
    endpoint.endpoint.set_faults("kms", FaultPlan(error_ack={4501: [2, 3, 4, 5, 6]}))
    first = run_cli("--stream", "kms", "--source", str(clip), "--endpoint-url", endpoint.url, "--fragment-seconds",
                    "1", "--pace", "fast", "--spool", str(spool))
    assert first.returncode == 1, first.stdout + first.stderr
    assert "KMS_KEY_DISABLED (4501)" in first.stderr
    assert "Check the stream's KMS key in AWS KMS" in first.stderr
    assert "It is skipped" not in first.stdout
    assert "0 refused" in first.stdout
    assert first.stdout.count("ERROR") == 1  # it stopped at the first refusal instead of trying each fragment
    kept = sorted((spool / "kms").glob("*.frag"))  # fragment 2 and whatever was captured after it
    assert kept
    assert f"{len(kept)} kept in the spool for the next run" in first.stdout
    # Frames encoded before the stop: the refusal may come before the file is all encoded (no cap applies to
    # a custom endpoint), and then the last kept fragment is a short one.
    captured = int(re.search(r"summary: \d+ fragments, (\d+) frames", first.stdout).group(1))  # type: ignore[union-attr]
    assert 15 < captured <= 90

    endpoint.endpoint.set_faults("kms", FaultPlan())  # the key is enabled again
    second = run_cli("--stream", "kms", "--source", str(clip), "--endpoint-url", endpoint.url, "--fragment-seconds",
                     "1", "--pace", "fast", "--spool", str(spool))
    assert second.returncode == 0, second.stdout + second.stderr
    assert not list((spool / "kms").glob("*.frag"))
    frames = decode_indices(b"".join(stored_fragments(endpoint, "kms", arrival=True)))
    assert frames == list(range(captured)) + list(range(90))  # what was kept went first, once
