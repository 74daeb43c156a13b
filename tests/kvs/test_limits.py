"""SendLimiter keeps fast uploads under 5 fragments/s and 12.5 MB/s (time passed in, no sleeping)."""

from __future__ import annotations

from app.kvs.limits import MAX_BYTES_PER_S, MAX_FRAGMENTS_PER_S, SAFETY, SendLimiter, is_aws_endpoint, limiter_for


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


def test_caps_apply_where_the_service_is() -> None:
    for url in (None, "https://kinesisvideo.eu-west-1.amazonaws.com", "https://s-1234.kinesisvideo.cn-north-1."
                "amazonaws.com.cn", "https://KINESISVIDEO.US-EAST-1.AMAZONAWS.COM:443"):
        assert is_aws_endpoint(url), url
        lim = limiter_for(url)
        assert lim.bytes_per_s == MAX_BYTES_PER_S * SAFETY
        assert lim.fragment_gap > 0
    for url in ("http://127.0.0.1:4567", "https://kvs.example.com", "https://amazonaws.com.example.org"):
        assert not is_aws_endpoint(url), url
        lim = limiter_for(url)
        assert lim.unlimited
        assert lim.bytes_delay(0.0, 10**12) == 0.0
        lim.fragment_started(0.0)
        assert lim.fragment_delay(0.0) == 0.0


def test_max_rate_caps_any_endpoint_but_never_raises_the_aws_cap() -> None:
    local = limiter_for("http://127.0.0.1:4567", 2.0)
    assert local.bytes_per_s == 2_000_000
    assert local.fragment_gap == 0.0
    assert limiter_for(None, 1.0).bytes_per_s == 1_000_000
    assert limiter_for(None, 1000.0).bytes_per_s == MAX_BYTES_PER_S * SAFETY
    now = 0.0
    for _ in range(3):  # pieces of 5 s worth each (a whole fragment read at once) are paced too
        now += local.bytes_delay(now, 10_000_000)
        local.sent(now, 10_000_000)
    assert now == 10.0
