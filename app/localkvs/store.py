"""Durable storage for the local endpoint: streams and fragments in SQLite, fragment bytes in files.

A fragment becomes visible only when its row is committed, and its row is written only after its
bytes were written, fsynced and renamed into place, so a crash mid-fragment leaves nothing half
visible (an orphan file at most, removed at the next start). Deletion is the reverse: rows go in one
commit, then the files. Thread-safe: one lock around SQLite. Everything here but
``next_fragment_number`` touches the disk, so the server calls it from worker threads.
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
    active_at: float = 0.0  # epoch seconds; CREATING until then, like the service's asynchronous CreateStream

    @property
    def status(self) -> str:
        return "CREATING" if time.time() < self.active_at else "ACTIVE"

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
  version TEXT NOT NULL, active_at REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS headers (
  id INTEGER PRIMARY KEY, digest TEXT UNIQUE NOT NULL, timecode_scale INTEGER NOT NULL,
  tracks BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS fragments (
  stream TEXT NOT NULL, number TEXT NOT NULL, seq INTEGER NOT NULL, producer_ms INTEGER NOT NULL,
  server_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL, size INTEGER NOT NULL,
  frames INTEGER NOT NULL, header_id INTEGER NOT NULL, path TEXT NOT NULL, metadata TEXT NOT NULL,
  PRIMARY KEY (stream, number));
CREATE INDEX IF NOT EXISTS fragments_by_time ON fragments (stream, producer_ms);
CREATE INDEX IF NOT EXISTS fragments_by_age ON fragments (server_ms);
"""
_STREAM_COLUMNS = "name, arn, creation_time, retention_hours, media_type, device_name, kms_key_id, version, active_at"


class Store:
    def __init__(self, data_dir: Path, max_bytes: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.max_bytes = max_bytes  # disk cap for fragment data; the oldest fragments go first
        self.fragment_dir = self.data_dir / "fragments"
        self.fragment_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.data_dir / "kvs.sqlite3", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(streams)")}
        if "active_at" not in columns:  # a data dir from before streams had a CREATING state
            self._db.execute("ALTER TABLE streams ADD COLUMN active_at REAL NOT NULL DEFAULT 0")
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(server_ms), 0), COALESCE(SUM(size), 0) "
                               "FROM fragments").fetchone()
        self._seq, self._last_ms, self._bytes = int(row[0]), int(row[1]), int(row[2])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- streams ---------------------------------------------------------------------------

    def create_stream(self, name: str, region: str, retention_hours: int, media_type: str | None,
                      device_name: str | None, kms_key_id: str | None, creating_seconds: float = 0.0) -> StreamRecord:
        now_ms = int(time.time() * 1000)
        rec = StreamRecord(
            name=name, arn=f"arn:aws:kinesisvideo:{region}:{ACCOUNT_ID}:stream/{name}/{now_ms}",
            creation_time=now_ms / 1000, retention_hours=retention_hours, media_type=media_type,
            device_name=device_name, kms_key_id=kms_key_id, version=os.urandom(10).hex(),
            active_at=now_ms / 1000 + creating_seconds if creating_seconds > 0 else 0.0)
        with self._lock:
            self._db.execute(
                f"INSERT INTO streams ({_STREAM_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                (rec.name, rec.arn, rec.creation_time, rec.retention_hours, rec.media_type,
                 rec.device_name, rec.kms_key_id, rec.version, rec.active_at))
        return rec

    def get_stream(self, name: str | None = None, arn: str | None = None) -> StreamRecord | None:
        with self._lock:
            if name is not None:
                row = self._db.execute(f"SELECT {_STREAM_COLUMNS} FROM streams WHERE name=?", (name,)).fetchone()
            else:
                row = self._db.execute(f"SELECT {_STREAM_COLUMNS} FROM streams WHERE arn=?", (arn,)).fetchone()
        return StreamRecord(*row) if row else None

    def list_streams(self) -> list[StreamRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_STREAM_COLUMNS} FROM streams ORDER BY name").fetchall()
        return [StreamRecord(*r) for r in rows]

    def delete_stream(self, name: str) -> None:
        with self._lock:
            rows = self._db.execute("SELECT path, size FROM fragments WHERE stream=?", (name,)).fetchall()
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM fragments WHERE stream=?", (name,))
            self._db.execute("DELETE FROM streams WHERE name=?", (name,))
            self._db.execute("COMMIT")
            self._bytes -= sum(r[1] for r in rows)
        self._unlink([r[0] for r in rows])

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
            self._bytes += rec.size
        if self.max_bytes is not None:
            self.enforce_cap(self.max_bytes)

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

    # -- retention and the disk cap ------------------------------------------------------------

    @property
    def stored_bytes(self) -> int:
        """Bytes of fragment data kept (the sum of FragmentSizeInBytes), the figure the disk cap limits."""
        return self._bytes

    def sweep(self, now_ms: int | None = None) -> int:
        """Delete fragments older than their stream's retention, then the oldest ones while more than
        ``max_bytes`` are kept; return how many went. A stream with 0 retention keeps nothing."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        with self._lock:
            expired = self._db.execute(
                "SELECT f.stream, f.number, f.path, f.size FROM fragments f LEFT JOIN streams s ON s.name = f.stream "
                "WHERE s.name IS NULL OR f.server_ms < ? - s.retention_hours * 3600000", (now_ms,)).fetchall()
            paths = self._delete_locked(expired)
        self._unlink(paths)
        gone = len(paths)
        if self.max_bytes is not None:
            gone += self.enforce_cap(self.max_bytes)
        return gone

    def enforce_cap(self, max_bytes: int) -> int:
        """Drop the oldest fragments (by arrival, whatever their stream) until at most ``max_bytes`` are kept."""
        with self._lock:
            if self._bytes <= max_bytes:
                return 0
            total, victims = self._bytes, []
            for row in self._db.execute("SELECT stream, number, path, size FROM fragments ORDER BY server_ms, seq"):
                if total <= max_bytes:
                    break
                victims.append(row)
                total -= row[3]
            paths = self._delete_locked(victims)
        self._unlink(paths)
        return len(paths)

    def _delete_locked(self, rows: list[tuple[str, str, str, int]]) -> list[str]:
        """Delete rows in one commit (so nothing half-deleted is ever listed); the caller then unlinks the
        returned files outside the lock."""
        if rows:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM fragments WHERE stream=? AND number=?", [(r[0], r[1]) for r in rows])
            self._db.execute("COMMIT")
            self._bytes -= sum(r[3] for r in rows)
        return [r[2] for r in rows]

    def _unlink(self, paths: list[str]) -> None:
        for p in paths:
            (self.fragment_dir / p).unlink(missing_ok=True)

    def remove_orphans(self) -> int:
        """Delete files no committed row points at (left by a crash mid-write or mid-delete)."""
        with self._lock:
            known = {r[0] for r in self._db.execute("SELECT path FROM fragments")}
        removed = 0
        for path in self.fragment_dir.rglob("*"):
            if path.is_file() and path.relative_to(self.fragment_dir).as_posix() not in known:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
