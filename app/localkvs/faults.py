"""Fault switches of the local endpoint, for testing how producers recover.

Fragments are counted per stream from the moment the switches were set (1 = the first fragment that
starts after that), across connections. Each listed fragment fault fires once.
- ``drop_after_received``: drop the connection right after RECEIVED of fragment N; N is not stored.
- ``drop_mid_fragment``: drop the connection in the middle of fragment N (after its first frame).
- ``drop_after_persisted``: store fragment N, then drop the connection before its PERSISTED ack.
- ``error_ack``: ``{ErrorId: [N, ...]}``: answer each fragment N, once it is complete, with an ERROR
  ack carrying that ErrorId (and its ErrorCode name) instead of RECEIVED; store nothing, end the
  response and close, as the service does after any error ack. On the command line
  ``error_ack=4501:1,2,3`` (repeat ``--fault`` for more ids). E.g. 4501 (KMS key disabled) or 4008
  (stream not active) for stream-wide refusals, 4002 for a per-fragment one, 5000 for a retriable one.
- ``error_5000`` / ``error_4002``: shorthands for ``error_ack`` with that ErrorId.
- ``refuse_connections``: the next N PutMedia requests are refused before any media is read, with the
  HTTP status ``refuse_status`` (default 400 ConnectionLimitExceededException; 401, 403, 404, 500
  and 503 give the service's error for that status).
- ``hold_response``: the next N PutMedia requests are accepted and their body is read (and dropped),
  but no status line is ever sent, not even ``100 Continue``, like a proxy that swallows the request.
  The connection stays open until the client gives up (or no data came for the idle timeout).
- ``ack_delay``: every ack is written this many seconds after it was due (order kept).
- ``stall_after``: once fragment N starts, that connection gets no more acks and stores nothing.
- ``split_acks``: write every ack in pieces of this many bytes, each its own chunk.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field, fields

# HTTP status -> (x-amzn-ErrorType, message) for ``refuse_connections`` (kvs-protocol.md §3.2).
REFUSALS: dict[int, tuple[str, str]] = {
    400: ("ConnectionLimitExceededException", "Too many concurrent connections to this stream (fault switch)."),
    401: ("NotAuthorizedException", "The caller is not authorized to perform this operation (fault switch)."),
    403: ("AccessDeniedException", "The caller is not authorized to perform kinesisvideo:PutMedia (fault switch)."),
    404: ("ResourceNotFoundException", "The requested stream is not found or not active."),
    500: ("InternalFailure", "The server encountered an internal error (fault switch)."),
    503: ("ServiceUnavailable", "The service is unavailable (fault switch)."),
}
ALIASES = {"error_5000": 5000, "error_4002": 4002}  # older switch names, kept for scripts and tests


@dataclass
class FaultPlan:
    drop_after_received: list[int] = field(default_factory=list)
    drop_mid_fragment: list[int] = field(default_factory=list)
    drop_after_persisted: list[int] = field(default_factory=list)
    error_ack: dict[int, list[int]] = field(default_factory=dict)
    error_5000: list[int] = field(default_factory=list)
    error_4002: list[int] = field(default_factory=list)
    refuse_connections: int = 0
    refuse_status: int = 400
    hold_response: int = 0
    ack_delay: float = 0.0
    stall_after: list[int] = field(default_factory=list)
    split_acks: int = 0

    def __post_init__(self) -> None:
        # One place decides error acks: the shorthands become error_ack entries.
        merged = {int(k): [int(n) for n in v] for k, v in self.error_ack.items()}
        for alias, error_id in ALIASES.items():
            merged.setdefault(error_id, []).extend(getattr(self, alias))
            setattr(self, alias, [])
        self.error_ack = {k: v for k, v in merged.items() if v}
        if self.refuse_status not in REFUSALS:
            raise ValueError(f"refuse_status must be one of {', '.join(map(str, sorted(REFUSALS)))}")

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> FaultPlan:
        kinds = {f.name: f.type for f in fields(cls)}
        unknown = set(obj) - set(kinds)
        if unknown:
            raise ValueError(f"unknown fault switch(es): {', '.join(sorted(unknown))}")
        kwargs: dict[str, object] = {}
        for key, value in obj.items():
            kind = str(kinds[key])
            if key == "error_ack":
                if not isinstance(value, dict):
                    raise ValueError('error_ack must map an ErrorId to fragment ordinals, e.g. {"4501": [1, 2]}')
                kwargs[key] = {int(k): [int(n) for n in (v if isinstance(v, list) else [v])] for k, v in value.items()}
            elif kind.startswith("list"):
                kwargs[key] = [int(v) for v in (value if isinstance(value, list) else [value])]  # type: ignore[call-overload]
            elif kind == "float":
                kwargs[key] = float(value)  # type: ignore[arg-type]
            else:
                kwargs[key] = int(value)  # type: ignore[call-overload]
        return cls(**kwargs)  # type: ignore[arg-type]

    @classmethod
    def parse_switch(cls, text: str, into: FaultPlan | None = None) -> FaultPlan:
        """Parse ``name=value[,value]`` (or ``error_ack=ERRORID:n[,n]``) from the command line into a plan."""
        plan = into or cls()
        name, sep, value = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"fault switch {text!r} is not name=value")
        if name == "error_ack":
            error_id, colon, ordinals = value.partition(":")
            if not colon:
                raise ValueError(f"fault switch {text!r}: write error_ack=ERRORID:n[,n...], e.g. error_ack=4501:1,2")
            raw: object = {error_id: [v for v in ordinals.split(",") if v]}
        else:
            raw = [v for v in value.split(",") if v] if "," in value else value
        try:
            merged = cls.from_json({name: raw})
        except (TypeError, ValueError) as exc:
            if "unknown fault switch" in str(exc):
                raise
            raise ValueError(f"fault switch {text!r}: the value must be a number or a list of numbers") from None
        for f in fields(cls):
            old, new = getattr(plan, f.name), getattr(merged, f.name)
            if isinstance(old, dict):
                for k, v in new.items():
                    old.setdefault(k, []).extend(v)
            elif isinstance(old, list):
                old.extend(new)
            elif f.name == name:
                setattr(plan, f.name, new)
        return plan


@dataclass
class StreamFaults:
    plan: FaultPlan
    ordinal: int = 0  # fragments started on this stream since the plan was set

    def take(self, kind: str, ordinal: int) -> bool:
        """True once if fault ``kind`` is set for fragment ``ordinal``."""
        pending: list[int] = getattr(self.plan, kind)
        if ordinal in pending:
            pending.remove(ordinal)
            return True
        return False

    def take_error(self, ordinal: int) -> int | None:
        """The ErrorId to answer fragment ``ordinal`` with, once; None for no error."""
        for error_id, pending in self.plan.error_ack.items():
            if ordinal in pending:
                pending.remove(ordinal)
                return error_id
        return None

    def take_refusal(self) -> int | None:
        """The HTTP status to refuse this connection with, or None."""
        if self.plan.refuse_connections > 0:
            self.plan.refuse_connections -= 1
            return self.plan.refuse_status
        return None

    def take_hold(self) -> bool:
        if self.plan.hold_response > 0:
            self.plan.hold_response -= 1
            return True
        return False


class FaultBook:
    """Plans per stream, and a default plan copied to each stream on first use."""

    def __init__(self, default: FaultPlan | None = None) -> None:
        self._default = default or FaultPlan()
        self._streams: dict[str, StreamFaults] = {}
        self._lock = threading.Lock()

    def set(self, stream: str, plan: FaultPlan) -> None:
        with self._lock:
            self._streams[stream] = StreamFaults(plan)

    def clear(self, stream: str) -> None:
        self.set(stream, FaultPlan())

    def for_stream(self, stream: str) -> StreamFaults:
        with self._lock:
            if stream not in self._streams:
                d = self._default
                self._streams[stream] = StreamFaults(copy.deepcopy(d))
            return self._streams[stream]
