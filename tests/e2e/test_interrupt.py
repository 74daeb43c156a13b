"""Ctrl-C on `kvs-studio stream`: the first one sends what was captured and waits for its acks
(exit 0); a second one quits at once."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import av
import pytest

from app.localkvs.faults import FaultPlan
from app.localkvs.server import EndpointThread
from tests.conftest import client
from tests.e2e.test_stream_cli import cli_env, stored_fragments

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[list[subprocess.Popen]]:
    yield STARTED
    for proc in STARTED:  # a failed test must not leave a CLI running
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    STARTED.clear()


STARTED: list[subprocess.Popen] = []


def start_cli(url: str, *args: str) -> subprocess.Popen:
    env = cli_env()
    proc = subprocess.Popen([sys.executable, "-m", "app", "stream", "--stream", "live", "--source", "testpattern",
                             "--width", "320", "--height", "240", "--fps", "15", "--fragment-seconds", "1",
                             "--endpoint-url", url, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    STARTED.append(proc)
    return proc


def wait_for_line(proc: subprocess.Popen, pattern: str) -> list[str]:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # blocks until the CLI prints it (or exits)
        seen.append(line)
        if re.search(pattern, line):
            return seen
    raise AssertionError("CLI ended before printing " + pattern + ":\n" + "".join(seen))


def test_first_ctrl_c_flushes_and_exits_zero(endpoint: EndpointThread) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="live", DataRetentionInHours=1)
    proc = start_cli(endpoint.url)
    wait_for_line(proc, r"fragment +1 .*PERSISTED")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    m = re.search(r"summary: (\d+) fragments, (\d+) frames; (\d+) PERSISTED", out)
    assert m, out
    produced, frames, persisted = map(int, m.groups())
    assert produced == persisted >= 2
    docs = stored_fragments(endpoint, "live")
    assert len(docs) == produced
    decoded = 0
    for doc in docs:
        with av.open(io.BytesIO(doc)) as c:
            decoded += sum(1 for _ in c.decode(video=0))
    assert decoded == frames


def test_second_ctrl_c_quits_at_once(endpoint: EndpointThread) -> None:
    client("kinesisvideo", endpoint.url).create_stream(StreamName="live", DataRetentionInHours=1)
    # Nothing is ever acknowledged, so a graceful stop would wait; the second Ctrl-C must not.
    endpoint.endpoint.set_faults("live", FaultPlan(stall_after=[1]))
    proc = start_cli(endpoint.url, "--stale-seconds", "60")
    wait_for_line(proc, r"connection: connected")
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the CLI saw the first Ctrl-C (signals sent together would merge)
    assert first.startswith("stopping:")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "were not PERSISTED" in err
