"""Durable storage for the local endpoint: streams and fragments in SQLite, fragment bytes in files.

A fragment becomes visible only when its row is committed, and its row is written only after its
bytes were written, fsynced and renamed into place, so a crash mid-fragment leaves nothing half
visible (an orphan file at most, removed at the next start). Thread-safe: one lock around SQLite.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ACCOUNT_ID = "123456789012"  # a documentation-style account id; this endpoint has no accounts


@dataclass(frozen=True)
class StreamRecord:
    name: str
    arn: str
    creation_time: float  # epoch seconds
    retention_hours: int
    media_type: str | None
    device_name: str | None
    kms_key_id: str | None
    version: str
    status: str = "ACTIVE"

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "CreationTime": self.creation_time,
            "DataRetentionInHours": self.retention_hours,
            "Status": self.status,
            "StreamARN": self.arn,
            "StreamName": self.name,
            "Version": self.version,
        }
        for key, value in (("MediaType", self.media_type), ("DeviceName", self.device_name),
                           ("KmsKeyId", self.kms_key_id)):
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class FragmentRecord:
    stream: str
    number: str
    producer_ms: int
    server_ms: int
    duration_ms: int
    size: int
    frames: int
    header_id: int
    path: str
    metadata: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "FragmentNumber": self.number,
            "FragmentSizeInBytes": self.size,
            "ProducerTimestamp": self.producer_ms / 1000,
            "ServerTimestamp": self.server_ms / 1000,
            "FragmentLengthInMilliseconds": self.duration_ms,
        }


_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
  name TEXT PRIMARY KEY, arn TEXT UNIQUE NOT NULL, creation_time REAL NOT NULL,
  retention_hours INTEGER NOT NULL, media_type TEXT, device_name TEXT, kms_key_id TEXT,
  version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS headers (
  id INTEGER PRIMARY KEY, digest TEXT UNIQUE NOT NULL, timecode_scale INTEGER NOT NULL,
  tracks BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS fragments (
  stream TEXT NOT NULL, number TEXT NOT NULL, seq INTEGER NOT NULL, producer_ms INTEGER NOT NULL,
  server_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL, size INTEGER NOT NULL,
  frames INTEGER NOT NULL, header_id INTEGER NOT NULL, path TEXT NOT NULL, metadata TEXT NOT NULL,
  PRIMARY KEY (stream, number));
CREATE INDEX IF NOT EXISTS fragments_by_time ON fragments (stream, producer_ms);
"""


class Store:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.fragment_dir = self.data_dir / "fragments"
        self.fragment_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.data_dir / "kvs.sqlite3", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._remove_orphans()
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(server_ms), 0) FROM fragments").fetchone()
        self._seq, self._last_ms = int(row[0]), int(row[1])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- streams ---------------------------------------------------------------------------

    def create_stream(self, name: str, region: str, retention_hours: int, media_type: str | None,
                      device_name: str | None, kms_key_id: str | None) -> StreamRecord:
        now_ms = int(time.time() * 1000)
        rec = StreamRecord(
            name=name, arn=f"arn:aws:kinesisvideo:{region}:{ACCOUNT_ID}:stream/{name}/{now_ms}",
            creation_time=now_ms / 1000, retention_hours=retention_hours, media_type=media_type,
            device_name=device_name, kms_key_id=kms_key_id, version=os.urandom(10).hex())
        with self._lock:
            self._db.execute(
                "INSERT INTO streams VALUES (?,?,?,?,?,?,?,?)",
                (rec.name, rec.arn, rec.creation_time, rec.retention_hours, rec.media_type,
                 rec.device_name, rec.kms_key_id, rec.version))
        return rec

    def get_stream(self, name: str | None = None, arn: str | None = None) -> StreamRecord | None:
        with self._lock:
            if name is not None:
                row = self._db.execute("SELECT * FROM streams WHERE name=?", (name,)).fetchone()
            else:
                row = self._db.execute("SELECT * FROM streams WHERE arn=?", (arn,)).fetchone()
        return StreamRecord(*row) if row else None

    def list_streams(self) -> list[StreamRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM streams ORDER BY name").fetchall()
        return [StreamRecord(*r) for r in rows]

    def delete_stream(self, name: str) -> None:
        with self._lock:
            paths = [r[0] for r in self._db.execute("SELECT path FROM fragments WHERE stream=?", (name,))]
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM fragments WHERE stream=?", (name,))
            self._db.execute("DELETE FROM streams WHERE name=?", (name,))
            self._db.execute("COMMIT")
        for p in paths:
            (self.fragment_dir / p).unlink(missing_ok=True)

    # -- fragments -------------------------------------------------------------------------

    def header_id(self, timecode_scale: int, tracks_raw: bytes) -> int:

        digest = hashlib.sha256(timecode_scale.to_bytes(8, "big") + tracks_raw).hexdigest()
        with self._lock:
            row = self._db.execute("SELECT id FROM headers WHERE digest=?", (digest,)).fetchone()
            if row:
                return int(row[0])
            cur = self._db.execute("INSERT INTO headers (digest, timecode_scale, tracks) VALUES (?,?,?)",
                                   (digest, timecode_scale, tracks_raw))
            return int(cur.lastrowid or 0)

    def get_header(self, header_id: int) -> tuple[int, bytes]:
        with self._lock:
            row = self._db.execute("SELECT timecode_scale, tracks FROM headers WHERE id=?",
                                   (header_id,)).fetchone()
        return int(row[0]), bytes(row[1])

    def next_fragment_number(self) -> tuple[str, int, int]:
        """A new (fragment number, sequence, server time ms), without touching the disk (it runs on the
        server's event loop). Numbers increase across restarts: the sequence and the clock start from the
        largest ones stored, and the server time is the more significant part."""
        with self._lock:
            self._seq += 1
            self._last_ms = max(int(time.time() * 1000), self._last_ms)
            seq, server_ms = self._seq, self._last_ms
        # 47 digits like the service's: a fixed prefix, server time, then a global sequence.
        return f"9134385233318{server_ms:016d}{seq:018d}", seq, server_ms

    def add_fragment(self, rec: FragmentRecord, seq: int, cluster: bytes) -> None:
        """Write the bytes durably, then make the fragment visible in one commit."""
        final = self.fragment_dir / rec.path
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(cluster)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        with self._lock:
            self._db.execute(
                "INSERT INTO fragments VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (rec.stream, rec.number, seq, rec.producer_ms, rec.server_ms, rec.duration_ms, rec.size,
                 rec.frames, rec.header_id, rec.path, json.dumps(rec.metadata)))

    def list_fragments(self, stream: str, start_ms: int | None = None, end_ms: int | None = None,
                       by: str = "producer_ms") -> list[FragmentRecord]:
        assert by in ("producer_ms", "server_ms")
        sql = f"SELECT * FROM fragments WHERE stream=? AND {by} >= ? AND {by} <= ? ORDER BY seq"
        lo = start_ms if start_ms is not None else -(2**62)
        hi = end_ms if end_ms is not None else 2**62
        with self._lock:
            rows = self._db.execute(sql, (stream, lo, hi)).fetchall()
        return [self._fragment(r) for r in rows]

    def get_fragments(self, stream: str, numbers: list[str]) -> dict[str, FragmentRecord]:
        out: dict[str, FragmentRecord] = {}
        with self._lock:
            for n in numbers:
                row = self._db.execute("SELECT * FROM fragments WHERE stream=? AND number=?",
                                       (stream, n)).fetchone()
                if row:
                    out[n] = self._fragment(row)
        return out

    def read_cluster(self, rec: FragmentRecord) -> bytes:
        return (self.fragment_dir / rec.path).read_bytes()

    @staticmethod
    def _fragment(row: tuple) -> FragmentRecord:
        stream, number, _seq, producer_ms, server_ms, duration_ms, size, frames, header_id, path, meta = row
        return FragmentRecord(stream, number, producer_ms, server_ms, duration_ms, size, frames, header_id,
                              path, tuple(tuple(x) for x in json.loads(meta)))

    def _remove_orphans(self) -> None:
        with self._lock:
            known = {r[0] for r in self._db.execute("SELECT path FROM fragments")}
        for path in self.fragment_dir.rglob("*"):
            if path.is_file() and str(path.relative_to(self.fragment_dir)) not in known:
                path.unlink()
