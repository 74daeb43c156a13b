"""What the engine tells its front ends (CLI, window), as plain immutable values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.kvs.ledger import FragmentState


@dataclass(frozen=True)
class FragmentUpdate:
    """A fragment changed state or grew (a snapshot of its FragmentLedger entry, or of the open fragment's
    frames and bytes so far). ``latency_ms`` maps each ack seen to ms: BUFFERING since the fragment's first
    byte was sent, RECEIVED and PERSISTED since its last byte (app/kvs/ledger.py, Rule 7)."""

    seq: int
    timecode: int  # cluster timecode (ms since the epoch)
    state: FragmentState
    frames: int
    size: int
    fragment_number: str | None = None
    latency_ms: dict[str, int] = field(default_factory=dict)
    error_id: int | None = None
    error_code: str | None = None
    error_meaning: str | None = None
    attempt: int = 1
    tags: tuple[tuple[str, str], ...] = ()  # the fragment metadata it carries


@dataclass(frozen=True)
class FragmentProgress:
    """The open fragment grew (a few times a second at most, and once when it is sealed): its frames and
    bytes so far. Its state is told by FragmentUpdate alone."""

    seq: int
    frames: int
    size: int


@dataclass(frozen=True)
class ConnectionState:
    state: str  # connecting, connected, reconnecting, recovered, stopped, gave_up
    attempt: int = 0
    retry_in_s: float | None = None
    reason: str = ""
    endpoint: str = ""


@dataclass(frozen=True)
class StatsSample:
    capture_fps: float
    encode_fps: float
    bitrate_bps: float
    bytes_sent: int
    buffered_fragments: int
    buffered_seconds: float
    buffered_bytes: int
    last_ack_latency_ms: int | None  # the last fragment done (PERSISTED; RECEIVED without retention), ms after its
    # last byte
    dropped_frames: int
    dropped_fragments: int
    last_received_latency_ms: int | None = None  # the last RECEIVED ack: ms after its fragment's last byte
    audio_codec: str = ""  # e.g. "AAC-LC 48 kHz stereo, copied"; empty without audio


@dataclass(frozen=True)
class PreviewFrame:
    image: Any  # BGR ndarray, newest frame only
    index: int


@dataclass(frozen=True)
class AudioLevel:
    """The audio's peak level lately (a few times a second), for a meter."""

    peak_dbfs: float


@dataclass(frozen=True)
class EngineMessage:
    level: str  # info, warning, error
    text: str


@dataclass(frozen=True)
class EngineStopped:
    produced: int
    acknowledged: int  # PERSISTED (RECEIVED for a stream without retention)
    failed: int  # fragments refused with a non-retriable error
    dropped: int  # fragments dropped by the buffer's overflow policy or left unsent
    frames: int
    kept: int = 0  # fragments not acknowledged but kept in the spool for the next run
    error: str | None = None  # why the engine stopped early, if it did

    @property
    def ok(self) -> bool:
        return self.error is None and self.produced > 0 and self.acknowledged == self.produced


EngineEvent = (FragmentUpdate | FragmentProgress | ConnectionState | StatsSample | PreviewFrame | EngineMessage
               | EngineStopped | AudioLevel)
