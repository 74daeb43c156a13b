"""Uploader: the PutMedia reconnect policy, on one asyncio loop in its own thread.

It owns the FragmentLedger (app/kvs/ledger.py): only this thread changes where a fragment stands, and
front ends see it through FragmentUpdate events. Each connection (app/engine/putmedia_connection.py)
sends what is unacknowledged and applies acks; this module decides what happens between connections:

- a dropped connection, a timeout, 5xx, throttling, a retriable error ack or a stale connection:
  reconnect after an exponential backoff, which only real progress (a fragment acknowledged) resets;
  a fragment refused for good does not;
- before resending fragments that were fully sent on a connection that died, ask ListFragments whether
  the service stored them anyway, so a lost PERSISTED ack causes no duplicate (best effort);
- the data endpoint is resolved again after connection errors, on rotation, and when PutMedia answers
  404 or InvalidEndpoint; a 404 for a stream that is gone or not active stops the run;
- errors the user must fix (credentials, clock, a stream that refuses all data) stop the upload with a
  message; what was not stored stays in the buffer (and the spool, if set).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from app.engine.blocking import in_thread
from app.engine.buffer import FragmentBuffer
from app.engine.events import ConnectionState, EngineEvent, EngineMessage, FragmentUpdate
from app.engine.putmedia_connection import ConnectionRetry, PutMediaConnection
from app.errors import CredentialsError, KvsStudioError, ServiceError, StreamNotFound, StreamRefused
from app.kvs.acks import AckParseError
from app.kvs.control import KvsControl, tls_error_message
from app.kvs.ledger import FragmentLedger, FragmentState, LedgerEntry
from app.kvs.limits import SendLimiter
from app.kvs.retry import REFRESH_ENDPOINT_TYPES, Backoff

log = logging.getLogger(__name__)
LISTING_LAG_S = 1.5  # ListFragments lags PERSISTED by about a second (kvs-protocol.md §8)


@dataclass
class UploaderSettings:
    staleness_s: float = 20.0  # no BUFFERING ack this long after a fragment's first byte: reconnect
    response_head_s: float = 15.0  # the service answers a PutMedia request head at once; a proxy may not
    connect_s: float = 15.0  # TCP + TLS connect
    rotate_s: float = 40 * 60.0  # new connection before the service's 45-minute cap (jitter added)
    final_ack_timeout_s: float = 20.0  # how long the last fragments may take to be acknowledged
    error_drain_s: float = 5.0  # after an error ack, how long to read what the service still sends
    backoff: Backoff = field(default_factory=Backoff)
    limiter: Callable[[], SendLimiter] | None = None  # per-stream caps; None: the service's (the engine picks)


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
        self.ledger = FragmentLedger(FragmentState.RECEIVED if retention_zero else FragmentState.PERSISTED)
        self.limiter = self.settings.limiter() if self.settings.limiter else SendLimiter()
        self.bytes_sent = 0
        self.last_ack_latency_ms: int | None = None  # final ack, ms after the fragment's last byte
        self.last_received_latency_ms: int | None = None
        self.error: str | None = None  # why the upload stopped early
        self._loop = asyncio.new_event_loop()
        self.changed = asyncio.Event()
        self._wake_pending = False  # a buffer change has scheduled a wake-up the loop has not run yet
        self._abort = asyncio.Event()
        self._endpoint: str | None = None
        self._listing_refused = False  # ListFragments is not allowed: stop asking, lost acks mean resends
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

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    def _on_buffer_change(self) -> None:
        # Called for every frame added: one wake-up of the loop at a time is enough (each costs a write to
        # its self-pipe), since the woken body reads everything the buffer holds by then. A change made
        # while a wake-up is pending is seen by it, because the flag is cleared before the event is set.
        if self._wake_pending or self._loop.is_closed():
            return
        self._wake_pending = True
        try:
            self._loop.call_soon_threadsafe(self._woken)
        except RuntimeError:  # loop closed in between
            pass

    def _woken(self) -> None:
        self._wake_pending = False
        self.changed.set()

    def _thread_main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._run())
        except Exception as exc:  # never die silently (unless told to stop at once: then nothing is owed)
            if not self._abort.is_set():
                log.exception("uploader crashed")
                self._give_up(f"Upload stopped by an internal error: {exc}", 0)
        finally:
            self._loop.close()

    # -- used by connections (loop thread) ------------------------------------------------------
    # Timed waits use asyncio.timeout(), never asyncio.wait_for(): on Python 3.11, wait_for can swallow a
    # cancellation that arrives as the awaited thing completes (gh-86296), and aiohttp cancels the body's
    # task to end a connection. A swallowed cancel left the body waiting forever and the upload hung.

    def wake(self) -> None:
        self.changed.set()

    async def wait_change(self, timeout: float) -> None:
        await _wait(self.changed, timeout)
        self.changed.clear()

    def report(self, entry: LedgerEntry) -> None:
        """Tell the front ends where a fragment stands now."""
        frag = self.buffer.get(entry.seq)
        err = entry.error
        received = entry.latency_ms.get(FragmentState.RECEIVED.value)
        if received is not None:
            self.last_received_latency_ms = received
        final = entry.latency_ms.get(self.ledger.final_state.value)
        if final is not None:
            self.last_ack_latency_ms = final
        self.emit(FragmentUpdate(entry.seq, entry.timecode, entry.state, frag.frames if frag else 0,
                                 frag.size if frag else 0, entry.fragment_number, dict(entry.latency_ms),
                                 err.error_id if err else None, err.code if err else None,
                                 err.meaning if err else None, max(1, entry.attempts), frag.tags if frag else ()))

    # -- the policy loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        s = self.settings
        timeout = aiohttp.ClientTimeout(total=None, connect=s.connect_s, sock_connect=s.connect_s, sock_read=None)
        connector = aiohttp.TCPConnector(ssl=self.control.ssl_context(), force_close=True)
        # trust_env: HTTPS_PROXY/HTTP_PROXY/NO_PROXY apply to PutMedia as botocore applies them to the control plane.
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, trust_env=True,
                                         skip_auto_headers=("User-Agent", "Content-Type")) as http:
            while not self.buffer.drained() and not self._abort.is_set():
                if self.buffer.empty():
                    await self.wait_change(1.0)
                    continue
                self.emit(ConnectionState("connecting" if attempt == 0 else "reconnecting", attempt,
                                          endpoint=self._endpoint or ""))
                completed_before = self.buffer.completed
                try:
                    reason = await self._connection(http, attempt)
                    if reason is None:
                        attempt = 0
                        continue
                except StreamRefused as exc:
                    self._give_up(exc.user_message, attempt)
                    return
                except StreamNotFound as exc:
                    self._endpoint = None
                    reason = await self._stream_still_there(exc)
                    if reason is None:
                        return
                except KvsStudioError as exc:
                    if not (isinstance(exc, ServiceError) and exc.retriable):
                        self._give_up(exc.user_message, attempt)
                        return
                    reason = exc.user_message
                    if exc.code in REFRESH_ENDPOINT_TYPES:
                        self._endpoint = None
                except aiohttp.ClientConnectorCertificateError as exc:
                    self._give_up(tls_error_message(self._endpoint or "", str(exc)).user_message, attempt)
                    return
                except ConnectionRetry as exc:
                    reason = str(exc)
                except (aiohttp.ClientError, OSError, TimeoutError, AckParseError) as exc:
                    reason = plain_reason(exc)
                    log.debug("connection error detail: %r", exc)
                    self._endpoint = None  # resolve again: the endpoint may have moved
                finally:
                    for entry in self.ledger.end_connection():
                        self.report(entry)
                    self.buffer.unprotect_all()
                    self.ledger.retain(f.seq for f in self.buffer.pending())
                if self._abort.is_set():
                    break
                if self.buffer.completed > completed_before:
                    attempt = 0  # this connection got work done: start the backoff again from the bottom
                attempt += 1
                delay = self.settings.backoff.delay(attempt)
                log.info("PutMedia connection failed (%s); retry %d in %.1f s", reason, attempt, delay)
                self.emit(ConnectionState("reconnecting", attempt, round(delay, 1), reason))
                await self._sleep(delay)
        self.emit(ConnectionState("stopped"))

    async def _connection(self, http: aiohttp.ClientSession, attempt: int) -> str | None:
        """One connection; None when it ended well (rotation, or acks), else why it did not."""
        await self._skip_already_stored()
        if self.buffer.empty() or self._abort.is_set():
            return None
        if self._endpoint is None:
            self._endpoint = await in_thread(self.control.data_endpoint, self.stream)
            if self._abort.is_set():
                return None
        outcome = await PutMediaConnection(self, self._endpoint, attempt).run(http)
        if outcome.rotating:
            self._endpoint = None  # ask GetDataEndpoint again, as the service expects about every 45 min
            return None
        if outcome.acknowledged or self.buffer.drained() or self._abort.is_set():
            return None
        return "the service ended the connection before acknowledging anything"

    async def _stream_still_there(self, exc: StreamNotFound) -> str | None:
        """PutMedia said 404: a stale data endpoint (retry with a new one), or the stream is gone (stop)."""
        try:
            desc = await in_thread(self.control.describe, self.stream)
        except StreamNotFound:
            self._give_up(f"Stream {self.stream} no longer exists (it was deleted while streaming). Recreate it "
                          "and start again.", 0)
            return None
        except KvsStudioError as other:
            return other.user_message
        if desc.status != "ACTIVE":
            self._give_up(f"Stream {self.stream} is {desc.status}, so it cannot take data. Wait until it is ACTIVE "
                          "or recreate it.", 0)
            return None
        return f"{exc.user_message} (asking for a new data endpoint)"

    def _give_up(self, message: str, attempt: int) -> None:
        self.error = message
        self.emit(EngineMessage("error", message))
        self.emit(ConnectionState("gave_up", attempt, reason=message))

    async def _sleep(self, seconds: float) -> None:
        """A backoff that a forced stop cuts short."""
        await _wait(self._abort, seconds)

    async def _skip_already_stored(self) -> None:
        """Ask the service which fully sent fragments it stored anyway (the connection died before their
        PERSISTED ack, or an earlier run sent them before it ended) and let those go instead of sending
        them twice. ListFragments is eventually consistent (about a second behind PERSISTED), so fragments
        the service said RECEIVED for are asked about once more after a short wait. Best effort: if
        ListFragments is not allowed or fails, they are simply sent again."""
        if self.retention_zero or self._listing_refused:
            return  # nothing is stored, so nothing can be listed; or we may not ask
        for frag in self.buffer.pending():
            if frag.earlier_run and frag.seq not in self.ledger:
                self.ledger.add(frag.seq, frag.timecode, maybe_sent=True)
        for last_try in (False, True):
            candidates = self.ledger.unconfirmed_sent()
            if not candidates:
                return
            try:
                stored = await in_thread(self.control.stored_producer_timestamps, self.stream,
                                         candidates[0].timecode, candidates[-1].timecode)
            except CredentialsError:
                self._listing_refused = True
                self.emit(EngineMessage("warning", "These credentials may not call ListFragments, so a fragment "
                                                   "whose acknowledgement was lost is sent again (a duplicate is "
                                                   "possible). Allow kinesisvideo:ListFragments to avoid that."))
                return
            except KvsStudioError as exc:
                log.info("cannot check which fragments were stored (%s); sending them again", exc.user_message)
                return
            for entry in candidates:
                if entry.timecode in stored:
                    self._already_stored(entry)
            if last_try or not any(e.received for e in self.ledger.unconfirmed_sent()):
                break
            await self._sleep(LISTING_LAG_S)
        for entry in self.ledger.unconfirmed_sent():
            entry.fully_sent = False  # checked: not stored, so only a new send can change that

    def _already_stored(self, entry: LedgerEntry) -> None:
        frag = self.buffer.get(entry.seq)
        self.ledger.mark_stored(entry.seq)
        entry.latency_ms.clear()
        self.report(entry)
        when = "by an earlier run" if frag is not None and frag.earlier_run else "before the connection dropped"
        self.emit(EngineMessage("info", f"Fragment {entry.seq} was stored {when}; it is not sent again."))
        self.buffer.finish(entry.seq)


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Until ``event`` is set or ``timeout`` s pass (asyncio.timeout, not wait_for: see the note above)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        pass


def plain_reason(exc: BaseException) -> str:
    """Say in plain words why a connection failed (the details go to the debug log)."""
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return f"cannot connect to the proxy {exc.host}:{exc.port}"
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
