"""Service limits on the sending side (pure): at most 5 fragments and 12.5 MB per second per stream, and
fragments of at most 10 s (kvs-protocol.md §4). ``--pace fast`` and ``--copy`` would otherwise start
fragments far faster than that.

The per-second caps are the service's, so they apply where the service is: an AWS endpoint (no endpoint
URL, or an amazonaws.com / amazonaws.com.cn one). A custom endpoint (the local one, a compatible server)
gets no cap unless the user sets a byte rate (``--max-rate``), which may also lower the cap for AWS.

Callers ask how long to wait before sending, passing the time in.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_FRAGMENTS_PER_S = 5
MAX_BYTES_PER_S = 12_500_000
MAX_FRAGMENT_MS = 10_000  # the service refuses a longer fragment (MAX_FRAGMENT_DURATION_REACHED, 4002)
SAFETY = 0.8  # stay a margin below the limits
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")


class SendLimiter:
    """``None`` for a cap means none: the delays are then always 0.

    Bytes are paced, not counted in a window: after ``size`` bytes the next piece may go ``size / rate``
    seconds later. A whole fragment read at once (``--pace fast``) is one piece, so a window count would let
    pieces larger than a second's worth through at up to one per second, above the cap; pacing keeps any
    second under the cap plus one piece, and the long-run rate at the cap."""

    def __init__(self, fragments_per_s: float | None = MAX_FRAGMENTS_PER_S * SAFETY,
                 bytes_per_s: float | None = MAX_BYTES_PER_S * SAFETY) -> None:
        self.fragment_gap = 1.0 / fragments_per_s if fragments_per_s else 0.0
        self.bytes_per_s = bytes_per_s
        self._last_fragment: float | None = None
        self._next_bytes = float("-inf")  # when the next piece may go (monotonic s)

    @property
    def unlimited(self) -> bool:
        return not self.fragment_gap and not self.bytes_per_s

    def fragment_delay(self, now: float) -> float:
        """Seconds to wait before a new fragment may start."""
        if self._last_fragment is None or not self.fragment_gap:
            return 0.0
        return max(0.0, self._last_fragment + self.fragment_gap - now)

    def fragment_started(self, now: float) -> None:
        self._last_fragment = now

    def bytes_delay(self, now: float, size: int) -> float:
        """Seconds to wait before ``size`` more bytes may go."""
        if not self.bytes_per_s:
            return 0.0
        return max(0.0, self._next_bytes - now)

    def sent(self, now: float, size: int) -> None:
        if self.bytes_per_s:
            self._next_bytes = max(self._next_bytes, now) + size / self.bytes_per_s


def is_aws_endpoint(endpoint_url: str | None) -> bool:
    """No endpoint URL means the region's AWS endpoint; otherwise the host decides."""
    if not endpoint_url:
        return True
    host = (urlsplit(endpoint_url).hostname or "").lower()
    return host.endswith(AWS_HOST_SUFFIXES)


def limiter_for(endpoint_url: str | None, max_rate_mbps: float | None = None) -> SendLimiter:
    """The service's caps for AWS, none elsewhere; ``max_rate_mbps`` (MB/s, 10^6 bytes) caps bytes anywhere,
    never above the service's cap for AWS."""
    aws = is_aws_endpoint(endpoint_url)
    byte_cap = MAX_BYTES_PER_S * SAFETY if aws else None
    if max_rate_mbps:
        byte_cap = min(byte_cap or float("inf"), max_rate_mbps * 1e6)
    return SendLimiter(MAX_FRAGMENTS_PER_S * SAFETY if aws else None, byte_cap)
