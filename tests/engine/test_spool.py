"""Spool (on disk, no sockets): its own size limit drops the oldest first, refused fragments are kept aside,
and a crash never leaves half a fragment."""

from __future__ import annotations

from pathlib import Path

from app.engine.spool import Spool


def test_size_limit_deletes_the_oldest_to_make_room(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "cam", max_bytes=2500)
    for tc in (1000, 2000):
        path, evicted = spool.add(tc, b"HDR", b"x" * 1000, 30)
        assert path is not None
        assert evicted == []
    path, evicted = spool.add(3000, b"HDR", b"y" * 1000, 30)
    assert evicted == [1000]
    assert [f.timecode for f in Spool(tmp_path, "cam").load()] == [2000, 3000]
    assert spool.add(4000, b"HDR", b"z" * 3000, 30) == (None, [])  # larger than the whole spool: memory only


def test_removed_once_delivered_and_refused_kept_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "cam")
    spool.add(1000, b"HDR", b"a" * 10, 1)
    spool.add(2000, b"HDR", b"b" * 10, 1)
    spool.remove(1000)
    kept = spool.refuse(2000)
    assert kept is not None
    assert kept.parent == spool.refused_dir
    assert kept.read_bytes() == b"b" * 10
    assert Spool(tmp_path, "cam").load() == []  # neither is sent again
    assert list(spool.refused_dir.glob("*.hdr"))  # the refused fragment stays decodable with its header


def test_load_reads_sizes_not_bytes_and_skips_half_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "cam")
    spool.add(1000, b"HDR", b"a" * 10, 3)
    (spool.dir / "000000000002000-0000000000000000-3.frag.tmp").write_bytes(b"half")
    (spool.dir / "000000000003000-ffffffffffffffff-3.frag").write_bytes(b"no header file")
    loaded = Spool(tmp_path, "cam").load()
    assert [(f.timecode, f.size, f.frames, f.header) for f in loaded] == [(1000, 10, 3, b"HDR")]
    assert not list(spool.dir.glob("*.tmp"))
