"""``kvs-studio stream``: the headless front end on the Engine. Prints one line per fragment as it
moves BUFFERING -> RECEIVED -> PERSISTED, connection changes, and a summary; exit 0 only when every
fragment produced was acknowledged."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from app.engine.engine import Engine, StreamSettings
from app.engine.events import (
    ConnectionState,
    EngineEvent,
    EngineMessage,
    EngineStopped,
    FragmentUpdate,
)
from app.engine.uploader import UploaderSettings
from app.errors import KvsStudioError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stream", required=True, help="Kinesis video stream name")
    p.add_argument("--source", default="testpattern", help="video file path, camera:N, or testpattern")
    p.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    p.add_argument("--profile", help="AWS profile")
    p.add_argument("--credentials", metavar="NAME",
                   help="saved credentials from the OS keyring (see `kvs-studio credentials list`)")
    p.add_argument("--endpoint-url", help="control-plane URL, e.g. the local endpoint http://127.0.0.1:4567")
    p.add_argument("--create", action="store_true", help="create the stream if it does not exist")
    p.add_argument("--retention-hours", type=int, default=24, help="retention of a stream made by --create")
    p.add_argument("--fragment-seconds", type=float, default=2.0, help="fragment length (1-10 s, default 2)")
    p.add_argument("--pace", choices=("realtime", "fast"), default="realtime",
                   help="files: send at their own speed (default) or as fast as encoding allows")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--fps", type=float)
    p.add_argument("--bitrate", type=int, help="kbit/s (default 2000)")
    p.add_argument("--duration", type=float, help="stop a camera or the test pattern after this many seconds")
    p.add_argument("--buffer-seconds", type=float, default=120.0, help="keep at most this much unacknowledged")
    p.add_argument("--buffer-mb", type=float, default=128.0, help="keep at most this many MB unacknowledged")
    p.add_argument("--spool", type=Path, metavar="DIR",
                   help="keep unacknowledged fragments in DIR so a crash or restart loses nothing; "
                        "the next run with the same DIR and stream sends them first")
    p.add_argument("--stale-seconds", type=float, default=20.0,
                   help="reconnect when a fragment gets no acknowledgement for this long (default 20)")


class Printer:
    """Turns engine events into lines (one per fragment state change worth showing)."""

    def __init__(self, out: TextIO, retention_zero: bool) -> None:
        self.out = out
        self.final_state = "RECEIVED" if retention_zero else "PERSISTED"
        self.lock = threading.Lock()

    def __call__(self, ev: EngineEvent) -> None:
        with self.lock:
            line = self.format(ev)
            if line:
                print(line, file=self.out, flush=True)

    def format(self, ev: EngineEvent) -> str | None:
        if isinstance(ev, FragmentUpdate):
            if ev.state not in ("BUFFERING", "RECEIVED", "PERSISTED", "ERROR", "DROPPED"):
                return None
            lat = " ".join(f"{k[0]}={v}ms" for k, v in ev.latency_ms.items())
            stamp = time.strftime("%H:%M:%S", time.localtime(ev.timecode / 1000))
            line = (f"fragment {ev.seq:>4}  {stamp}.{ev.timecode % 1000:03d}  {ev.state:<9}  {ev.frames:>3} frames  "
                    f"{ev.size / 1024:8.1f} KiB  {lat}")
            if ev.error_code:
                line += f"  {ev.error_code} ({ev.error_id}): {ev.error_meaning}"
            return line.rstrip()
        if isinstance(ev, ConnectionState):
            if ev.state == "reconnecting" and ev.retry_in_s is not None:
                return (f"connection: reconnecting (attempt {ev.attempt}, next try in {ev.retry_in_s:.1f} s): "
                        f"{ev.reason}")
            if ev.state in ("connected", "recovered", "gave_up"):
                return f"connection: {ev.state}" + (f" to {ev.endpoint}" if ev.endpoint else "") + \
                    (f": {ev.reason}" if ev.reason else "")
            return None
        if isinstance(ev, EngineMessage):
            return f"{ev.level}: {ev.text}"
        if isinstance(ev, EngineStopped):
            return (f"summary: {ev.produced} fragments, {ev.frames} frames; {ev.acknowledged} {self.final_state}, "
                    f"{ev.failed} refused, {ev.dropped} dropped")
        return None


def run(args: argparse.Namespace, *, access_key: str | None = None, secret_key: str | None = None) -> int:
    settings = StreamSettings(
        stream=args.stream, source=args.source, region=args.region, profile=args.profile,
        endpoint_url=args.endpoint_url, create=args.create, create_retention_hours=args.retention_hours,
        fragment_seconds=args.fragment_seconds, realtime=args.pace == "realtime", width=args.width,
        height=args.height, fps=args.fps, bitrate_kbps=args.bitrate, duration_s=args.duration,
        buffer_bytes=int(args.buffer_mb * 1024 * 1024), buffer_seconds=args.buffer_seconds,
        uploader=UploaderSettings(staleness_s=args.stale_seconds), spool_dir=getattr(args, "spool", None),
        access_key=access_key, secret_key=secret_key, keyring_entry=getattr(args, "credentials", None))
    printer = Printer(sys.stdout, retention_zero=False)
    engine = Engine(settings, printer)
    try:
        engine.prepare()
    except KvsStudioError as exc:
        print(f"kvs-studio stream: {exc.user_message}", file=sys.stderr)
        return 2
    printer.final_state = "RECEIVED" if engine.retention_hours == 0 else "PERSISTED"
    assert engine.source is not None
    print(f"streaming {engine.source.info.description} to {settings.stream} "
          f"({engine.control.region if engine.control else ''}); Ctrl-C stops", flush=True)

    interrupts = 0

    def on_signal(signum: int, _frame: object) -> None:
        # Only count here: a handler runs between two bytecodes of the main thread, possibly inside a
        # lock (an Event.set, a print), so taking locks here could deadlock. The loop below acts.
        nonlocal interrupts
        interrupts += 1

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        engine.start()
        result = None
        handled = 0
        while result is None:
            result = engine.wait(0.1)
            if interrupts > handled:
                handled = interrupts
                if handled == 1:
                    print("stopping: sending what is captured and waiting for its acknowledgements "
                          "(Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
                    engine.stop()
                else:
                    engine.force_stop()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if result.ok:
        return 0
    if result.error:
        reason = result.error
    elif result.produced == 0:
        reason = "no fragment was produced"
    else:
        missing = result.produced - result.acknowledged
        reason = f"{missing} of {result.produced} fragments were not {printer.final_state}"
    print(f"kvs-studio stream: failed: {reason}", file=sys.stderr)
    return 1
