"""Helpers for endpoint tests: sign and send with the independent test client; the endpoint as a process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import REGION, TEST_KEYS, signing_credentials
from tests.mediagen import chunks
from tests.putmedia_client import PutMediaClient, PutMediaResult, sign_put_media


def put_media(url: str, stream: str, body: bytes, *, relative: bool = True, start: float | None = None,
              chunk: int = 16000, pause: float = 0.0, expect_continue: bool = False,
              wait_for_persisted: int | None = None, cafile: str | None = None,
              extra_headers: dict[str, str] | None = None, read_timeout: float | None = None) -> PutMediaResult:
    start = time.time() if start is None and relative else start
    head = sign_put_media(url, stream, signing_credentials(), REGION, relative=relative, start_timestamp=start,
                          extra=extra_headers)
    return PutMediaClient(url, cafile=cafile).put(head, chunks(body, chunk), expect_continue=expect_continue,
                                                  chunk_pause=pause, wait_for_persisted=wait_for_persisted,
                                                  read_timeout=read_timeout)


def acks_by_timecode(result: PutMediaResult) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for rec in result.acks:
        out.setdefault(rec.ack["FragmentTimecode"], []).append(rec.ack["EventType"])
    return out


class EndpointProcess:
    """``kvs-studio local-endpoint`` as a subprocess; streams ACTIVE at once unless ``extra`` says otherwise.
    Its log (stderr) is collected in ``log_lines`` by a thread."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        env = dict(os.environ, AWS_ACCESS_KEY_ID=TEST_KEYS.access_key, AWS_SECRET_ACCESS_KEY=TEST_KEYS.secret_key)
        if "--creating-seconds" not in extra:
            extra = ("--creating-seconds", "0", *extra)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "local-endpoint", "--port", "0", "--data-dir", str(data_dir), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.log_lines: list[str] = []
        self._log_reader = threading.Thread(target=self._read_log, name="endpoint-log", daemon=True)
        self._log_reader.start()
        assert self.proc.stdout is not None
        self.ready: dict = {}
        self.banner: list[str] = []  # what it printed before the ready line
        for line in self.proc.stdout:  # blocks until the ready line (or exit)
            if line.startswith("{"):
                self.ready = json.loads(line)
                break
            self.banner.append(line.rstrip("\n"))
        assert self.ready.get("event") == "ready", "endpoint did not start"
        self.url: str = self.ready["url"]

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log_lines.append(line.rstrip("\n"))

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> list[str]:
        """Lines matching ``pattern`` (a regex), once at least one has arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in list(self.log_lines) if re.search(pattern, line)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r}; log: {self.log_lines}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(10)
