"""Retry policy (pure): exponential backoff with jitter, and which failures are worth retrying.

Backoff follows the C SDK's shape (kvs-protocol.md §6.3): base 1 s, factor 2, capped (16 s here),
plus up to 300 ms of jitter; there is no attempt limit while the user keeps streaming.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 16.0
    jitter_s: float = 0.3

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before reconnect ``attempt`` (1 = the first retry)."""
        r = rng or random
        return min(self.cap_s, self.base_s * self.factor ** max(0, attempt - 1)) + r.uniform(0, self.jitter_s)


# HTTP errors (x-amzn-ErrorType) that a new attempt may cure; the rest need the user.
RETRIABLE_TYPES = frozenset({
    "ClientLimitExceededException", "ConnectionLimitExceededException", "ThrottlingException",
    "InternalFailure", "ServiceUnavailable", "InvalidEndpointException", "RequestTimeout",
})
# Errors that mean "ask GetDataEndpoint again" (a 404 becomes StreamNotFound, handled on its own).
REFRESH_ENDPOINT_TYPES = frozenset({"InvalidEndpointException"})


def http_retriable(status: int, error_type: str) -> bool:
    return status >= 500 or status in (408, 429) or error_type in RETRIABLE_TYPES
