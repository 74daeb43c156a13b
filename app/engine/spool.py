"""Durable spool: sealed, unacknowledged fragments on disk, so that what was captured while offline
survives a crash or a restart and is uploaded by the next run (no official producer has one).

Layout: ``<dir>/<stream>/<connection header sha256>.hdr`` once per header, and one
``<timecode>-<header sha>-<frames>.frag`` per fragment (the Cluster bytes). Files are written to a temporary
name, fsynced and renamed, so a crash never leaves half a fragment; a fragment's file is removed
once the service has it (or refused it for good, or it was dropped by the overflow policy).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

_FRAG_RE = re.compile(r"^(\d+)-([0-9a-f]{16})-(\d+)\.frag$")


@dataclass(frozen=True)
class SpooledFragment:
    timecode: int
    header: bytes
    data: bytes
    frames: int
    path: Path


class Spool:
    def __init__(self, root: Path, stream: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", stream).lstrip(".") or "stream"
        self.dir = Path(root) / safe
        self.dir.mkdir(parents=True, exist_ok=True)
        self._headers: set[str] = set()

    def _write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        if hasattr(os, "O_DIRECTORY"):
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def add(self, timecode: int, header: bytes, data: bytes, frames: int) -> Path:
        key = hashlib.sha256(header).hexdigest()[:16]
        if key not in self._headers:
            hdr = self.dir / f"{key}.hdr"
            if not hdr.exists():
                self._write(hdr, header)
            self._headers.add(key)
        path = self.dir / f"{timecode:015d}-{key}-{frames}.frag"
        self._write(path, data)
        return path

    def remove(self, timecode: int) -> None:
        for path in self.dir.glob(f"{timecode:015d}-*.frag"):
            path.unlink(missing_ok=True)

    def load(self) -> list[SpooledFragment]:
        """Fragments left by earlier runs, oldest first; stray temporary files are removed."""
        out = []
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        for path in sorted(self.dir.glob("*.frag")):
            m = _FRAG_RE.match(path.name)
            hdr = self.dir / f"{m.group(2)}.hdr" if m else None
            if m is None or hdr is None or not hdr.exists():
                continue
            out.append(SpooledFragment(int(m.group(1)), hdr.read_bytes(), path.read_bytes(), int(m.group(3)), path))
        return out

    def prune_headers(self) -> None:
        used = {p.name.split("-")[1][:16] for p in self.dir.glob("*.frag")}
        for hdr in self.dir.glob("*.hdr"):
            if hdr.stem not in used:
                hdr.unlink(missing_ok=True)
                self._headers.discard(hdr.stem)
