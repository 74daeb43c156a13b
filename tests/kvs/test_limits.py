"""SendLimiter keeps fast uploads under 5 fragments/s and 12.5 MB/s (time passed in, no sleeping)."""

from __future__ import annotations

from app.kvs.limits import MAX_BYTES_PER_S, MAX_FRAGMENTS_PER_S, SendLimiter


def test_fragment_starts_are_spaced() -> None:
    lim = SendLimiter()
    now, starts = 0.0, []
    for _ in range(20):
        now += lim.fragment_delay(now)
        lim.fragment_started(now)
        starts.append(now)
    per_second = max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts)
    assert per_second <= MAX_FRAGMENTS_PER_S


def test_bytes_per_second_stay_under_the_limit() -> None:
    lim = SendLimiter()
    now, log = 0.0, []
    for _ in range(200):
        now += lim.bytes_delay(now, 1_000_000)
        lim.sent(now, 1_000_000)
        log.append(now)
    worst = max(sum(1_000_000 for t in log if s <= t < s + 1.0) for s in log)
    assert worst <= MAX_BYTES_PER_S
    assert log[-1] > 10  # 200 MB cannot go out in less than 16 s
