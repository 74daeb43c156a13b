"""An independent PutMedia client for tests: raw socket, our own HTTP/1.1 framing, botocore SigV4.

It shares no code with the app (only botocore), so the local endpoint is checked against a second
implementation of the protocol. A reader thread parses the chunked response and splits acks on
newlines while the main thread is still uploading, and records when each ack arrived.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


@dataclass
class AckRecord:
    ack: dict
    at: float
    uploaded: int  # body bytes sent when the ack arrived


@dataclass
class PutMediaResult:
    status: int
    headers: dict[str, str]
    acks: list[AckRecord] = field(default_factory=list)
    error_body: bytes = b""
    upload_finished_at: float | None = None
    got_continue: bool = False
    closed_by_server: bool = False
    sent_bytes: int = 0
    chunks_received: int = 0

    def events(self, kind: str) -> list[dict]:
        return [a.ack for a in self.acks if a.ack.get("EventType") == kind]


def sign_put_media(url: str, stream: str, credentials: Credentials, region: str, *, relative: bool,
                   start_timestamp: float | None, extra: dict[str, str] | None = None,
                   host_header: str | None = None) -> list[tuple[str, str]]:
    """The signed request head. ``host_header``: the Host value to sign and send instead of the URL's
    host:port, e.g. the host alone, as the official C producer does (its signer cuts the port)."""
    parts = urlsplit(url)
    headers = {
        "host": host_header if host_header is not None else parts.netloc,
        "x-amzn-stream-name": stream,
        "x-amzn-fragment-timecode-type": "RELATIVE" if relative else "ABSOLUTE",
        "x-amzn-fragment-acknowledgment-required": "1",
        "connection": "keep-alive",
        "user-agent": "kvs-test-client/1.0",
    }
    if start_timestamp is not None:
        headers["x-amzn-producer-start-timestamp"] = f"{start_timestamp:.3f}"
    headers.update(extra or {})
    req = AWSRequest(method="POST", url=f"{parts.scheme}://{parts.netloc}/putMedia", data=b"", headers=headers)
    SigV4Auth(credentials, "kinesisvideo", region).add_auth(req)  # payload hash = SHA-256("")
    return list(req.headers.items())


def post_json(url: str, path: str, body: dict, credentials: Credentials, region: str, *,
              host_header: str | None = None, cafile: str | None = None,
              timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """A control-plane call (rest-json POST) signed and sent with the given Host header, as a client that
    is not botocore would (botocore always signs host:port). Returns (status, headers, body)."""
    parts = urlsplit(url)
    data = json.dumps(body).encode()
    host = host_header if host_header is not None else parts.netloc
    req = AWSRequest(method="POST", url=f"{parts.scheme}://{parts.netloc}{path}", data=data,
                     headers={"host": host, "content-type": "application/json", "user-agent": "kvs-test-client/1.0"})
    SigV4Auth(credentials, "kinesisvideo", region).add_auth(req)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context(cafile=cafile))
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        for name, value in req.headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class PutMediaClient:
    def __init__(self, url: str, *, cafile: str | None = None, timeout: float = 30.0) -> None:
        self.url = url
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = parts.scheme == "https"
        self.cafile = cafile
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.cafile)
            sock = ctx.wrap_socket(sock, server_hostname=self.host)
        return sock

    def put(self, head: list[tuple[str, str]], body: Iterable[bytes], *, expect_continue: bool = False,
            wait_for_persisted: int | None = None, chunk_pause: float = 0.0,
            wait_timeout: float = 20.0, read_timeout: float | None = None) -> PutMediaResult:
        """Send the head, stream ``body`` chunked while reading acks; return what came back.

        ``wait_for_persisted``: before the final zero chunk, wait until that many PERSISTED acks came
        (the C producer's way of ending a session).
        """
        sock = self._connect()
        lines = ["POST /putMedia HTTP/1.1"] + [f"{k}: {v}" for k, v in head]
        lines.append("Transfer-Encoding: chunked")
        if expect_continue:
            lines.append("Expect: 100-continue")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reader = _ResponseReader(sock)
        result = reader.result
        reader.start()
        if expect_continue:
            reader.head_event.wait(self.timeout)
            if not result.got_continue and result.status >= 200:  # a final answer instead of 100
                reader.join(self.timeout)
                sock.close()
                return result
        try:
            for piece in body:
                if reader.done.is_set():
                    break
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                result.sent_bytes += len(piece)
                reader.uploaded = result.sent_bytes
                if chunk_pause:
                    time.sleep(chunk_pause)
            if wait_for_persisted is not None:
                deadline = time.monotonic() + wait_timeout
                while len(result.events("PERSISTED")) < wait_for_persisted and time.monotonic() < deadline \
                        and not reader.done.is_set():
                    reader.ack_event.wait(0.1)
                    reader.ack_event.clear()
            result.upload_finished_at = time.monotonic()
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            result.closed_by_server = True
        reader.join(self.timeout if read_timeout is None else read_timeout)
        sock.close()
        return result


class _ResponseReader(threading.Thread):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__(name="putmedia-test-reader", daemon=True)
        self.sock = sock
        self.result = PutMediaResult(status=0, headers={})
        self.head_event = threading.Event()
        self.ack_event = threading.Event()
        self.done = threading.Event()
        self.uploaded = 0
        self._buf = b""

    def _more(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.result.closed_by_server = True
            return False
        self._buf += data
        return True

    def _line(self) -> bytes | None:
        while b"\r\n" not in self._buf:
            if not self._more():
                return None
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.head_event.set()
            self.done.set()
            self.ack_event.set()

    def _run(self) -> None:
        while True:  # status line and headers, skipping 1xx answers
            status_line = self._line()
            if status_line is None:
                return
            status = int(status_line.split()[1])
            headers: dict[str, str] = {}
            while (line := self._line()) not in (b"", None):
                k, _, v = line.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            if status == 100:
                self.result.got_continue = True
                self.head_event.set()
                continue
            break
        self.result.status, self.result.headers = status, headers
        self.head_event.set()
        if headers.get("transfer-encoding", "").lower() != "chunked":
            length = int(headers.get("content-length", "0"))
            while len(self._buf) < length and self._more():
                pass
            self.result.error_body = self._buf[:length]
            return
        pending = b""
        while True:
            size_line = self._line()
            if size_line is None:
                return
            size = int(size_line.split(b";")[0], 16)
            while len(self._buf) < size + 2:
                if not self._more():
                    return
            data, self._buf = self._buf[:size], self._buf[size + 2 :]
            self.result.chunks_received += 1
            if size == 0:
                return
            if status != 200:
                self.result.error_body += data
                continue
            pending += data
            while b"\n" in pending:
                raw, pending = pending.split(b"\n", 1)
                if raw.strip():
                    self.result.acks.append(AckRecord(json.loads(raw), time.monotonic(), self.uploaded))
                    self.ack_event.set()
