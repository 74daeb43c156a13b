"""FragmentBuffer: kept until acknowledged; overflow drops whole old fragments and counts them, or, when the
spool has a durable copy, only evicts their bytes from memory; fragments from an earlier run are bounded
by the spool, never by the memory window."""

from __future__ import annotations

from pathlib import Path

from app.engine.buffer import BufferedFragment, FragmentBuffer


def fill(buf: FragmentBuffer, fragments: int, frames: int = 3, size: int = 100, step_ms: int = 2000,
         first: int = 0) -> None:
    for seq in range(first, first + fragments):
        for i in range(frames):
            buf.add_frame(seq, seq * step_ms, b"x" * size, seq * frames + i)
        buf.seal(seq)


def drops(buf: FragmentBuffer) -> list[tuple[int, str]]:
    seen: list[tuple[int, str]] = []
    buf.on_drop = lambda f, why: seen.append((f.seq, why))
    return seen


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
    buf = FragmentBuffer(max_bytes=1000, max_seconds=1e9)
    seen = drops(buf)
    fill(buf, 5)  # 300 bytes each
    assert seen == [(0, "the buffer is full"), (1, "the buffer is full")]
    assert buf.dropped == 2
    assert buf.first_pending() == 2


def test_overflow_by_duration() -> None:
    buf = FragmentBuffer(max_bytes=10**9, max_seconds=5)
    fill(buf, 6)  # 2 s apart: at most 5 s between first and last
    assert buf.dropped == 3
    assert buf.first_pending() == 3


def test_a_fragment_that_is_still_open_is_never_dropped() -> None:
    buf = FragmentBuffer(max_bytes=250, max_seconds=1e9)
    seen = drops(buf)
    for i in range(3):  # fragment 0 is open (not sealed) ...
        buf.add_frame(0, 0, b"x" * 100, i)
    for i in range(3):  # ... when fragment 1 starts and both are far over the bound
        buf.add_frame(1, 2000, b"x" * 100, 3 + i)
    assert seen == []
    assert [f.seq for f in buf.pending()] == [0, 1]
    buf.seal(0)  # once sealed, it is the oldest sealed one and goes
    assert seen == [(0, "the buffer is full")]


def test_with_a_durable_copy_only_the_bytes_leave_memory(tmp_path: Path) -> None:
    buf = FragmentBuffer(max_bytes=1000, max_seconds=1e9)
    seen = drops(buf)

    def spool(frag: BufferedFragment) -> Path:
        path = tmp_path / f"{frag.seq}.frag"
        path.write_bytes(bytes(frag.data or b""))
        return path

    buf.on_seal = spool
    fill(buf, 5)
    assert seen == []  # nothing lost: the two oldest live on disk only
    assert [f.data is None for f in buf.pending()] == [True, True, False, False, False]
    assert buf.read(0, 0) == (b"", True)
    assert FragmentBuffer.read_spooled(buf.get(0)) == b"x" * 300  # type: ignore[arg-type]
    assert buf.stats() == (5, 1500, 8.0)


def test_earlier_runs_fragments_are_not_bounded_by_the_memory_window(tmp_path: Path) -> None:
    buf = FragmentBuffer(max_bytes=10**9, max_seconds=3)
    seen = drops(buf)
    old = tmp_path / "old.frag"
    old.write_bytes(b"y" * 500)
    buf.add_spooled(-1, 0, old, 500, 10, b"header")  # timecode 0: hours before this run
    fill(buf, 3, first=1000)  # this run starts far later than the 3 s window
    assert (-1, "the buffer is full") not in seen
    assert buf.first_pending() == -1
    assert buf.get(-1).earlier_run  # type: ignore[union-attr]


def test_abandon_keeps_what_has_a_durable_copy(tmp_path: Path) -> None:
    buf = FragmentBuffer()
    buf.on_seal = lambda f: tmp_path / f"{f.seq}" if f.seq % 2 == 0 else None
    fill(buf, 4)
    buf.add_frame(4, 8000, b"z", 99)  # open, never sealed
    lost, kept = buf.abandon_all()
    assert [f.seq for f in lost] == [1, 3, 4]  # the open one too
    assert [f.seq for f in kept] == [0, 2]  # on disk
    assert buf.dropped == 3


def test_listener_called_on_changes() -> None:
    buf = FragmentBuffer()
    calls = []
    buf.add_listener(lambda: calls.append(1))
    fill(buf, 1)
    buf.finish(0)
    assert len(calls) == 5


def test_fragments_on_the_wire_are_never_dropped_the_bound_waits_for_their_acks() -> None:
    buf = FragmentBuffer(max_bytes=10**9, max_seconds=1.5)
    seen = drops(buf)
    buf.add_frame(0, 1000, b"[0:f0]", 0)
    buf.protect(0)  # the uploader started sending it
    buf.add_frame(0, 1000, b"[0:f1]", 1)
    buf.seal(0)
    buf.add_frame(1, 3000, b"[1:f0]", 2)  # 2 s after fragment 0 began: over the 1.5 s bound
    assert seen == []
    assert buf.read(0, 6) == (b"[0:f1]", True)  # the rest of it is still there to send
    buf.unprotect_all()  # the connection ended without its ack: now the bound applies
    assert seen == [(0, "the buffer is full")]


def test_a_fragment_refused_while_still_encoded_is_not_created_again() -> None:
    buf = FragmentBuffer()
    assert buf.add_frame(0, 1000, b"<Cluster><f0>", 0) is not None
    buf.finish(0, failed=True)
    assert buf.add_frame(0, 1000, b"<f1>", 1) is None  # its later frames go nowhere
    assert buf.get(0) is None
    assert buf.produced == 1
    assert buf.add_frame(1, 2000, b"<Cluster><g0>", 2) is not None  # the next fragment starts as usual


def test_a_sealed_fragment_never_grows() -> None:
    buf = FragmentBuffer()
    buf.add_frame(0, 1000, b"a", 0)
    buf.close_input()
    assert buf.add_frame(0, 1000, b"b", 1) is None
    assert buf.read(0, 0) == (b"a", True)


def test_losing_the_durable_copy_keeps_a_fragment_that_is_still_in_memory(tmp_path: Path) -> None:
    buf = FragmentBuffer()
    seen = drops(buf)
    buf.on_seal = lambda f: tmp_path / f"{f.seq}"
    fill(buf, 2)
    buf.lose_copy(0, "the spool is full")  # still in memory: stays, memory-only now
    assert seen == []
    assert buf.get(0).spool_path is None  # type: ignore[union-attr]
    evicted = buf.get(1)
    assert evicted is not None
    evicted.data = None  # as if evicted to disk
    buf.lose_copy(2000, "the spool is full")
    assert seen == [(1, "the spool is full")]


def test_a_fragment_left_open_when_input_closes_goes_to_the_spool_too() -> None:
    """The encoder failed mid-fragment: what it made of that fragment is sealed and kept like the others."""
    buf = FragmentBuffer()
    sealed: list[int] = []

    def on_seal(frag: BufferedFragment) -> Path:
        sealed.append(frag.seq)
        return Path(f"/spool/{frag.seq}.mkv")

    buf.on_seal = on_seal
    fill(buf, 1)
    buf.add_frame(1, 2000, b"x" * 100, 3)  # fragment 1 is still open
    buf.close_input()
    assert sealed == [0, 1]
    frag = buf.next_after(0)
    assert frag is not None
    assert frag.sealed
    assert frag.spool_path == Path("/spool/1.mkv")
    buf.close_input()  # closing twice seals nothing again
    assert sealed == [0, 1]
