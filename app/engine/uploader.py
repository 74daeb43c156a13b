"""Uploader: PutMedia connections over aiohttp (full duplex), acks read while the body streams.

One asyncio loop in its own thread. Each connection sends the MKV header, then every fragment that
is still in the buffer, oldest first, from its first byte and with its original timecode, then the
frames of the open fragment as they are encoded. Acks are parsed as they arrive (AckParser) and
move fragments along; PERSISTED (RECEIVED without retention) lets a fragment go. Any failure (reset,
timeout, 5xx, throttling, retriable error ack, no ack for too long) ends the connection; after a
backoff the next one resends what is unacknowledged. Errors the user must fix (credentials, missing
stream, clock skew) stop the upload with a message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp

from app.engine.buffer import BufferedFragment, FragmentBuffer
from app.engine.events import ConnectionState, EngineEvent, EngineMessage, FragmentUpdate
from app.errors import KvsStudioError, ServiceError
from app.kvs.acks import Ack, AckEventType, AckParseError, AckParser, error_for
from app.kvs.control import KvsControl, classify_http_error, tls_error_message
from app.kvs.limits import SendLimiter
from app.kvs.retry import REFRESH_ENDPOINT_TYPES, Backoff
from app.kvs.signing import put_media_headers
from app.mkv import writer

log = logging.getLogger(__name__)

END_OF_FRAGMENT = writer.tags([("AWS_KINESISVIDEO_END_OF_FRAGMENT", "")])


class _Retry(Exception):
    """This connection is done for; reconnect and resend."""


@dataclass
class UploaderSettings:
    staleness_s: float = 20.0  # no BUFFERING ack this long after a fragment's first byte: reconnect
    rotate_s: float = 40 * 60.0  # new connection before the service's 45-minute cap (jitter added)
    final_ack_timeout_s: float = 20.0  # how long the last fragments may take to be acknowledged
    error_drain_s: float = 5.0  # after an error ack, how long to read what the service still sends
    backoff: Backoff = field(default_factory=Backoff)


@dataclass
class _Conn:
    started: float
    rotate_at: float
    sent: dict[int, BufferedFragment] = field(default_factory=dict)  # timecode -> fragment
    failed: bool = False  # stop sending; the body must then never end cleanly
    retry_reason: str | None = None
    failed_at: float = 0.0
    rotating: bool = False


class Uploader:
    def __init__(self, *, buffer: FragmentBuffer, header: bytes, control: KvsControl, stream: str,
                 retention_zero: bool, emit: Callable[[EngineEvent], None],
                 settings: UploaderSettings | None = None) -> None:
        self.buffer = buffer
        self.header = header
        self.control = control
        self.stream = stream
        self.retention_zero = retention_zero
        self.emit = emit
        self.settings = settings or UploaderSettings()
        self.bytes_sent = 0
        self.limiter = SendLimiter()
        self.last_ack_latency_ms: int | None = None
        self.error: str | None = None
        self._loop = asyncio.new_event_loop()
        self._changed = asyncio.Event()
        self._abort = asyncio.Event()
        self._endpoint: str | None = None
        self._thread = threading.Thread(target=self._thread_main, name="kvs-uploader", daemon=True)
        buffer.add_listener(self._on_buffer_change)

    # -- thread API ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def abort(self) -> None:
        """Forced stop: drop the connection now."""
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._abort.set)

    def _on_buffer_change(self) -> None:
        if not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._changed.set)
            except RuntimeError:  # loop closed in between
                pass

    def _thread_main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._run())
        except Exception as exc:  # never die silently
            log.exception("uploader crashed")
            self.error = f"Upload stopped by an internal error: {exc}"
            self.emit(EngineMessage("error", self.error))
        finally:
            self._loop.close()

    # -- main loop -------------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        timeout = aiohttp.ClientTimeout(total=None, connect=15, sock_connect=15, sock_read=None)
        connector = aiohttp.TCPConnector(ssl=self.control.ssl_context(), force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector,
                                         skip_auto_headers=("User-Agent", "Content-Type")) as http:
            while not self.buffer.drained() and not self._abort.is_set():
                if self.buffer.empty():
                    await self._wait_change(1.0)
                    continue
                self.emit(ConnectionState("connecting" if attempt == 0 else "reconnecting", attempt,
                                          endpoint=self._endpoint or ""))
                progress = False
                acked_before = self.buffer.completed + self.buffer.failed
                try:
                    progress = await self._session(http, attempt)
                    if progress:
                        attempt = 0
                    continue
                except KvsStudioError as exc:
                    if isinstance(exc, ServiceError) and exc.retriable:
                        reason = exc.user_message
                        if exc.code in REFRESH_ENDPOINT_TYPES:
                            self._endpoint = None
                    else:
                        self._give_up(exc.user_message, attempt)
                        return
                except aiohttp.ClientConnectorCertificateError as exc:
                    self._give_up(tls_error_message(self._endpoint or "", str(exc)).user_message, attempt)
                    return
                except _Retry as exc:
                    reason = str(exc)
                except (aiohttp.ClientError, OSError, TimeoutError, AckParseError) as exc:
                    reason = plain_reason(exc)
                    log.debug("connection error detail: %r", exc)
                    self._endpoint = None  # resolve again: the endpoint may have moved
                if self.buffer.completed + self.buffer.failed > acked_before:
                    attempt = 0  # this connection got work done: start the backoff again from the bottom
                attempt += 1
                delay = self.settings.backoff.delay(attempt)
                log.info("PutMedia connection failed (%s); retry %d in %.1f s", reason, attempt, delay)
                self.emit(ConnectionState("reconnecting", attempt, round(delay, 1), reason))
                await self._sleep(delay)
        self.emit(ConnectionState("stopped"))

    def _give_up(self, message: str, attempt: int) -> None:
        self.error = message
        self.emit(EngineMessage("error", message))
        self.emit(ConnectionState("gave_up", attempt, reason=message))

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._abort.wait(), seconds)
        except TimeoutError:
            pass

    async def _wait_change(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass
        self._changed.clear()

    async def _session(self, http: aiohttp.ClientSession, attempt: int) -> bool:
        """One PutMedia connection. Returns True if it got at least one fragment acknowledged."""
        if attempt and not self.retention_zero:
            await self._skip_already_stored()
        if self._endpoint is None:
            self._endpoint = await asyncio.to_thread(self.control.data_endpoint, self.stream)
        creds = await asyncio.to_thread(self.control.credentials)  # refreshed before each connection
        headers = put_media_headers(self._endpoint, self.stream, creds, self.control.region,
                                    time.time_ns() // 1_000_000)
        now = time.monotonic()
        conn = _Conn(started=now, rotate_at=now + self.settings.rotate_s * (1 - random.uniform(0, 0.075)))
        acked_before = self.buffer.completed + self.buffer.failed
        try:
            async with http.post(self._endpoint.rstrip("/") + "/putMedia", data=self._body(conn),
                                 headers=headers) as resp:
                if resp.status != 200:
                    text = await resp.text()
                    code = resp.headers.get("x-amzn-ErrorType", "").split(":")[0]
                    message = _message(text)
                    raise classify_http_error(resp.status, code, message, resp.headers.get("Date"), self.stream,
                                              headers.get("X-Amz-Date"))
                self.emit(ConnectionState("recovered" if attempt else "connected", attempt,
                                          endpoint=self._endpoint))
                await self._read_acks(conn, resp)
        finally:
            conn.failed = True
            self._changed.set()
        progressed = self.buffer.completed + self.buffer.failed > acked_before
        if not progressed and not self.buffer.drained() and not conn.rotating and not self._abort.is_set():
            raise _Retry("the service ended the connection before acknowledging anything")
        return progressed or conn.rotating

    async def _skip_already_stored(self) -> None:
        """After a failure, ask the service which fully sent fragments it stored anyway (the connection
        died before their PERSISTED ack) and let those go instead of sending them twice. Best effort:
        if ListFragments is not allowed or fails, they are simply sent again."""
        candidates = [f for f in self.buffer.pending() if f.fully_sent and f.state != "PERSISTED"]
        if not candidates:
            return
        try:
            stored = await asyncio.to_thread(self.control.stored_producer_timestamps, self.stream,
                                             candidates[0].timecode, candidates[-1].timecode)
        except KvsStudioError as exc:
            log.info("cannot check which fragments were stored (%s); sending them again", exc.user_message)
            return
        for frag in candidates:
            if frag.timecode in stored:
                frag.state = "PERSISTED"
                frag.latency_ms.pop("PERSISTED", None)
                self._update(frag)
                self.emit(EngineMessage("info", f"Fragment {frag.seq} was stored before the connection dropped; "
                                                "it is not sent again."))
                self.buffer.finish(frag.seq)

    async def _read_acks(self, conn: _Conn, resp: aiohttp.ClientResponse) -> None:
        parser = AckParser()
        while True:
            if self._abort.is_set():
                resp.close()  # drop the connection now, whatever the body is doing
                return
            try:
                chunk = await asyncio.wait_for(resp.content.readany(), 0.25)
            except TimeoutError:
                if conn.retry_reason and time.monotonic() > conn.failed_at + self.settings.error_drain_s:
                    raise _Retry(conn.retry_reason) from None
                self._check_stale(conn)
                continue
            if not chunk:
                if conn.retry_reason:
                    raise _Retry(conn.retry_reason)
                return
            for ack in parser.feed(chunk):
                self._on_ack(conn, ack)

    def _check_stale(self, conn: _Conn) -> None:
        now = time.monotonic()
        for frag in conn.sent.values():
            if frag.state == "SENDING" and frag.sent_at is not None and \
                    now - frag.sent_at > self.settings.staleness_s:
                raise _Retry(f"no acknowledgement for {self.settings.staleness_s:.0f} s (stale connection)")

    # -- acks --------------------------------------------------------------------------------------

    def _on_ack(self, conn: _Conn, ack: Ack) -> None:
        if ack.event_type is AckEventType.IDLE or ack.fragment_timecode is None:
            return
        frag = conn.sent.get(ack.fragment_timecode)
        if frag is None:
            log.info("ack for unknown fragment timecode %s ignored", ack.fragment_timecode)
            return
        if ack.fragment_number:
            frag.fragment_number = ack.fragment_number
        if frag.sent_at is not None:
            latency = round((time.monotonic() - frag.sent_at) * 1000)
            frag.latency_ms[ack.event_type.value] = latency
            self.last_ack_latency_ms = latency
        if ack.event_type is AckEventType.ERROR:
            err = error_for(ack.error_id or 0)
            frag.state = "ERROR"
            self._update(frag, err.error_id, err.code, err.meaning)
            if err.retriable:
                # Stop sending, but read on until the service closes: acks it already queued (a
                # PERSISTED for an earlier fragment) still count, so nothing is sent twice.
                conn.failed = True
                conn.failed_at = time.monotonic()
                conn.retry_reason = f"fragment {frag.seq} refused with {err.code} ({err.error_id}); sending it again"
                self._changed.set()
                return
            # Not retriable: report and skip this fragment; the service closes the connection.
            self.emit(EngineMessage("error", f"Fragment {frag.seq} was refused: {err.code} ({err.error_id}): "
                                             f"{err.meaning} It is skipped."))
            self.buffer.finish(frag.seq, failed=True)
            del conn.sent[frag.timecode]
            return
        if ack.event_type is AckEventType.BUFFERING:
            frag.state = "BUFFERING"
        elif ack.event_type is AckEventType.RECEIVED:
            frag.state = "RECEIVED"
        elif ack.event_type is AckEventType.PERSISTED:
            frag.state = "PERSISTED"
        self._update(frag)
        if frag.state == "PERSISTED" or (frag.state == "RECEIVED" and self.retention_zero):
            self.buffer.finish(frag.seq)
            conn.sent.pop(frag.timecode, None)

    def _update(self, frag: BufferedFragment, error_id: int | None = None, code: str | None = None,
                meaning: str | None = None) -> None:
        self.emit(FragmentUpdate(frag.seq, frag.timecode, frag.state, frag.frames, len(frag.data),
                                 frag.fragment_number, dict(frag.latency_ms), error_id, code, meaning,
                                 frag.attempts))

    # -- body ----------------------------------------------------------------------------------------

    async def _body(self, conn: _Conn) -> AsyncIterator[bytes]:
        first = self.buffer.first_pending()
        seq = (first if first is not None else 0) - 1
        header: bytes | None = None
        while not conn.failed:
            self._changed.clear()
            frag = self.buffer.next_after(seq)
            if frag is None:
                if self.buffer.input_closed:
                    break
                await self._wait_change(1.0)
                continue
            frag_header = frag.header or self.header
            if header is None:
                header = frag_header  # one MKV header per connection
                yield header
                self.bytes_sent += len(header)
            elif frag_header != header or (time.monotonic() >= conn.rotate_at and conn.sent):
                # A fragment from an earlier run (other codec settings), or time to rotate before the
                # service's connection cap: end this connection at a fragment boundary; the next goes on.
                conn.rotating = True
                break
            seq = frag.seq
            async for piece in self._fragment_bytes(conn, frag):
                yield piece
        if conn.failed:
            await _forever()  # cancelled when the connection closes; never end the body cleanly
        if header is None:
            return  # nothing was left to send
        # Close the last (unknown-size) cluster so it is acknowledged, then keep the request open until
        # the last acks arrive, as the C producer does (kvs-protocol.md §5.4).
        yield END_OF_FRAGMENT
        deadline = time.monotonic() + self.settings.final_ack_timeout_s
        while conn.sent and not conn.failed and time.monotonic() < deadline:
            await self._wait_change(0.5)
        if conn.failed:
            await _forever()

    async def _fragment_bytes(self, conn: _Conn, frag: BufferedFragment) -> AsyncIterator[bytes]:
        offset = 0
        frag.sent_at = None
        conn.sent[frag.timecode] = frag
        while not conn.failed:
            self._changed.clear()
            data = bytes(frag.data[offset:])
            if data:
                if frag.sent_at is None:
                    await asyncio.sleep(self.limiter.fragment_delay(time.monotonic()))
                    self.limiter.fragment_started(time.monotonic())
                await asyncio.sleep(self.limiter.bytes_delay(time.monotonic(), len(data)))
                self.limiter.sent(time.monotonic(), len(data))
                if frag.sent_at is None:
                    frag.sent_at = time.monotonic()
                    frag.attempts += 1
                    frag.latency_ms.clear()
                    frag.state = "SENDING"
                    self._update(frag)
                offset += len(data)
                self.bytes_sent += len(data)
                yield data
                continue
            if frag.sealed or self.buffer.get(frag.seq) is None:
                frag.fully_sent = frag.sealed
                return
            await self._wait_change(1.0)


def plain_reason(exc: BaseException) -> str:
    """Say in plain words why a connection failed (the details go to the debug log)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "the connection timed out"
    if isinstance(exc, AckParseError):
        return f"the service sent an acknowledgement that cannot be read ({exc})"
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError | ConnectionError |
                  aiohttp.ClientOSError):
        return "the connection dropped"
    return f"connection error ({exc.__class__.__name__})"


async def _forever() -> None:
    await asyncio.Event().wait()


def _message(text: str) -> str:
    try:
        obj = json.loads(text)
        return str(obj.get("message") or obj.get("Message") or text)
    except ValueError:
        return text[:200]
