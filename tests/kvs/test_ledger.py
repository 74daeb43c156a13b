"""FragmentLedger: the rules at the top of app/kvs/ledger.py, one by one, without sockets or threads."""

from __future__ import annotations

import pytest

from app.kvs.acks import Ack, AckEventType, RefusalScope, error_for
from app.kvs.ledger import FragmentLedger, FragmentState

B, R, P, E = AckEventType.BUFFERING, AckEventType.RECEIVED, AckEventType.PERSISTED, AckEventType.ERROR
S = FragmentState


def ack(kind: AckEventType, timecode: int, error_id: int | None = None) -> Ack:
    return Ack(kind, timecode, f"9134{timecode:043d}", error_id)


def sent(ledger: FragmentLedger, seq: int, timecode: int, now: float = 0.0, last_byte: float | None = None) -> None:
    ledger.add(seq, timecode)
    ledger.start_attempt(seq, now)
    ledger.all_sent(seq, now if last_byte is None else last_byte)


def test_acks_move_a_fragment_forward_to_done() -> None:
    ledger = FragmentLedger()
    sent(ledger, 0, 1000, now=10.0, last_byte=10.0)
    assert ledger.get(0).state is S.SENDING  # type: ignore[union-attr]
    out = ledger.apply(ack(B, 1000), 10.2)
    assert (out.changed, out.done, out.entry.state) == (True, False, S.BUFFERING)  # type: ignore[union-attr]
    assert ledger.apply(ack(R, 1000), 10.5).entry.state is S.RECEIVED  # type: ignore[union-attr]
    out = ledger.apply(ack(P, 1000), 11.0)
    assert out.done
    assert out.entry.state is S.PERSISTED
    assert out.entry.latency_ms == {"BUFFERING": 200, "RECEIVED": 500, "PERSISTED": 1000}  # type: ignore[union-attr]
    assert out.entry.fragment_number == "9134" + "0" * 39 + "1000"  # type: ignore[union-attr]
    assert 0 not in ledger
    assert not ledger.awaiting_acks()


def test_received_and_persisted_are_timed_from_the_last_byte() -> None:
    """Rule 7: a 2 s fragment whose first byte went out at 10.0 and last at 12.0 (sealed) is RECEIVED 80 ms
    and PERSISTED 300 ms after its last byte, not 2080/2300 ms after its first."""
    ledger = FragmentLedger()
    ledger.add(0, 1000)
    ledger.start_attempt(0, 10.0)
    ledger.apply(ack(B, 1000), 10.05)
    ledger.all_sent(0, 12.0)
    ledger.apply(ack(R, 1000), 12.08)
    out = ledger.apply(ack(P, 1000), 12.3)
    assert out.entry.latency_ms == {"BUFFERING": 50, "RECEIVED": 80, "PERSISTED": 300}  # type: ignore[union-attr]


def test_an_ack_before_the_seal_was_seen_counts_as_immediate() -> None:
    """RECEIVED can be read before the sender noticed its fragment was sealed: the service has every byte,
    so the last byte went out by then, and later acks are timed from that moment."""
    ledger = FragmentLedger()
    ledger.add(0, 1000)
    ledger.start_attempt(0, 10.0)
    ledger.apply(ack(R, 1000), 12.0)
    ledger.all_sent(0, 12.1)  # too late to move the origin
    out = ledger.apply(ack(P, 1000), 12.5)
    assert out.entry.latency_ms == {"RECEIVED": 0, "PERSISTED": 500}  # type: ignore[union-attr]


def test_a_new_attempt_times_from_its_own_bytes() -> None:
    ledger = FragmentLedger()
    sent(ledger, 0, 1000, now=1.0, last_byte=3.0)
    ledger.end_connection()
    ledger.start_attempt(0, 20.0)
    ledger.all_sent(0, 22.0)
    out = ledger.apply(ack(R, 1000), 22.25)
    assert out.entry.latency_ms == {"RECEIVED": 250}  # type: ignore[union-attr]


def test_an_ack_for_a_passed_state_is_ignored() -> None:
    ledger = FragmentLedger()
    sent(ledger, 0, 1000)
    ledger.apply(ack(R, 1000), 1.0)
    out = ledger.apply(ack(B, 1000), 1.1)  # late BUFFERING
    assert not out.changed
    assert ledger.get(0).state is S.RECEIVED  # type: ignore[union-attr]


def test_received_is_done_for_a_stream_without_retention() -> None:
    ledger = FragmentLedger(S.RECEIVED)
    sent(ledger, 0, 1000)
    assert ledger.apply(ack(R, 1000), 1.0).done


def test_acks_only_name_fragments_in_flight_on_this_connection() -> None:
    ledger = FragmentLedger()
    ledger.add(0, 1000)  # queued, never sent
    assert ledger.apply(ack(B, 1000), 1.0).entry is None
    assert ledger.apply(ack(B, 999), 1.0).entry is None
    assert ledger.apply(Ack(AckEventType.IDLE, None, None), 1.0).entry is None


def test_retriable_error_keeps_the_fragment_and_a_new_connection_sends_it_again() -> None:
    ledger = FragmentLedger()
    sent(ledger, 0, 1000)
    out = ledger.apply(ack(E, 1000, 5000), 1.0)
    assert out.refusal is RefusalScope.RETRY
    assert not out.done
    assert [e.seq for e in ledger.end_connection()] == [0]
    assert ledger.get(0).state is S.QUEUED  # type: ignore[union-attr]
    assert ledger.start_attempt(0, 2.0).attempts == 2
    assert ledger.get(0).error is None  # type: ignore[union-attr]


def test_fragment_refusal_skips_only_that_fragment() -> None:
    ledger = FragmentLedger()
    sent(ledger, 0, 1000)
    sent(ledger, 1, 2000)
    out = ledger.apply(ack(E, 1000, 4002), 1.0)
    assert out.refusal is RefusalScope.FRAGMENT
    assert out.entry.error.code == "MAX_FRAGMENT_DURATION_REACHED"  # type: ignore[union-attr]
    assert 0 not in ledger
    assert 1 in ledger


@pytest.mark.parametrize("error_id", [4008, 4500, 4501, 4502, 4503, 4504, 4505, 4506, 4507])
def test_stream_refusals_stop_and_keep_the_fragment(error_id: int) -> None:
    ledger = FragmentLedger()
    sent(ledger, 0, 1000)
    out = ledger.apply(ack(E, 1000, error_id), 1.0)
    assert out.refusal is RefusalScope.STREAM
    assert error_for(error_id).remedy
    ledger.end_connection()
    assert ledger.get(0).state is S.ERROR  # type: ignore[union-attr]  # kept, not skipped


def test_connection_end_requeues_what_is_not_done() -> None:
    ledger = FragmentLedger()
    sent(ledger, 0, 1000)
    sent(ledger, 1, 2000)
    ledger.add(2, 3000)  # never sent on this connection
    ledger.apply(ack(P, 1000), 1.0)
    ledger.apply(ack(R, 2000), 1.0)
    assert [e.seq for e in ledger.end_connection()] == [1]
    assert ledger.get(1).state is S.QUEUED
    assert ledger.get(1).fully_sent
    assert ledger.get(2).state is S.QUEUED  # type: ignore[union-attr]
    assert not ledger.awaiting_acks()
    assert ledger.apply(ack(P, 2000), 2.0).entry is None  # an ack from the old connection is no longer ours


def test_stale_only_while_no_buffering() -> None:
    ledger = FragmentLedger()
    ledger.add(0, 1000)
    ledger.start_attempt(0, 100.0)
    assert ledger.stale(105.0, 5.0) is None
    assert ledger.stale(105.1, 5.0).seq == 0  # type: ignore[union-attr]
    ledger.apply(ack(B, 1000), 105.2)
    assert ledger.stale(200.0, 5.0) is None


def test_unconfirmed_and_stored() -> None:
    ledger = FragmentLedger()
    ledger.add(-1, 500, maybe_sent=True)  # from an earlier run
    sent(ledger, 0, 1000)
    ledger.add(1, 2000)
    ledger.start_attempt(1, 0.0)  # half sent
    assert [e.seq for e in ledger.unconfirmed_sent()] == [-1, 0]
    assert ledger.mark_stored(0).state is S.PERSISTED  # type: ignore[union-attr]
    assert 0 not in ledger


def test_sending_twice_without_a_new_connection_is_a_bug() -> None:
    ledger = FragmentLedger()
    sent(ledger, 0, 1000)
    with pytest.raises(ValueError, match="not waiting to be sent"):
        ledger.start_attempt(0, 1.0)


def test_dropped_and_retained() -> None:
    ledger = FragmentLedger()
    for seq in range(3):
        ledger.add(seq, seq * 1000)
    assert ledger.drop(0).state is S.DROPPED  # type: ignore[union-attr]
    ledger.retain([2])
    assert len(ledger) == 1
    assert 2 in ledger
