"""One PutMedia connection on the local endpoint: read the body as it arrives, ack while it arrives.

Pipeline: body reader -> PutMediaIngest (pure) -> ack queue -> ack writer task, and complete
fragments -> persist queue -> persist task (fsync, then commit, in a worker thread) -> PERSISTED into
the ack queue. Queues keep ack order (RECEIVED n before PERSISTED n) while reading does not wait for
each write to the disk. Both queues are bounded: when the client does not read its acks or the disk
is slow, the reader stops taking body bytes until there is room (TCP then slows the client down),
so one connection cannot make the server's memory grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass

from aiohttp import web

from app.kvs.acks import Ack, AckEventType, error_for
from app.localkvs.faults import StreamFaults
from app.localkvs.ingest import FragmentComplete, FragmentStarted, IngestFailed, PutMediaIngest
from app.localkvs.store import FragmentRecord, Store, StreamRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionLimits:
    idle_timeout: float = 30.0  # s without data before the service closes the request
    max_connection_seconds: float = 45 * 60.0  # the service's connection cap (error 4003)
    ack_queue: int = 64  # acks waiting to be written, per connection
    persist_queue: int = 4  # complete fragments (each up to 50 MB) waiting to be stored, per connection


@dataclass
class _Fragment:
    number: str
    timecode: int
    ordinal: int


class _Drop(Exception):
    """Fault switch: cut the connection now."""


async def _until_closed(transport: asyncio.Transport | None, timeout: float) -> None:
    """Wait until the client closes the connection (at most ``timeout`` s), then make sure it is gone."""
    deadline = time.monotonic() + timeout
    while transport is not None and not transport.is_closing() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if transport is not None:
        transport.abort()


async def swallow(request: web.Request, idle_timeout: float) -> web.StreamResponse:
    """Fault switch ``hold_response``: read and drop the body, and never send a status line, like a
    proxy that swallows the request. Ends when the client gives up, or after ``idle_timeout`` s
    without data; nothing is stored and no fragment is counted (nothing reached the service)."""
    try:
        while True:
            async with asyncio.timeout(idle_timeout):  # not wait_for: it can swallow a cancel on 3.11
                if not await request.content.readany():
                    break
    except Exception as exc:  # the client left, broke the framing, or went quiet
        log.debug("putMedia held: body ended: %r", exc)
    await _until_closed(request.transport, idle_timeout)
    return web.Response(status=204)  # never written: the connection is gone


class PutMediaSession:
    def __init__(self, request: web.Request, store: Store, stream: StreamRecord, *, relative: bool,
                 start_ms: int, faults: StreamFaults, limits: SessionLimits) -> None:
        self.request = request
        self.store = store
        self.stream = stream
        self.relative = relative
        self.start_ms = start_ms
        self.faults = faults
        self.limits = limits
        self.ingest = PutMediaIngest()
        self.acks: asyncio.Queue[tuple[float, Ack]] = asyncio.Queue(limits.ack_queue)
        self.to_persist: asyncio.Queue[tuple[_Fragment, FragmentComplete]] = asyncio.Queue(limits.persist_queue)
        self.current: _Fragment | None = None
        self.stall_from: int | None = None  # fragment ordinal from which nothing is acked or stored
        self.failed = False
        self.opened = time.monotonic()

    async def run(self) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())})
        resp.enable_chunked_encoding()
        await resp.prepare(self.request)
        writer = asyncio.create_task(self._write_acks(resp))
        persister = asyncio.create_task(self._persist())
        try:
            ended = await self._read_body()
            if ended and self.stall_from is not None:
                # A stalled service never answers: hold the response until the client gives up.
                await self._wait_for_client_to_leave()
            elif ended:
                await self.to_persist.join()
                await self.acks.join()
                if self.failed:
                    # The service closes the connection after an error ack (kvs-protocol.md §2.3).
                    resp.force_close()
                await resp.write_eof()
        except _Drop:
            await self.to_persist.join()  # what was complete before the drop still lands
            await self.acks.join()
            if self.request.transport is not None:
                # close(), not abort(): acks already written still reach the client, so a fault never
                # hides that a fragment was stored (a producer would then send it twice).
                self.request.transport.close()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            # If the client left, the fragments it completed are still stored, as the service does.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.to_persist.join()), 30)
            writer.cancel()
            persister.cancel()
        return resp

    async def _wait_for_client_to_leave(self) -> None:
        await _until_closed(self.request.transport, self.limits.idle_timeout)

    async def _read_body(self) -> bool:
        """Consume the body; True when the response should be ended normally."""
        content = self.request.content
        while True:
            if time.monotonic() - self.opened > self.limits.max_connection_seconds:
                await self._fail(IngestFailed(4003, self.ingest.open_timecode, "connection too old"), self.current)
                return True
            try:
                async with asyncio.timeout(self.limits.idle_timeout):  # not wait_for: see swallow()
                    chunk = await content.readany()
            except TimeoutError:
                log.info("putMedia %s: no data for %.0f s, closing", self.stream.name, self.limits.idle_timeout)
                if self.request.transport is not None:
                    self.request.transport.close()
                return False
            except Exception as exc:  # the client vanished or sent broken chunked framing
                log.info("putMedia %s: body read failed: %s", self.stream.name, exc)
                return False
            if not chunk:
                await self._events(self.ingest.close())
                return True
            if not await self._events(self.ingest.feed(chunk)):
                return True  # an error ack was queued: end the response, then close

    async def _events(self, events: list) -> bool:
        """Handle ingest events; False once the connection must end. Waits while a queue is full."""
        for ev in events:
            if isinstance(ev, FragmentStarted):
                self.faults.ordinal += 1
                number, _seq, _ms = self.store.next_fragment_number()
                self.current = _Fragment(number, ev.timecode, self.faults.ordinal)
                if self.stall_from is None and self.faults.take("stall_after", self.current.ordinal):
                    self.stall_from = self.current.ordinal
                await self._ack(AckEventType.BUFFERING, self.current)
                if self.faults.take("drop_mid_fragment", self.current.ordinal):
                    raise _Drop
            elif isinstance(ev, FragmentComplete):
                frag = self.current
                assert frag is not None
                assert frag.timecode == ev.timecode
                self.current = None
                error_id = self.faults.take_error(frag.ordinal)
                if error_id is not None:
                    return await self._fail(IngestFailed(error_id, frag.timecode, "fault switch error_ack"), frag)
                if await asyncio.to_thread(self.store.get_stream, arn=self.stream.arn) is None:
                    # Deleted while this connection was open: the service's 4008 STREAM_NOT_ACTIVE
                    # ("the stream no longer exists", kvs-protocol.md §3.1).
                    return await self._fail(IngestFailed(4008, frag.timecode, "the stream was deleted"), frag)
                await self._ack(AckEventType.RECEIVED, frag)
                if self.faults.take("drop_after_received", frag.ordinal):
                    raise _Drop
                if self.stream.retention_hours > 0 and not self._stalled(frag):
                    await self.to_persist.put((frag, ev))
            elif isinstance(ev, IngestFailed):
                return await self._fail(ev, self.current)
        return True

    async def _fail(self, failure: IngestFailed, frag: _Fragment | None = None) -> bool:
        number = frag.number if frag else self.store.next_fragment_number()[0]
        timecode = failure.timecode if failure.timecode is not None else (frag.timecode if frag else 0)
        err = error_for(failure.error_id)
        # The one log line for this error ack: a user of the endpoint sees why their producer was refused.
        log.info("putMedia %s: ERROR %d %s at timecode %s: %s", self.stream.name, err.error_id, err.code,
                 timecode, failure.reason)
        # Fragments completed before the failure are stored and acknowledged first: the ERROR is the
        # last ack of the response, which then ends (only the reader feeds this queue, so no deadlock).
        await self.to_persist.join()
        await self._put(Ack(AckEventType.ERROR, timecode, number, err.error_id, err.code), frag)
        self.failed = True
        return False

    def _stalled(self, frag: _Fragment | None) -> bool:
        return self.stall_from is not None and (frag is None or frag.ordinal >= self.stall_from)

    async def _ack(self, kind: AckEventType, frag: _Fragment) -> None:
        await self._put(Ack(kind, frag.timecode, frag.number), frag)

    async def _put(self, ack: Ack, frag: _Fragment | None) -> None:
        if not self._stalled(frag):
            await self.acks.put((time.monotonic() + self.faults.plan.ack_delay, ack))

    async def _write_acks(self, resp: web.StreamResponse) -> None:
        while True:
            due, ack = await self.acks.get()
            try:
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                data = bytes(ack)
                step = self.faults.plan.split_acks
                if step > 0:
                    for i in range(0, len(data), step):
                        await resp.write(data[i : i + step])
                        await asyncio.sleep(0.005)  # let each piece leave as its own segment
                else:
                    await resp.write(data)
            except (ConnectionError, RuntimeError) as exc:
                log.info("putMedia %s: cannot write ack: %s", self.stream.name, exc)
            finally:
                self.acks.task_done()

    async def _persist(self) -> None:
        while True:
            frag, complete = await self.to_persist.get()
            try:
                await asyncio.to_thread(self._store, frag, complete)
                if self.faults.take("drop_after_persisted", frag.ordinal):
                    # Stored, but the producer never hears it: only a check of what was stored
                    # (ListFragments) can spare it a duplicate.
                    await self.acks.join()
                    if self.request.transport is not None:
                        self.request.transport.close()
                    continue
                await self._ack(AckEventType.PERSISTED, frag)
            except OSError as exc:
                err = error_for(5001)
                log.warning("putMedia %s: ERROR %d %s at timecode %s: storing fragment %s failed: %s",
                            self.stream.name, err.error_id, err.code, frag.timecode, frag.number, exc)
                await self._put(Ack(AckEventType.ERROR, frag.timecode, frag.number, err.error_id, err.code), frag)
            finally:
                self.to_persist.task_done()

    def _store(self, frag: _Fragment, complete: FragmentComplete) -> None:
        header = complete.header
        header_id = self.store.header_id(header.timecode_scale_ns, header.tracks_raw)
        producer_ms = round(complete.timecode * header.timecode_scale_ns / 1e6)
        if self.relative:
            producer_ms += self.start_ms
        folder = hashlib.sha256(self.stream.arn.encode()).hexdigest()[:16]
        rec = FragmentRecord(
            stream=self.stream.name, number=frag.number, producer_ms=producer_ms,
            server_ms=int(time.time() * 1000), duration_ms=complete.duration_ms,
            size=complete.received_bytes, frames=complete.frame_count, header_id=header_id,
            path=f"{folder}/{frag.number}.cluster", metadata=complete.metadata)
        self.store.add_fragment(rec, int(frag.number[-18:]), complete.cluster)
