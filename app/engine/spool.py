"""Durable spool: sealed, unacknowledged fragments on disk, so that what was captured while offline
survives a crash or a restart and is uploaded by the next run (no official producer has one).

Layout: ``<dir>/<stream>/<connection header sha256>.hdr`` once per header, and one
``<timecode>-<header sha>-<frames>.frag`` per fragment (the Cluster bytes). Files are written to a temporary
name, fsynced and renamed, so a crash never leaves half a fragment. A fragment's file is removed only once
the service has it; a fragment the service refused for good is moved to ``refused/`` (kept, never sent
again). The spool has its own size limit: past it, the oldest fragments are deleted to make room, and the
caller is told which, so it can report them as dropped.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BYTES = 1024 * 1024 * 1024  # 1 GiB: about 70 min of 2 Mbit/s video
_FRAG_RE = re.compile(r"^(\d+)-([0-9a-f]{16})-(\d+)\.frag$")


@dataclass(frozen=True)
class SpooledFragment:
    timecode: int
    header: bytes
    frames: int
    size: int
    path: Path


class Spool:
    def __init__(self, root: Path, stream: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", stream).lstrip(".") or "stream"
        self.dir = Path(root) / safe
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._headers: set[str] = set()
        self._lock = threading.Lock()
        self._sizes: dict[int, tuple[int, Path]] = {}  # timecode -> (size, path), oldest first after load()

    @property
    def refused_dir(self) -> Path:
        return self.dir / "refused"

    def _write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    def add(self, timecode: int, header: bytes, data: bytes, frames: int,
            keep: Callable[[int], bool] = lambda _tc: False) -> tuple[Path | None, list[int]]:
        """Write a sealed fragment durably: (its path, or None if it is larger than the whole spool;
        timecodes of older fragments deleted to make room). Fragments for which ``keep(timecode)`` is true
        (on the wire right now) are never deleted; if only they stand in the way, the limit is exceeded
        until their acks come. Raises OSError when the disk refuses the write."""
        if len(data) > self.max_bytes:
            return None, []
        key = hashlib.sha256(header).hexdigest()[:16]
        with self._lock:  # only bookkeeping under the lock: the uploader's loop takes it to remove files
            evicted = []
            total = sum(size for size, _ in self._sizes.values())
            for old in sorted(self._sizes):
                if total + len(data) <= self.max_bytes:
                    break
                if keep(old):
                    continue
                size, old_path = self._sizes.pop(old)
                evicted.append((old, old_path))
                total -= size
            new_header = key not in self._headers
            self._headers.add(key)
        for _old, old_path in evicted:
            old_path.unlink(missing_ok=True)
        if new_header:
            hdr = self.dir / f"{key}.hdr"
            try:
                if not hdr.exists():
                    self._write(hdr, header)
            except OSError:
                with self._lock:
                    self._headers.discard(key)
                raise
        path = self.dir / f"{timecode:015d}-{key}-{frames}.frag"
        try:
            self._write(path, data)
        except OSError:
            path.with_name(path.name + ".tmp").unlink(missing_ok=True)
            raise
        with self._lock:
            self._sizes[timecode] = (len(data), path)
        return path, [old for old, _ in evicted]

    def remove(self, timecode: int) -> None:
        """The service has it."""
        with self._lock:
            entry = self._sizes.pop(timecode, None)
        if entry is not None:
            entry[1].unlink(missing_ok=True)

    def refuse(self, timecode: int) -> Path | None:
        """The service refused it for good: keep it aside (never sent again), out of the size count."""
        with self._lock:
            entry = self._sizes.pop(timecode, None)
        if entry is None or not entry[1].exists():
            return None
        self.refused_dir.mkdir(exist_ok=True)
        target = self.refused_dir / entry[1].name
        os.replace(entry[1], target)
        hdr = self.dir / f"{entry[1].name.split('-')[1]}.hdr"
        if hdr.exists() and not (self.refused_dir / hdr.name).exists():
            (self.refused_dir / hdr.name).write_bytes(hdr.read_bytes())
        _fsync_dir(self.dir)
        return target

    def load(self) -> list[SpooledFragment]:
        """Fragments left by earlier runs, oldest first (bytes stay on disk); stray temporary files are removed."""
        out = []
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        for path in sorted(self.dir.glob("*.frag")):
            m = _FRAG_RE.match(path.name)
            hdr = self.dir / f"{m.group(2)}.hdr" if m else None
            if m is None or hdr is None or not hdr.exists():
                continue
            size = path.stat().st_size
            out.append(SpooledFragment(int(m.group(1)), hdr.read_bytes(), int(m.group(3)), size, path))
            with self._lock:
                self._sizes[int(m.group(1))] = (size, path)
        return out

    def prune_headers(self) -> None:
        used = {p.name.split("-")[1][:16] for p in self.dir.glob("*.frag")}
        for hdr in self.dir.glob("*.hdr"):
            if hdr.stem not in used:
                hdr.unlink(missing_ok=True)
                self._headers.discard(hdr.stem)


def _fsync_dir(path: Path) -> None:
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def spool_problem(root: Path) -> str | None:
    """Why ``root`` cannot hold a spool (checked before streaming starts), or None."""
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
