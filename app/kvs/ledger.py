"""FragmentLedger (pure): where each fragment stands with the service, and what each ack means for it.

Theory. A PutMedia producer needs one answer per fragment: what does the service have, and what must
be sent again? Everything that changes a fragment's state goes through this module, on one thread (the
uploader's); front ends see snapshots of it in events. No sockets, threads or clocks: time is passed in
(monotonic seconds).

Rule 1. A fragment is QUEUED until its first byte goes out on a connection, which makes it SENDING
        and starts a new attempt. Acks only move it forward, BUFFERING < RECEIVED < PERSISTED; an ack
        for a state it has already passed is ignored (TRANSITIONS below).
Rule 2. Acks name a fragment by its cluster timecode, and only on the connection it was sent on:
        the ledger maps the timecodes sent on the current connection (in flight).
Rule 3. A fragment is done when the service has it for good: PERSISTED, or RECEIVED on a stream
        without retention (the ack level). Done fragments leave the ledger; so do fragments found
        stored by ListFragments after their ack was lost (``mark_stored``).
Rule 4. An ERROR ack is classified by its scope (app/kvs/acks.py): RETRY keeps the fragment to be
        sent again on the next connection; FRAGMENT refuses this fragment for good (it leaves the
        ledger as refused); STREAM says the stream cannot take any data, so the run must stop and
        the fragment stays pending (kept, never counted as refused).
Rule 5. When a connection ends, every fragment in flight that is not done goes back to QUEUED, to be
        sent again from its first byte with its original timecode.
Rule 6. A connection is stale when a fragment's first byte went out longer ago than the staleness
        limit and the service has not even said BUFFERING — whether or not the response has started.
Rule 7. Latency is what the network and the service add: BUFFERING is timed from the fragment's first
        byte (the service has that byte), RECEIVED and PERSISTED from its last byte (the fragment was
        sealed and fully sent; before that the service cannot have all of it). Timing RECEIVED from the
        first byte would add the fragment's own length (≈2000 ms for 2 s fragments) to every figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from app.kvs.acks import Ack, AckError, AckEventType, RefusalScope, error_for


class FragmentState(StrEnum):
    QUEUED = "QUEUED"  # captured; not (or no longer) on a connection
    SENDING = "SENDING"  # its first byte is out on the current connection
    BUFFERING = "BUFFERING"  # the service has its first byte
    RECEIVED = "RECEIVED"  # the service has all of it
    PERSISTED = "PERSISTED"  # stored durably
    ERROR = "ERROR"  # refused (see the entry's error for the scope)
    DROPPED = "DROPPED"  # dropped unsent by the buffer's overflow policy


S = FragmentState
# Which state each ack event may move a fragment to, from which states (Rule 1).
TRANSITIONS: dict[AckEventType, tuple[FragmentState, frozenset[FragmentState]]] = {
    AckEventType.BUFFERING: (S.BUFFERING, frozenset({S.SENDING})),
    AckEventType.RECEIVED: (S.RECEIVED, frozenset({S.SENDING, S.BUFFERING})),
    AckEventType.PERSISTED: (S.PERSISTED, frozenset({S.SENDING, S.BUFFERING, S.RECEIVED})),
    AckEventType.ERROR: (S.ERROR, frozenset({S.SENDING, S.BUFFERING, S.RECEIVED})),
}


@dataclass
class LedgerEntry:
    seq: int
    timecode: int  # cluster timecode (ms); acks name fragments by it
    state: FragmentState = FragmentState.QUEUED
    attempts: int = 0
    fragment_number: str | None = None
    first_byte_at: float | None = None  # this attempt's first byte, monotonic s
    last_byte_at: float | None = None  # this attempt's last byte (sealed and fully sent), monotonic s
    fully_sent: bool = False  # every byte went out on some connection: the service may have it
    received: bool = False  # the service said RECEIVED (or more) for it on some connection
    latency_ms: dict[str, int] = field(default_factory=dict)  # ack event -> ms, timed as Rule 7 says
    error: AckError | None = None


@dataclass(frozen=True)
class AckOutcome:
    entry: LedgerEntry | None  # None: the ack names no fragment in flight (ignored)
    changed: bool = False  # the entry's state moved: tell the front ends
    done: bool = False  # the service has it for good: release it
    refusal: RefusalScope | None = None  # set for ERROR acks


class FragmentLedger:
    def __init__(self, final_state: FragmentState = FragmentState.PERSISTED) -> None:
        if final_state not in (FragmentState.PERSISTED, FragmentState.RECEIVED):
            raise ValueError("the ack level is PERSISTED or RECEIVED")
        self.final_state = final_state
        self._entries: dict[int, LedgerEntry] = {}
        self._in_flight: dict[int, int] = {}  # timecode -> seq, on the current connection

    # -- queries ------------------------------------------------------------------------------

    def __contains__(self, seq: int) -> bool:
        return seq in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, seq: int) -> LedgerEntry | None:
        return self._entries.get(seq)

    def in_flight(self) -> list[LedgerEntry]:
        return [self._entries[s] for s in self._in_flight.values()]

    def awaiting_acks(self) -> bool:
        """Fragments sent on this connection that the service has not yet confirmed for good."""
        return bool(self._in_flight)

    def unconfirmed_sent(self) -> list[LedgerEntry]:
        """Fragments fully sent at some point but never confirmed: the service may have stored them."""
        return sorted((e for e in self._entries.values() if e.fully_sent), key=lambda e: e.seq)

    def stale(self, now: float, limit_s: float) -> LedgerEntry | None:
        """Rule 6: the first fragment that has waited too long for its BUFFERING ack."""
        for entry in self.in_flight():
            if entry.state is S.SENDING and entry.first_byte_at is not None and now - entry.first_byte_at > limit_s:
                return entry
        return None

    # -- changes ------------------------------------------------------------------------------

    def add(self, seq: int, timecode: int, *, maybe_sent: bool = False) -> LedgerEntry:
        """A fragment to send; ``maybe_sent`` for one from an earlier run, which may have sent it."""
        entry = self._entries.get(seq)
        if entry is None:
            entry = self._entries[seq] = LedgerEntry(seq, timecode, fully_sent=maybe_sent)
        return entry

    def start_attempt(self, seq: int, now: float) -> LedgerEntry:
        """Its first byte goes out on the current connection (Rule 1)."""
        entry = self._entries[seq]
        if entry.state not in (S.QUEUED, S.ERROR):
            raise ValueError(f"fragment {seq} is {entry.state}, not waiting to be sent")
        entry.state = S.SENDING
        entry.attempts += 1
        entry.first_byte_at = now
        entry.last_byte_at = None
        entry.latency_ms = {}
        entry.error = None
        self._in_flight[entry.timecode] = seq
        return entry

    def all_sent(self, seq: int, now: float | None = None) -> None:
        """Its last byte went out (it was sealed and fully sent); ``now`` starts Rule 7's clock."""
        entry = self._entries.get(seq)
        if entry is not None:
            entry.fully_sent = True
            if now is not None and entry.first_byte_at is not None and entry.last_byte_at is None:
                entry.last_byte_at = now

    def apply(self, ack: Ack, now: float) -> AckOutcome:
        """Rules 1-4 for one ack on the current connection."""
        if ack.event_type is AckEventType.IDLE or ack.fragment_timecode is None:
            return AckOutcome(None)
        seq = self._in_flight.get(ack.fragment_timecode)
        entry = self._entries.get(seq) if seq is not None else None
        if entry is None:
            return AckOutcome(None)
        target, sources = TRANSITIONS[ack.event_type]
        if entry.state not in sources:
            return AckOutcome(entry)  # an ack for a state it has passed
        if ack.fragment_number:
            entry.fragment_number = ack.fragment_number
        since = _latency_origin(entry, ack.event_type, now)
        if since is not None:
            entry.latency_ms[ack.event_type.value] = max(0, round((now - since) * 1000))
        entry.state = target
        if target is S.ERROR:
            err = error_for(ack.error_id or 0)
            entry.error = err
            if err.scope is RefusalScope.FRAGMENT:
                self._forget(entry)  # refused for good (Rule 4)
            return AckOutcome(entry, changed=True, refusal=err.scope)
        entry.received = entry.received or target in (S.RECEIVED, S.PERSISTED)
        done = target is S.PERSISTED or target is self.final_state
        if done:
            self._forget(entry)
        return AckOutcome(entry, changed=True, done=done)

    def end_connection(self) -> list[LedgerEntry]:
        """Rule 5: what was in flight and is not done goes back to QUEUED; returns those whose state changed."""
        changed = []
        for seq in self._in_flight.values():
            entry = self._entries.get(seq)
            if entry is None:
                continue
            if entry.state is not S.QUEUED and not (entry.state is S.ERROR and entry.error is not None
                                                   and entry.error.scope is RefusalScope.STREAM):
                entry.state = S.QUEUED
                changed.append(entry)
            entry.first_byte_at = entry.last_byte_at = None
        self._in_flight.clear()
        return changed

    def mark_stored(self, seq: int) -> LedgerEntry | None:
        """ListFragments says the service stored it although its ack never came (Rule 3)."""
        entry = self._entries.get(seq)
        if entry is None:
            return None
        entry.state = S.PERSISTED
        self._forget(entry)
        return entry

    def drop(self, seq: int) -> LedgerEntry | None:
        """The buffer let it go unsent (overflow); it is no longer ours to send."""
        entry = self._entries.get(seq)
        if entry is not None:
            entry.state = S.DROPPED
            self._forget(entry)
        return entry

    def retain(self, seqs: Iterable[int]) -> None:
        """Forget fragments that are no longer buffered (dropped by the overflow policy)."""
        keep = set(seqs)
        for seq in [s for s in self._entries if s not in keep]:
            self._forget(self._entries[seq])

    def _forget(self, entry: LedgerEntry) -> None:
        self._entries.pop(entry.seq, None)
        if self._in_flight.get(entry.timecode) == entry.seq:
            del self._in_flight[entry.timecode]


def _latency_origin(entry: LedgerEntry, event: AckEventType, now: float) -> float | None:
    """Rule 7: the moment an ack's latency is timed from (None: no attempt under way)."""
    if entry.first_byte_at is None:
        return None
    if event is AckEventType.BUFFERING:
        return entry.first_byte_at
    if event is AckEventType.ERROR:  # may come mid-fragment: from its last byte if it went out, else its first
        return entry.last_byte_at if entry.last_byte_at is not None else entry.first_byte_at
    if entry.last_byte_at is None:
        # The service has all of it, so its last byte is out, though the sender had not said so yet (the
        # seal was not seen before the ack): from now on it counts as sent, and this ack as immediate.
        entry.last_byte_at = now
    return entry.last_byte_at
