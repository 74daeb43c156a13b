"""The CLI's summary line names frames a live source dropped (the engine's last StatsSample)."""

from __future__ import annotations

import io

from app.engine.events import EngineStopped, StatsSample
from app.stream_cli import Printer


def _stats(dropped_frames: int) -> StatsSample:
    return StatsSample(capture_fps=30.0, encode_fps=28.0, bitrate_bps=2e6, bytes_sent=1, buffered_fragments=0,
                       buffered_seconds=0.0, buffered_bytes=0, last_ack_latency_ms=None,
                       dropped_frames=dropped_frames, dropped_fragments=0)


def test_summary_names_frames_dropped_at_capture() -> None:
    out = io.StringIO()
    printer = Printer(out, retention_zero=False)
    printer(_stats(3))
    printer(_stats(12))
    printer(EngineStopped(produced=2, acknowledged=2, failed=0, dropped=0, frames=48))
    assert out.getvalue().splitlines() == [
        "summary: 2 fragments, 48 frames; 2 PERSISTED, 0 refused, 0 dropped; 12 frames dropped at capture "
        "(encoding fell behind)"]


def test_summary_says_nothing_of_capture_when_nothing_was_dropped() -> None:
    out = io.StringIO()
    printer = Printer(out, retention_zero=True)
    printer(_stats(0))
    printer(EngineStopped(produced=1, acknowledged=1, failed=0, dropped=0, frames=30))
    assert out.getvalue() == "summary: 1 fragments, 30 frames; 1 RECEIVED, 0 refused, 0 dropped\n"
