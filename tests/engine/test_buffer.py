"""FragmentBuffer: kept until acknowledged; overflow drops whole old fragments and counts them."""

from __future__ import annotations

from app.engine.buffer import FragmentBuffer


def fill(buf: FragmentBuffer, fragments: int, frames: int = 3, size: int = 100, step_ms: int = 2000) -> None:
    for seq in range(fragments):
        for i in range(frames):
            buf.add_frame(seq, seq * step_ms, b"x" * size, seq * frames + i)
        buf.seal(seq)


def test_kept_until_finished_in_order() -> None:
    buf = FragmentBuffer()
    fill(buf, 3)
    assert buf.first_pending() == 0
    assert buf.next_after(0).seq == 1  # type: ignore[union-attr]
    buf.finish(1)
    assert buf.next_after(0).seq == 2  # type: ignore[union-attr]
    assert buf.stats() == (2, 600, 4.0)
    buf.finish(0)
    buf.finish(2, failed=True)
    assert buf.empty()
    assert (buf.produced, buf.completed, buf.failed) == (3, 2, 1)
    assert not buf.drained()
    buf.close_input()
    assert buf.drained()


def test_overflow_by_bytes_drops_oldest_whole_fragments() -> None:
    dropped = []
    buf = FragmentBuffer(max_bytes=1000, max_seconds=1e9)
    buf.on_drop = dropped.append
    fill(buf, 5)  # 300 bytes each
    assert [f.seq for f in dropped] == [0, 1]
    assert buf.dropped == 2
    assert buf.first_pending() == 2


def test_overflow_by_duration() -> None:
    buf = FragmentBuffer(max_bytes=10**9, max_seconds=5)
    fill(buf, 6)  # 2 s apart: at most 5 s between first and last
    assert buf.dropped == 3
    assert buf.first_pending() == 3


def test_open_fragment_is_never_dropped() -> None:
    buf = FragmentBuffer(max_bytes=50, max_seconds=1e9)
    for i in range(10):
        buf.add_frame(0, 0, b"x" * 100, i)
    assert buf.dropped == 0
    assert buf.get(0).frames == 10  # type: ignore[union-attr]


def test_listener_called_on_changes() -> None:
    buf = FragmentBuffer()
    calls = []
    buf.add_listener(lambda: calls.append(1))
    fill(buf, 1)
    buf.finish(0)
    assert len(calls) == 5
