"""Fault switches of the local endpoint, for testing how producers recover.

Fragments are counted per stream from the moment the switches were set (1 = the first fragment that
starts after that), across connections. Each listed fragment fault fires once.
- ``drop_after_received``: drop the connection right after RECEIVED of fragment N; N is not stored.
- ``drop_mid_fragment``: drop the connection in the middle of fragment N (after its first frame).
- ``drop_after_persisted``: store fragment N, then drop the connection before its PERSISTED ack.
- ``error_5000``: answer fragment N with ERROR 5000 (INTERNAL_ERROR), store nothing, close.
- ``error_4002``: answer fragment N with ERROR 4002 (a non-retriable refusal), store nothing, close.
- ``refuse_connections``: the next N PutMedia requests get 400 ConnectionLimitExceededException.
- ``ack_delay``: every ack is written this many seconds after it was due (order kept).
- ``stall_after``: once fragment N starts, that connection gets no more acks and stores nothing.
- ``split_acks``: write every ack in pieces of this many bytes, each its own chunk.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field, fields


@dataclass
class FaultPlan:
    drop_after_received: list[int] = field(default_factory=list)
    drop_mid_fragment: list[int] = field(default_factory=list)
    drop_after_persisted: list[int] = field(default_factory=list)
    error_5000: list[int] = field(default_factory=list)
    error_4002: list[int] = field(default_factory=list)
    refuse_connections: int = 0
    ack_delay: float = 0.0
    stall_after: list[int] = field(default_factory=list)
    split_acks: int = 0

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> FaultPlan:
        names = {f.name for f in fields(cls)}
        unknown = set(obj) - names
        if unknown:
            raise ValueError(f"unknown fault switch(es): {', '.join(sorted(unknown))}")
        plan = cls()
        for key, value in obj.items():
            current = getattr(plan, key)
            if isinstance(current, list):
                values = value if isinstance(value, list) else [value]
                setattr(plan, key, [int(v) for v in values])  # type: ignore[call-overload]
            elif isinstance(current, float):
                setattr(plan, key, float(value))  # type: ignore[arg-type]
            else:
                setattr(plan, key, int(value))  # type: ignore[call-overload]
        return plan

    @classmethod
    def parse_switch(cls, text: str, into: FaultPlan | None = None) -> FaultPlan:
        """Parse ``name=value[,value]`` from the command line into a plan."""
        plan = into or cls()
        name, sep, value = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"fault switch {text!r} is not name=value")
        merged = FaultPlan.from_json({name: [v for v in value.split(",") if v] if "," in value else value})
        for f in fields(cls):
            if f.name == name:
                old = getattr(plan, name)
                new = getattr(merged, name)
                setattr(plan, name, old + new if isinstance(old, list) else new)
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

    def take_refusal(self) -> bool:
        if self.plan.refuse_connections > 0:
            self.plan.refuse_connections -= 1
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
