"""The uploader's policy without sockets: what a connection does with acks it cannot place, what the body
does on a forced stop, and how lost acks are checked with ListFragments. The control plane is a stand-in
here: ListFragments' eventual consistency and an IAM denial are AWS behaviours our endpoint does not have."""

from __future__ import annotations

import asyncio
import threading

from app.engine.blocking import in_thread
from app.engine.buffer import FragmentBuffer
from app.engine.events import EngineEvent, EngineMessage
from app.engine.putmedia_connection import END_OF_FRAGMENT, PutMediaConnection
from app.engine.uploader import Uploader, UploaderSettings
from app.errors import CredentialsError
from app.kvs.acks import Ack, AckEventType, RefusalScope


class StandInControl:
    """ListFragments answers: a list of sets (one per call), or an exception."""

    region = "us-west-2"
    endpoint_url = None

    def __init__(self, answers: list[set[int] | Exception]) -> None:
        self.answers = answers
        self.calls = 0

    def stored_producer_timestamps(self, stream: str, start: int, end: int) -> set[int]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def make(buf: FragmentBuffer, control: object = None) -> tuple[Uploader, list[EngineEvent]]:
    events: list[EngineEvent] = []
    up = Uploader(buffer=buf, header=b"HDR", control=control or StandInControl([set()]),  # type: ignore[arg-type]
                  stream="s", retention_zero=False, emit=events.append, settings=UploaderSettings())
    return up, events


def test_a_forced_stop_never_closes_the_open_fragment_on_the_service() -> None:
    async def main() -> list[bytes]:
        buf = FragmentBuffer()
        up, _ = make(buf)
        body = PutMediaConnection(up, "http://x", 0)._body()
        buf.add_frame(0, 1000, b"[0:f0]", 0)
        out = [await body.__anext__(), await body.__anext__()]
        up._abort.set()
        buf.close_input()  # even if the input ends now, the body must not say "end of fragment"
        try:
            out.append(await asyncio.wait_for(body.__anext__(), 0.5))
        except (TimeoutError, StopAsyncIteration):
            pass
        await body.aclose()
        return out

    assert END_OF_FRAGMENT not in asyncio.run(main())


def test_an_error_ack_for_no_fragment_in_flight_still_counts() -> None:
    up, events = make(FragmentBuffer())
    stream_wide = PutMediaConnection(up, "http://x", 0)
    stream_wide._on_ack(Ack(AckEventType.ERROR, 0, "9134", 4501, "KMS_KEY_DISABLED"))
    assert stream_wide.stop_reason is not None
    assert "KMS_KEY_DISABLED (4501)" in stream_wide.stop_reason
    other = PutMediaConnection(up, "http://x", 0)
    other._on_ack(Ack(AckEventType.ERROR, 0, "9134", 5000, "INTERNAL_ERROR"))
    assert other.failed
    assert other.retry_reason == "the service sent INTERNAL_ERROR (5000)"
    assert any(isinstance(e, EngineMessage) and "INTERNAL_ERROR (5000)" in e.text for e in events)


def _sent_and_received(up: Uploader, buf: FragmentBuffer) -> None:
    buf.add_frame(0, 1000, b"x", 0)
    buf.seal(0)
    up.ledger.add(0, 1000)
    up.ledger.start_attempt(0, 0.0)
    up.ledger.all_sent(0)
    out = up.ledger.apply(Ack(AckEventType.RECEIVED, 1000, "9134"), 0.5)
    assert out.refusal is None
    up.ledger.end_connection()  # the connection died before PERSISTED


def test_a_received_fragment_is_asked_about_again_before_it_is_resent(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import app.engine.uploader as uploader

    monkeypatch.setattr(uploader, "LISTING_LAG_S", 0.01)
    buf = FragmentBuffer()
    control = StandInControl([set(), {1000}])  # not listed yet, then listed (eventual consistency)
    up, events = make(buf, control)
    _sent_and_received(up, buf)
    asyncio.run(up._skip_already_stored())
    assert control.calls == 2
    assert buf.empty()
    assert buf.completed == 1
    assert any(isinstance(e, EngineMessage) and "not sent again" in e.text for e in events)


def test_listfragments_denied_is_said_once_and_not_asked_again() -> None:
    buf = FragmentBuffer()
    control = StandInControl([CredentialsError("denied")])
    up, events = make(buf, control)
    _sent_and_received(up, buf)
    asyncio.run(up._skip_already_stored())
    asyncio.run(up._skip_already_stored())
    assert control.calls == 1
    warnings = [e for e in events if isinstance(e, EngineMessage) and e.level == "warning"]
    assert len(warnings) == 1
    assert "kinesisvideo:ListFragments" in warnings[0].text
    assert not buf.empty()  # it will be sent again


def test_blocking_calls_run_on_daemon_threads() -> None:
    """A forced quit must not wait for a slow botocore call: the interpreter does not wait for daemons."""
    async def main() -> bool:
        return await in_thread(lambda: threading.current_thread().daemon)

    assert asyncio.run(main()) is True


def test_scopes_are_explicit() -> None:
    from app.kvs.acks import ERRORS

    assert {e.error_id for e in ERRORS.values() if e.scope is RefusalScope.STREAM} == {4008, *range(4500, 4508)}
    assert all(e.remedy for e in ERRORS.values() if e.scope is RefusalScope.STREAM)
