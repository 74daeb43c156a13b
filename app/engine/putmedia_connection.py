"""One PutMedia connection: the body streams from the buffer while acks are read and applied to the ledger.

The body is the MKV header, then every fragment still buffered, oldest first, from its first byte with
its original timecode, then the frames of the open fragment as they are encoded. It ends at a fragment
boundary when the connection is rotated (or a fragment needs another header), with an end-of-fragment
tag so the last cluster is acknowledged, and it is kept open until the last acks arrive, as the C
producer does (kvs-protocol.md §5.4). After a failure it is never ended cleanly, so the service never
stores a partial fragment.

A watchdog runs from the moment the request is sent, before and after the response head: no response
head within ``response_head_s``, or no BUFFERING ack within ``staleness_s`` of a fragment's first byte,
ends the connection (a proxy or middlebox that swallows the request must not leave us "connecting").
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from app.engine.blocking import in_thread
from app.engine.buffer import BufferedFragment
from app.engine.events import ConnectionState, EngineMessage
from app.errors import StreamRefused
from app.kvs.acks import Ack, AckParser, RefusalScope, error_for
from app.kvs.control import classify_http_error
from app.kvs.ledger import FragmentState
from app.kvs.signing import put_media_headers
from app.mkv import writer

if TYPE_CHECKING:
    from app.engine.uploader import Uploader

log = logging.getLogger(__name__)

END_OF_FRAGMENT = writer.tags([("AWS_KINESISVIDEO_END_OF_FRAGMENT", "")])
WATCH_INTERVAL_S = 0.25


class ConnectionRetry(Exception):
    """This connection is done for; reconnect (after a backoff) and resend what is unacknowledged."""


@dataclass(frozen=True)
class ConnectionOutcome:
    acknowledged: int  # fragments the service confirmed for good on this connection
    rotating: bool  # ended on purpose at a fragment boundary; the next connection goes on at once


class PutMediaConnection:
    def __init__(self, up: Uploader, endpoint: str, attempt: int) -> None:
        self.up = up
        self.endpoint = endpoint
        self.attempt = attempt
        now = time.monotonic()
        self.rotate_at = now + up.settings.rotate_s * (1 - random.uniform(0, 0.075))
        self.acknowledged = 0
        self.rotating = False
        self.sent_any = False
        self.failed = False  # stop sending; the body must then never end cleanly
        self.failed_at = 0.0
        self.retry_reason: str | None = None
        self.stop_reason: str | None = None  # the stream refuses all data: the run must stop

    async def run(self, http: aiohttp.ClientSession) -> ConnectionOutcome:
        up = self.up
        creds = await in_thread(up.control.credentials)  # refreshed before each connection
        headers = put_media_headers(self.endpoint, up.stream, creds, up.control.region, time.time_ns() // 1_000_000)
        request = asyncio.ensure_future(http.post(self.endpoint.rstrip("/") + "/putMedia", data=self._body(),
                                                  headers=headers))
        try:
            resp = await self._await_head(request)
            if resp is None:
                return ConnectionOutcome(self.acknowledged, False)  # aborted
            async with resp:
                if resp.status != 200:
                    text = await resp.text()
                    code = resp.headers.get("x-amzn-ErrorType", "").split(":")[0]
                    raise up.control.explain(classify_http_error(resp.status, code, _message(text),
                                                                 resp.headers.get("Date"), up.stream,
                                                                 headers.get("X-Amz-Date")))
                up.emit(ConnectionState("recovered" if self.attempt else "connected", self.attempt,
                                        endpoint=self.endpoint))
                await self._read_acks(resp)
        finally:
            self._fail()
            if not request.done():
                request.cancel()
        return ConnectionOutcome(self.acknowledged, self.rotating)

    # -- watchdog ----------------------------------------------------------------------------------

    async def _await_head(self, request: asyncio.Future[aiohttp.ClientResponse]) -> aiohttp.ClientResponse | None:
        sent = time.monotonic()
        while True:
            done, _ = await asyncio.wait({request}, timeout=WATCH_INTERVAL_S)
            if done:
                return request.result()
            if self.up.abort_requested:
                request.cancel()
                return None
            if time.monotonic() - sent > self.up.settings.response_head_s:
                request.cancel()
                raise ConnectionRetry(f"no response from the service for {self.up.settings.response_head_s:.0f} s")
            self._check_stale(request)

    def _check_stale(self, request: asyncio.Future | None = None) -> None:
        limit = self.up.settings.staleness_s
        if self.up.ledger.stale(time.monotonic(), limit) is not None:
            if request is not None:
                request.cancel()
            raise ConnectionRetry(f"no acknowledgement for {limit:.0f} s (stale connection)")

    # -- acks --------------------------------------------------------------------------------------

    async def _read_acks(self, resp: aiohttp.ClientResponse) -> None:
        parser = AckParser()
        while True:
            if self.up.abort_requested:
                resp.close()  # drop the connection now, whatever the body is doing
                return
            try:
                async with asyncio.timeout(WATCH_INTERVAL_S):  # not wait_for: see app/engine/uploader.py
                    chunk = await resp.content.readany()
            except TimeoutError:
                if self.failed and time.monotonic() > self.failed_at + self.up.settings.error_drain_s:
                    self._end_failed()
                if not self.failed:
                    self._check_stale()
                continue
            if not chunk:
                self._end_failed()
                return
            for ack in parser.feed(chunk):
                self._on_ack(ack)

    def _end_failed(self) -> None:
        if self.stop_reason:
            raise StreamRefused(self.stop_reason)
        if self.retry_reason:
            raise ConnectionRetry(self.retry_reason)

    def _on_ack(self, ack: Ack) -> None:
        up = self.up
        out = up.ledger.apply(ack, time.monotonic())
        entry = out.entry
        if entry is None and ack.error_id is not None:
            self._refused_without_fragment(ack)
            return
        if entry is None:
            log.info("ack %s for unknown fragment timecode %s ignored", ack.event_type, ack.fragment_timecode)
            return
        if not out.changed:
            return
        up.report(entry)
        if out.done:
            self.acknowledged += 1
            up.buffer.finish(entry.seq)
            return
        if out.refusal is None:
            return
        err = entry.error
        assert err is not None
        what = f"{err.code} ({err.error_id}): {err.meaning}"
        # After an error ack the service closes the connection (kvs-protocol.md §2.3): stop sending, but
        # read on until it does, so acks it already queued (a PERSISTED of an earlier fragment) still count.
        self._fail(time.monotonic())
        if out.refusal is RefusalScope.RETRY:
            self.retry_reason = f"fragment {entry.seq} refused with {err.code} ({err.error_id}); sending it again"
        elif out.refusal is RefusalScope.FRAGMENT:
            up.emit(EngineMessage("error", f"Fragment {entry.seq} was refused: {what} It is skipped."))
            up.buffer.finish(entry.seq, failed=True)
            self.retry_reason = f"fragment {entry.seq} was refused ({err.code}); going on with the next"
        else:
            self.stop_reason = f"The service refuses all data for stream {up.stream}: {what} {err.remedy}"

    def _refused_without_fragment(self, ack: Ack) -> None:
        """An ERROR ack that names no fragment on this connection (e.g. FragmentTimecode 0) still says what the
        service thinks: a stream-wide one stops the run, any other ends this connection."""
        err = error_for(ack.error_id or 0)
        what = f"{err.code} ({err.error_id}): {err.meaning}"
        self._fail(time.monotonic())
        if err.scope is RefusalScope.STREAM:
            self.stop_reason = f"The service refuses all data for stream {self.up.stream}: {what} {err.remedy}"
        else:
            self.up.emit(EngineMessage("warning", f"The service sent {what} for no fragment on this connection; "
                                                  "reconnecting."))
            self.retry_reason = f"the service sent {err.code} ({err.error_id})"

    def _fail(self, at: float | None = None) -> None:
        if not self.failed:
            self.failed = True
            self.failed_at = at or time.monotonic()
        self.up.wake()

    # -- body --------------------------------------------------------------------------------------

    async def _body(self) -> AsyncIterator[bytes]:
        up = self.up
        first = up.buffer.first_pending()
        seq = (first if first is not None else 0) - 1
        header: bytes | None = None
        while not self.failed:
            up.changed.clear()
            frag = up.buffer.next_after(seq)
            if frag is None:
                if up.buffer.input_closed:
                    break
                await up.wait_change(1.0)
                continue
            frag_header = frag.header or up.header
            if header is None:
                header = frag_header  # one MKV header per connection
                up.bytes_sent += len(header)
                yield header
            elif frag_header != header or (time.monotonic() >= self.rotate_at and self.sent_any):
                # A fragment from an earlier run (other codec settings), or time to rotate before the
                # service's connection cap: end this connection at a fragment boundary; the next goes on.
                self.rotating = True
                break
            seq = frag.seq
            async for piece in self._fragment_bytes(frag):
                yield piece
        if self.failed:
            await _forever()  # cancelled when the connection closes; never end the body cleanly
        if header is None:
            return  # nothing was left to send
        if up.abort_requested:
            await _forever()  # a forced stop: the open fragment must not be closed on the service's side
        up.bytes_sent += len(END_OF_FRAGMENT)
        yield END_OF_FRAGMENT
        deadline = time.monotonic() + up.settings.final_ack_timeout_s
        while up.ledger.awaiting_acks() and not self.failed and time.monotonic() < deadline:
            await up.wait_change(0.5)
        if self.failed:
            await _forever()

    async def _fragment_bytes(self, frag: BufferedFragment) -> AsyncIterator[bytes]:
        up = self.up
        entry = up.ledger.add(frag.seq, frag.timecode, maybe_sent=frag.earlier_run)
        if entry.state not in (FragmentState.QUEUED, FragmentState.ERROR):
            return
        offset = 0
        started = False
        while not self.failed:
            up.changed.clear()
            got = up.buffer.read(frag.seq, offset)
            if got is None:  # gone meanwhile (refused for good, or dropped before it was sent)
                up.ledger.drop(frag.seq)
                if started and not self.failed:
                    # Never go on to the next cluster after part of one: the service would store it cut short.
                    self._fail()
                    self.retry_reason = f"fragment {frag.seq} left the buffer while it was being sent"
                return
            data, sealed = got
            if not data and sealed and offset < frag.size:  # only in the spool: read it back from disk
                data = (await in_thread(up.buffer.read_spooled, frag))[offset:]
            if data:
                if not up.limiter.unlimited:  # no sleep(0) per piece when nothing is capped
                    await self._keep_to_limits(len(data), first=not started)
                if not started:
                    started = self.sent_any = True
                    up.buffer.protect(frag.seq)  # on the wire: the buffer's bounds wait for its acks
                    up.report(up.ledger.start_attempt(frag.seq, time.monotonic()))
                offset += len(data)
                up.bytes_sent += len(data)
                yield data
                continue
            if sealed:
                up.ledger.all_sent(frag.seq, time.monotonic())
                return
            await up.wait_change(1.0)

    async def _keep_to_limits(self, size: int, first: bool) -> None:
        limiter = self.up.limiter
        if first:
            await asyncio.sleep(limiter.fragment_delay(time.monotonic()))
            limiter.fragment_started(time.monotonic())
        await asyncio.sleep(limiter.bytes_delay(time.monotonic(), size))
        limiter.sent(time.monotonic(), size)


async def _forever() -> None:
    await asyncio.Event().wait()


def _message(text: str) -> str:
    try:
        obj = json.loads(text)
        return str(obj.get("message") or obj.get("Message") or text)
    except ValueError:
        return text[:200]
