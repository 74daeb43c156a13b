"""FragmentBuffer: the bytes of every fragment the service does not have yet, bounded in memory.

Theory: the encoder thread appends frames to the open fragment and seals it; the uploader reads
fragments in order and may read one again after a reconnect, from its first byte, with its original
timecode. A fragment leaves when the service has it (``finish``) or refused it for good.

Memory is bounded by bytes and by the time span of what it holds. Past a bound, the oldest sealed
fragment leaves memory: if the spool holds a durable copy of it, only its bytes are evicted (it stays
pending and is read back from disk when sent); otherwise it is dropped, counted and reported. Two kinds
are never dropped: the open fragment, and fragments the uploader has on the wire (``protect``): dropping
one half sent would let the service store it cut short, and its acks would go unheard. The bound waits
for their acks instead. Fragments from an earlier run (the spool) live on disk only, so the memory
bounds never touch them: the spool has its own size limit.

Where each fragment stands with the service is not kept here but in the uploader's FragmentLedger.
Thread-safe; listeners are called after every change (the uploader uses one to wake its loop).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_BYTES = 128 * 1024 * 1024  # like kvssink's default storage size
DEFAULT_MAX_SECONDS = 120.0  # like kvssink's default buffer duration


@dataclass
class BufferedFragment:
    seq: int
    timecode: int
    data: bytearray | None = field(default_factory=bytearray)  # None: its bytes are only in the spool
    size: int = 0
    frames: int = 0
    first_index: int = -1
    last_index: int = -1
    sealed: bool = False
    header: bytes | None = None  # connection header it needs; None = the current encoder's
    spool_path: Path | None = None  # its durable copy, if the spool has one
    earlier_run: bool = False  # loaded from the spool at start
    tags: tuple[tuple[str, str], ...] = ()  # its metadata (already in its bytes), for the front ends


class FragmentBuffer:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_seconds: float = DEFAULT_MAX_SECONDS) -> None:
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self._frags: OrderedDict[int, BufferedFragment] = OrderedDict()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._closed = False  # no more fragments will come
        self._mem_bytes = 0
        self._max_seq: int | None = None  # the newest fragment ever started: seqs only grow
        self._protected: set[int] = set()  # on the wire now: never dropped
        self.produced = 0
        self.completed = 0
        self.failed = 0
        self.dropped = 0
        self.on_drop: Callable[[BufferedFragment, str], None] | None = None  # (fragment, why)
        self.on_release: Callable[[BufferedFragment, bool], None] | None = None  # (fragment, refused)
        self.on_seal: Callable[[BufferedFragment], Path | None] | None = None  # returns its spool path

    # -- producer side (encoder thread) ------------------------------------------------------

    def add_frame(self, seq: int, timecode: int, data: bytes, index: int, *, counts: bool = True,
                  tags: tuple[tuple[str, str], ...] = ()) -> BufferedFragment | None:
        """Append a frame to fragment ``seq`` (a new seq starts a fragment, with ``tags``). None when that fragment
        is already gone (refused for good while it was still being encoded): its frames go nowhere. ``counts``:
        the frame counts as one of the fragment's frames (pictures do; audio blocks only add bytes)."""
        with self._lock:
            frag = self._frags.get(seq)
            if frag is None:
                if self._max_seq is not None and seq <= self._max_seq:
                    return None
                frag = BufferedFragment(seq, timecode, first_index=index, tags=tags)
                self._frags[seq] = frag
                self._max_seq = seq
                self.produced += 1
            if frag.sealed or frag.data is None:
                return None  # a sealed fragment never grows (its copies, sent or spooled, are final)
            frag.data += data
            frag.size += len(data)
            if counts:
                frag.frames += 1
                frag.last_index = index
            self._mem_bytes += len(data)
            dropped = self._enforce_bounds()
        self._after(dropped)
        return frag

    def seal(self, seq: int) -> None:
        with self._lock:
            frag = self._frags.get(seq)
            if frag is not None:
                frag.sealed = True
        if frag is not None and self.on_seal is not None:
            path = self.on_seal(frag)  # written outside the lock: disk is slow
            with self._lock:
                frag.spool_path = path
        with self._lock:
            dropped = self._enforce_bounds()
        self._after(dropped)

    def add_spooled(self, seq: int, timecode: int, path: Path, size: int, frames: int, header: bytes) -> None:
        """A whole fragment from an earlier run, read from disk when it is sent."""
        with self._lock:
            self._frags[seq] = BufferedFragment(seq, timecode, None, size, frames, sealed=True, header=header,
                                                spool_path=path, earlier_run=True)
            self.produced += 1
        self._notify()

    def has_room(self, timecode: int, size: int) -> bool:
        """Whether a fragment starting at ``timecode`` and growing to ``size`` bytes keeps what is in memory
        within both bounds, so nothing is dropped. A source that can wait (a file sent as recorded) asks
        before each fragment; fragments on the wire are counted too, so the answer errs on waiting."""
        with self._lock:
            sealed = [f for f in self._frags.values() if f.data is not None and f.sealed]
            if not sealed:
                return True  # only the open fragment is held: waiting could not free anything
            return (self._mem_bytes + size <= self.max_bytes
                    and (timecode - sealed[0].timecode) / 1000 <= self.max_seconds)

    def close_input(self) -> None:
        """No more frames. A fragment still open (its encoder failed mid-way) is sealed as it is, and goes to the
        spool like any other, so what was encoded of it survives a failed upload too."""
        with self._lock:
            self._closed = True
            still_open = [f for f in self._frags.values() if not f.sealed]
            for f in still_open:
                f.sealed = True
        if self.on_seal is not None:
            for f in still_open:
                if f.data is not None:
                    path = self.on_seal(f)
                    with self._lock:
                        f.spool_path = path
        self._notify()

    # -- consumer side (uploader) ------------------------------------------------------------

    @property
    def input_closed(self) -> bool:
        return self._closed

    def first_pending(self) -> int | None:
        with self._lock:
            return next(iter(self._frags), None)

    def next_after(self, seq: int) -> BufferedFragment | None:
        """The first fragment still buffered whose seq is greater than ``seq``."""
        with self._lock:
            for s, f in self._frags.items():
                if s > seq:
                    return f
        return None

    def pending(self) -> list[BufferedFragment]:
        with self._lock:
            return list(self._frags.values())

    def get(self, seq: int) -> BufferedFragment | None:
        with self._lock:
            return self._frags.get(seq)

    def protect(self, seq: int) -> None:
        """The uploader has started sending it on the current connection: keep it until acked or unprotected."""
        with self._lock:
            self._protected.add(seq)

    def unprotect_all(self) -> None:
        """The connection ended: what it had on the wire may be dropped again if the bounds need it."""
        with self._lock:
            self._protected.clear()
            dropped = self._enforce_bounds()
        self._after(dropped)

    def protected_timecodes(self) -> set[int]:
        with self._lock:
            return {f.timecode for s, f in self._frags.items() if s in self._protected}

    def read(self, seq: int, offset: int) -> tuple[bytes, bool] | None:
        """(bytes from ``offset`` that are in memory, whether the fragment is sealed); None if it is gone.

        A fragment whose bytes were evicted to the spool gives b"" here: read it with ``read_spooled``.
        """
        with self._lock:
            frag = self._frags.get(seq)
            if frag is None:
                return None
            return (bytes(frag.data[offset:]) if frag.data is not None else b""), frag.sealed

    @staticmethod
    def read_spooled(frag: BufferedFragment) -> bytes:
        """A sealed fragment's bytes from its durable copy (blocking: call it off the event loop)."""
        assert frag.spool_path is not None
        return frag.spool_path.read_bytes()

    def finish(self, seq: int, failed: bool = False) -> None:
        """The service has it (or refused it for good): let it go."""
        with self._lock:
            frag = self._frags.pop(seq, None)
            self._protected.discard(seq)
            if frag is not None:
                self._mem_bytes -= len(frag.data) if frag.data is not None else 0
                if failed:
                    self.failed += 1
                else:
                    self.completed += 1
        if frag is not None and self.on_release is not None:
            self.on_release(frag, failed)
        self._notify()

    def lose_copy(self, timecode: int, reason: str) -> None:
        """The spool deleted its durable copy (it ran out of room): a fragment still in memory stays pending
        (memory-only from now on); one that was only on disk is dropped, counted and reported."""
        with self._lock:
            frag = next((f for f in self._frags.values() if f.timecode == timecode and f.sealed), None)
            if frag is None:
                return
            frag.spool_path = None
            lost = frag.data is None
            if lost:
                self._pop_dropped(frag)
            dropped = [frag] if lost else []
            dropped += self._enforce_bounds()
        self._after(dropped, reason)

    def empty(self) -> bool:
        with self._lock:
            return not self._frags

    def drained(self) -> bool:
        """No more input and nothing left to acknowledge."""
        with self._lock:
            return self._closed and not self._frags

    def stats(self) -> tuple[int, int, float]:
        """(fragments, bytes, seconds of this run's video) currently pending, in memory or in the spool."""
        with self._lock:
            if not self._frags:
                return 0, 0, 0.0
            size = sum(f.size for f in self._frags.values())
            ours = [f for f in self._frags.values() if not f.earlier_run]
            seconds = (ours[-1].timecode - ours[0].timecode) / 1000 if ours else 0.0
            return len(self._frags), size, seconds

    def add_listener(self, fn: Callable[[], None]) -> None:
        self._listeners.append(fn)

    def abandon_all(self) -> tuple[list[BufferedFragment], list[BufferedFragment]]:
        """The run ended with fragments pending: (lost, kept). Those with a durable copy stay in the spool
        for the next run; the others are lost and counted as dropped."""
        with self._lock:
            kept = [f for f in self._frags.values() if f.spool_path is not None]
            lost = [f for f in self._frags.values() if f.spool_path is None]
            self.dropped += len(lost)
            self._frags.clear()
            self._mem_bytes = 0
        self._notify()
        return lost, kept

    # -- internals -----------------------------------------------------------------------------

    def _enforce_bounds(self) -> list[BufferedFragment]:
        """Leave memory, oldest sealed first, until within both bounds (called with the lock held).

        Fragments on the wire are left out of the reckoning: they go when their acks come."""
        dropped: list[BufferedFragment] = []
        if self._mem_bytes <= self.max_bytes and self._frags:
            # Within both bounds counting every fragment (the usual case, checked for every frame added): the
            # pool below is a subset, so it is within them too. Saves building it per frame.
            first = next(iter(self._frags.values()))
            last = self._frags[next(reversed(self._frags))]
            if (last.timecode - first.timecode) / 1000 <= self.max_seconds:
                return dropped
        while True:
            pool = [f for f in self._frags.values() if f.data is not None and f.seq not in self._protected]
            if len(pool) < 2:
                break
            first, last = pool[0], pool[-1]
            over = self._mem_bytes > self.max_bytes or (last.timecode - first.timecode) / 1000 > self.max_seconds
            if not over or not first.sealed:
                break
            if first.spool_path is not None:
                self._mem_bytes -= len(first.data or b"")
                first.data = None  # evicted: it is safe on disk and is read back when sent
            else:
                self._pop_dropped(first)
                dropped.append(first)
        return dropped

    def _pop_dropped(self, frag: BufferedFragment) -> None:
        self._frags.pop(frag.seq, None)
        self._mem_bytes -= len(frag.data) if frag.data is not None else 0
        self.dropped += 1

    def _after(self, dropped: list[BufferedFragment], reason: str = "the buffer is full") -> None:
        for f in dropped:
            if self.on_drop is not None:
                self.on_drop(f, reason)
        self._notify()

    def _notify(self) -> None:
        for fn in self._listeners:
            fn()
