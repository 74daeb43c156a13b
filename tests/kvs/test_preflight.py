"""Preflight's pure part: judging clock skew from the service's Date header."""

from __future__ import annotations

from app.kvs.preflight import Status, skew_check


def test_clock_skew_is_judged_against_the_services_date_header() -> None:
    """Preflight's clock check on the Date header format the service sends (RFC 7231)."""
    date = "Tue, 10 Nov 2026 12:00:00 GMT"
    server = 1794312000.0  # the same instant
    assert skew_check(date, server + 1).status is Status.OK
    warn = skew_check(date, server + 42)
    assert warn.status is Status.WARNING
    assert "42 s ahead of" in warn.text
    refused = skew_check(date, server - 20 * 60)
    assert refused.status is Status.FAILED
    assert "20 min behind" in refused.text
    assert skew_check(None, server).status is Status.SKIPPED
