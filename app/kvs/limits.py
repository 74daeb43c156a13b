"""Service limits on the sending side (pure): at most 5 fragments and 12.5 MB per second per stream
(kvs-protocol.md §4). ``--pace fast`` would otherwise start fragments far faster than that.

Both are sliding one-second windows; callers ask how long to wait before sending, passing the time in.
"""

from __future__ import annotations

from collections import deque

MAX_FRAGMENTS_PER_S = 5
MAX_BYTES_PER_S = 12_500_000
SAFETY = 0.8  # stay a margin below the limits


class SendLimiter:
    def __init__(self, fragments_per_s: float = MAX_FRAGMENTS_PER_S * SAFETY,
                 bytes_per_s: float = MAX_BYTES_PER_S * SAFETY) -> None:
        self.fragment_gap = 1.0 / fragments_per_s
        self.bytes_per_s = bytes_per_s
        self._last_fragment: float | None = None
        self._sent: deque[tuple[float, int]] = deque()

    def fragment_delay(self, now: float) -> float:
        """Seconds to wait before a new fragment may start."""
        if self._last_fragment is None:
            return 0.0
        return max(0.0, self._last_fragment + self.fragment_gap - now)

    def fragment_started(self, now: float) -> None:
        self._last_fragment = now

    def bytes_delay(self, now: float, size: int) -> float:
        """Seconds to wait before ``size`` more bytes keep the last second under the byte limit."""
        while self._sent and now - self._sent[0][0] >= 1.0:
            self._sent.popleft()
        in_window = sum(n for _, n in self._sent)
        if in_window + size <= self.bytes_per_s or not self._sent:
            return 0.0
        # wait until enough of the window has aged out
        excess = in_window + size - self.bytes_per_s
        for t, n in self._sent:
            excess -= n
            if excess <= 0:
                return max(0.0, t + 1.0 - now)
        return 1.0

    def sent(self, now: float, size: int) -> None:
        self._sent.append((now, size))
