"""Streaming with saved credentials and no AWS_* variables, and "a secret nowhere else": every file a run
writes and everything it prints, with -vv debug logging, holds neither the secret nor the session token.
Real keyring, real `kvs-studio` processes (the endpoint too), real sockets."""

from __future__ import annotations

import json
import secrets
import signal
import string
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from app.credentials.store import KeyringStore
from app.localkvs.server import EndpointThread
from tests.conftest import REGION, TEST_KEYS, client
from tests.credentials.helpers import REPO, kvs, user_env

pytestmark = pytest.mark.e2e
B64 = string.ascii_letters + string.digits + "/+"
SMALL = ("--source", "testpattern", "--width", "320", "--height", "240", "--fps", "15", "--fragment-seconds", "1")


def test_stream_with_saved_credentials_and_no_aws_variables(store: KeyringStore, endpoint: EndpointThread) -> None:
    added = kvs("credentials", "add", "cam", "--region", REGION,
                stdin=f"{TEST_KEYS.access_key}\n{TEST_KEYS.secret_key}\n")
    assert added.returncode == 0, added.stderr
    # No --region: the entry's. No AWS_* variables and no ~/.aws files (user_env).
    proc = kvs("stream", "--stream", "front", "--create", "--credentials", "cam", "--endpoint-url", endpoint.url,
               "--duration", "3", *SMALL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PERSISTED" in proc.stdout
    assert "(us-west-2)" in proc.stdout
    stored = client("kinesis-video-archived-media", endpoint.url).list_fragments(StreamName="front")["Fragments"]
    assert len(stored) >= 2

    unknown = kvs("stream", "--stream", "front", "--credentials", "nope", "--endpoint-url", endpoint.url,
                  "--duration", "1", *SMALL)
    assert unknown.returncode == 2
    assert "No saved credentials named 'nope'" in unknown.stderr
    assert "kvs-studio credentials list" in unknown.stderr


def test_a_secret_nowhere_else(store: KeyringStore, tmp_path: Path) -> None:
    # Fake, made for this run: a secret shaped like AWS's, and a session token the patterns alone would miss
    # (short pieces between dashes), so the known-secret masking of every process is exercised too.
    secret = "Kv" + "".join(secrets.choice(B64) for _ in range(38))
    token = "-".join("".join(secrets.choice(B64) for _ in range(30)) for _ in range(8))
    key_id = "ASIAKVSSTUDIOLEAK001"
    needles = {secret, token, quote(secret, safe=""), quote(token, safe=""), secret[5:30], token[100:160]}
    home = tmp_path / "home"
    env = user_env(home)
    outputs: list[str] = []

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        proc = kvs("-vv", *args, stdin=stdin, env=env)
        outputs.extend([proc.stdout, proc.stderr])
        return proc

    endpoint_env = dict(env, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_SESSION_TOKEN=token)
    endpoint_err = tmp_path / "endpoint.stderr"
    with endpoint_err.open("w") as err:
        # Its default data dir (under XDG_DATA_HOME, in this HOME); a dropped connection makes the producer
        # reconnect, which logs the connection error at debug.
        ep = subprocess.Popen([sys.executable, "-m", "app", "-vv", "local-endpoint", "--port", "0",
                               "--fault", "drop_after_received=2"], stdout=subprocess.PIPE, stderr=err, text=True,
                              env=endpoint_env, cwd=REPO)
        try:
            assert ep.stdout is not None
            ready = next(json.loads(line) for line in ep.stdout if line.startswith("{"))
            url = ready["url"]
            assert run("credentials", "add", "leak", "--region", REGION, "--check", "--endpoint-url", url,
                       stdin=f"{key_id}\n{secret}\n{token}\n").returncode == 0, outputs[-1]
            assert run("credentials", "list").returncode == 0
            streamed = run("stream", "--stream", "leaky", "--create", "--credentials", "leak", "--endpoint-url", url,
                           "--duration", "4", "--spool", str(home / "spool"), *SMALL)
            assert streamed.returncode == 0, streamed.stdout + streamed.stderr[-3000:]
            missing = run("stream", "--stream", "no-such-stream", "--credentials", "leak", "--endpoint-url", url,
                          "--duration", "1", *SMALL)
            assert missing.returncode == 2
            assert run("credentials", "remove", "leak").returncode == 0
        finally:
            ep.send_signal(signal.SIGTERM)
            rest, _ = ep.communicate(timeout=30)
            outputs.append(rest)
    outputs.append(endpoint_err.read_text())

    # The run really logged at debug, headers and connection errors included, and really used the keyring.
    debug = streamed.stderr
    assert "DEBUG botocore" in debug
    assert "Looking for credentials via: kvs-studio-keyring" in debug
    assert "x-amz-security-token" in debug.lower()
    assert "connection: reconnecting" in streamed.stdout
    assert "PERSISTED" in streamed.stdout
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix for p in (home / ".local/share/kvs-studio/local-endpoint").rglob("*"))  # its data
    assert (home / "spool").is_dir()

    leaks = [(str(p.relative_to(tmp_path)), n[:6]) for p in written for n in needles if n.encode() in p.read_bytes()]
    leaks += [(f"output #{i}", n[:6]) for i, text in enumerate(outputs) for n in needles if n in text]
    assert leaks == []
    assert "***" in debug  # and masked
