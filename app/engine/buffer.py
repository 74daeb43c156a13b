"""FragmentBuffer: every fragment is kept until the service has it (PERSISTED, or RECEIVED for a
stream without retention), bounded by bytes and duration.

Theory: the encoder thread appends frames to the open fragment and seals it; the uploader reads
fragments in order and may read one again after a reconnect, from its first byte, with its original
timecode. When the bounds are passed, the oldest whole fragments are dropped (never the open one)
and counted: that is the only way captured data leaves without being acknowledged. Thread-safe; a
``listener`` is called after every change (the uploader uses it to wake its event loop).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_MAX_BYTES = 128 * 1024 * 1024  # like kvssink's default storage size
DEFAULT_MAX_SECONDS = 120.0  # like kvssink's default buffer duration


@dataclass
class BufferedFragment:
    seq: int
    timecode: int
    data: bytearray = field(default_factory=bytearray)
    frames: int = 0
    first_index: int = -1
    last_index: int = -1
    sealed: bool = False
    state: str = "QUEUED"
    fragment_number: str | None = None
    attempts: int = 0
    sent_at: float | None = None  # monotonic time its first byte was sent on the current connection
    latency_ms: dict[str, int] = field(default_factory=dict)
    header: bytes | None = None  # connection header it needs; None = the current encoder's
    fully_sent: bool = False  # every byte went out on some connection (the service may have stored it)


class FragmentBuffer:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_seconds: float = DEFAULT_MAX_SECONDS) -> None:
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self._frags: OrderedDict[int, BufferedFragment] = OrderedDict()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._closed = False  # no more fragments will come
        self._bytes = 0
        self.produced = 0
        self.completed = 0
        self.failed = 0
        self.dropped = 0
        self.on_drop: Callable[[BufferedFragment], None] | None = None
        self.on_release: Callable[[BufferedFragment], None] | None = None  # acknowledged, refused or dropped
        self.on_seal: Callable[[BufferedFragment], None] | None = None

    # -- producer side (encoder thread) ------------------------------------------------------

    def add_frame(self, seq: int, timecode: int, data: bytes, index: int) -> BufferedFragment:
        dropped: list[BufferedFragment] = []
        with self._lock:
            frag = self._frags.get(seq)
            if frag is None:
                frag = BufferedFragment(seq, timecode, first_index=index)
                self._frags[seq] = frag
                self.produced += 1
            frag.data += data
            frag.frames += 1
            frag.last_index = index
            self._bytes += len(data)
            dropped = self._enforce_bounds()
        self._after(dropped)
        return frag

    def seal(self, seq: int) -> None:
        with self._lock:
            frag = self._frags.get(seq)
            if frag is not None:
                frag.sealed = True
        if frag is not None and self.on_seal is not None:
            self.on_seal(frag)
        self._notify()

    def add_sealed(self, seq: int, timecode: int, data: bytes, frames: int, header: bytes) -> None:
        """A whole fragment from an earlier run (the spool)."""
        with self._lock:
            self._frags[seq] = BufferedFragment(seq, timecode, bytearray(data), frames, sealed=True, header=header)
            self._bytes += len(data)
            self.produced += 1
        self._notify()

    def close_input(self) -> None:
        with self._lock:
            self._closed = True
            for f in self._frags.values():
                f.sealed = True
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

    def finish(self, seq: int, failed: bool = False) -> None:
        """The service has it (or refused it for good): let it go."""
        with self._lock:
            frag = self._frags.pop(seq, None)
            if frag is not None:
                self._bytes -= len(frag.data)
                if failed:
                    self.failed += 1
                else:
                    self.completed += 1
        if frag is not None and self.on_release is not None:
            self.on_release(frag)
        self._notify()

    def empty(self) -> bool:
        with self._lock:
            return not self._frags

    def drained(self) -> bool:
        """No more input and nothing left to acknowledge."""
        with self._lock:
            return self._closed and not self._frags

    def stats(self) -> tuple[int, int, float]:
        """(fragments, bytes, seconds) currently held."""
        with self._lock:
            if not self._frags:
                return 0, 0, 0.0
            first = next(iter(self._frags.values()))
            last = next(reversed(self._frags.values()))
            return len(self._frags), self._bytes, (last.timecode - first.timecode) / 1000

    def add_listener(self, fn: Callable[[], None]) -> None:
        self._listeners.append(fn)

    def abandon_all(self) -> int:
        """Forced stop: count what is left as dropped."""
        with self._lock:
            n = len(self._frags)
            self.dropped += n
            self._frags.clear()
            self._bytes = 0
        self._notify()
        return n

    # -- internals -----------------------------------------------------------------------------

    def _enforce_bounds(self) -> list[BufferedFragment]:
        dropped = []
        while len(self._frags) > 1:
            first = next(iter(self._frags.values()))
            last = next(reversed(self._frags.values()))
            over_bytes = self._bytes > self.max_bytes
            over_time = (last.timecode - first.timecode) / 1000 > self.max_seconds
            if not (over_bytes or over_time) or not first.sealed:
                break
            self._frags.popitem(last=False)
            self._bytes -= len(first.data)
            self.dropped += 1
            first.state = "DROPPED"
            dropped.append(first)
        return dropped

    def _after(self, dropped: list[BufferedFragment]) -> None:
        for f in dropped:
            if self.on_drop is not None:
                self.on_drop(f)
            if self.on_release is not None:
                self.on_release(f)
        self._notify()

    def _notify(self) -> None:
        for fn in self._listeners:
            fn()
