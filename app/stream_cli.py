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

from app.cli_types import http_url, number, stream_name
from app.engine.engine import Engine, StreamSettings
from app.engine.events import (
    ConnectionState,
    EngineEvent,
    EngineMessage,
    EngineStopped,
    FragmentUpdate,
    StatsSample,
)
from app.engine.spool import DEFAULT_MAX_BYTES as DEFAULT_SPOOL_BYTES
from app.engine.spool import spool_problem
from app.engine.uploader import UploaderSettings
from app.errors import KvsStudioError
from app.kvs.ledger import FragmentState
from app.kvs.metadata import FragmentTags, TagError, parse_tag

SHOWN_STATES = {FragmentState.BUFFERING, FragmentState.RECEIVED, FragmentState.PERSISTED, FragmentState.ERROR,
                FragmentState.DROPPED}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stream", required=True, type=stream_name, help="Kinesis video stream name (required)")
    p.add_argument("--source", default="testpattern",
                   help="a video file path, camera:N, or testpattern (default %(default)s)")
    p.add_argument("--region", help="AWS region (default: from the AWS configuration, e.g. AWS_DEFAULT_REGION)")
    p.add_argument("--profile", help="AWS profile from ~/.aws (default: the default credential chain)")
    p.add_argument("--credentials", metavar="NAME",
                   help="saved credentials from the OS keyring, shared with the window "
                        "(see `kvs-studio credentials list`; default: the AWS credential chain)")
    p.add_argument("--endpoint-url", type=http_url,
                   help="control-plane URL instead of AWS, e.g. the local endpoint http://127.0.0.1:4567 "
                        "(default: the region's AWS endpoint)")
    p.add_argument("--create", action="store_true",
                   help="create the stream if it does not exist, and wait until it is ACTIVE (default: off)")
    p.add_argument("--retention-hours", type=number(int, 0, 87600), default=24,
                   help="retention of a stream made by --create, in hours; 0 keeps nothing (default %(default)s)")
    p.add_argument("--fragment-seconds", type=number(float, 1, 10, unit=" s"), default=2.0,
                   help="fragment length in seconds, 1-10 (default %(default)s)")
    p.add_argument("--pace", choices=("realtime", "fast"), default="realtime",
                   help="files: send at their own speed, timestamped from now; or as fast as encoding and the "
                        "connection allow, timestamped in the past (default %(default)s)")
    p.add_argument("--copy", action="store_true",
                   help="files: upload the H.264 video as recorded, without decoding or re-encoding it (MP4/MOV, "
                        "MKV, MPEG-TS, raw .h264); fragments start on the file's own key frames, so key frames "
                        "must be at most 10 s apart. Not with --width/--height/--fps/--bitrate (default: re-encode)")
    p.add_argument("--max-rate", type=number(float, 0, above=True, unit=" MB/s"), metavar="MBPS",
                   help="cap the upload at this many MB/s (10^6 bytes). AWS endpoints are always kept under the "
                        "service's per-stream limits (5 fragments/s, 12.5 MB/s); a custom --endpoint-url gets no "
                        "cap unless this is given (default: none)")
    p.add_argument("--width", type=number(int, 16, 7680), help="output width in pixels (default: the source's)")
    p.add_argument("--height", type=number(int, 16, 4320), help="output height in pixels (default: the source's)")
    p.add_argument("--fps", type=number(float, 0, 120, above=True),
                   help="frames per second (default: the source's; 30 for the test pattern)")
    p.add_argument("--bitrate", type=number(int, 50, 100_000), help="H.264 bitrate in kbit/s (default 2000)")
    p.add_argument("--duration", type=number(float, 0, above=True, unit=" s"),
                   help="stop a camera or the test pattern after this many seconds (default: until Ctrl-C)")
    p.add_argument("--buffer-seconds", type=number(float, 1), default=120.0,
                   help="keep at most this many seconds of unacknowledged video in memory (default %(default)s)")
    p.add_argument("--buffer-mb", type=number(float, 1), default=128.0,
                   help="keep at most this many MB of unacknowledged video in memory (default %(default)s)")
    p.add_argument("--spool", type=Path, metavar="DIR",
                   help="also keep unacknowledged fragments on disk in DIR, so a crash, a restart or a long "
                        "outage loses nothing; the next run with the same DIR and stream sends them first "
                        "(default: memory only)")
    p.add_argument("--spool-mb", type=number(float, 1), default=DEFAULT_SPOOL_BYTES / 2**20,
                   help="the spool's size limit in MB; past it the oldest fragments are dropped (default %(default)g)")
    p.add_argument("--stale-seconds", type=number(float, 1), default=20.0,
                   help="reconnect when a fragment's first byte got no acknowledgement for this long "
                        "(default %(default)g)")
    sound = p.add_mutually_exclusive_group()
    sound.add_argument("--no-audio", action="store_true",
                       help="send video only, even when the file has sound (default: a file's first audio track "
                            "goes as track 2, AAC copied, other codecs re-encoded to AAC-LC)")
    sound.add_argument("--tone", action="store_true",
                       help="with the test pattern or a camera: a 440 Hz beep at each second as the audio track "
                            "(default: off)")
    sound.add_argument("--mic", metavar="NAME",
                       help="with a camera or the test pattern: this microphone as the audio track (needs the "
                            "optional sounddevice package; default: none)")
    p.add_argument("--tag", metavar="NAME=VALUE", action="append", default=[], type=_tag,
                   help="fragment metadata sent with every fragment; repeat for more (at most 10, name up to 128 "
                        "bytes, value up to 256, names may not start with AWS; default: none)")


def _tag(text: str) -> tuple[str, str]:
    try:
        return parse_tag(text)
    except TagError as exc:
        raise argparse.ArgumentTypeError(exc.user_message) from None


def copy_problem(args: argparse.Namespace) -> str | None:
    """A setting that --copy cannot honour, in one line; None when the combination is fine."""
    if not args.copy:
        return None
    if args.source == "testpattern" or args.source.startswith("camera:"):
        return "--copy sends a video file as recorded; the test pattern and cameras are always encoded"
    given = [f"--{name}" for name in ("width", "height", "fps", "bitrate") if getattr(args, name) is not None]
    if given:
        return (f"--copy keeps the file's own size, frame rate and bitrate, so {', '.join(given)} cannot apply; "
                "drop them, or drop --copy to re-encode")
    return None


class Printer:
    """Turns engine events into lines (one per fragment state change worth showing)."""

    def __init__(self, out: TextIO, retention_zero: bool) -> None:
        self.out = out
        self.final_state = "RECEIVED" if retention_zero else "PERSISTED"
        self.lock = threading.Lock()
        self.dropped_frames = 0  # by a live source that captured faster than encoding kept up

    def __call__(self, ev: EngineEvent) -> None:
        with self.lock:
            line = self.format(ev)
            if line:
                print(line, file=self.out, flush=True)

    def format(self, ev: EngineEvent) -> str | None:
        if isinstance(ev, StatsSample):
            self.dropped_frames = ev.dropped_frames
            return None
        if isinstance(ev, FragmentUpdate):
            if ev.state not in SHOWN_STATES:
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
            if ev.state in ("connected", "recovered"):
                return f"connection: {ev.state}" + (f" to {ev.endpoint}" if ev.endpoint else "")
            if ev.state == "gave_up":
                return "connection: gave up"  # the reason is the error line printed with it
            return None
        if isinstance(ev, EngineMessage):
            return f"{ev.level}: {ev.text}"
        if isinstance(ev, EngineStopped):
            return (f"summary: {ev.produced} fragments, {ev.frames} frames; {ev.acknowledged} {self.final_state}, "
                    f"{ev.failed} refused, {ev.dropped} dropped" + (f", {ev.kept} kept in the spool for the next run"
                                                                     if ev.kept else "")
                    + (f"; {self.dropped_frames} frames dropped at capture (encoding fell behind)"
                       if self.dropped_frames else ""))
        return None


def run(args: argparse.Namespace, *, access_key: str | None = None, secret_key: str | None = None) -> int:
    settings = StreamSettings(
        stream=args.stream, source=args.source, region=args.region, profile=args.profile,
        endpoint_url=args.endpoint_url, create=args.create, create_retention_hours=args.retention_hours,
        fragment_seconds=args.fragment_seconds, realtime=args.pace == "realtime", copy=args.copy,
        max_rate_mbps=args.max_rate, width=args.width,
        height=args.height, fps=args.fps, bitrate_kbps=args.bitrate, duration_s=args.duration,
        buffer_bytes=int(args.buffer_mb * 1024 * 1024), buffer_seconds=args.buffer_seconds,
        uploader=UploaderSettings(staleness_s=args.stale_seconds), spool_dir=args.spool,
        spool_bytes=int(args.spool_mb * 2**20), access_key=access_key, secret_key=secret_key,
        keyring_entry=args.credentials, audio=not args.no_audio, tone=args.tone, mic=args.mic,
        tags=tuple(args.tag))
    problem = copy_problem(args)
    if problem:
        print(f"kvs-studio stream: {problem}", file=sys.stderr)
        return 2
    try:
        FragmentTags(settings.tags)  # the limits that need all of them (how many) before anything starts
    except TagError as exc:
        print(f"kvs-studio stream: --tag: {exc.user_message}", file=sys.stderr)
        return 2
    if args.spool is not None:
        problem = spool_problem(args.spool)
        if problem:
            print(f"kvs-studio stream: --spool {args.spool}: cannot use it as a folder ({problem})", file=sys.stderr)
            return 2
    printer = Printer(sys.stdout, retention_zero=False)
    engine = Engine(settings, printer)
    try:
        engine.prepare()
    except KvsStudioError as exc:
        print(f"kvs-studio stream: {exc.user_message}", file=sys.stderr)
        return 2
    printer.final_state = "RECEIVED" if engine.retention_hours == 0 else "PERSISTED"
    assert engine.source is not None
    sound = f" with audio ({engine.audio_info.description})" if engine.audio_info else ""
    print(f"streaming {engine.source.info.description}{sound} to {settings.stream} "
          f"({engine.control.region if engine.control else ''}); Ctrl-C stops", flush=True)
    print("ack latency: B=ms after a fragment's first byte was sent; R and P=ms after its last byte "
          "(sealed and sent): the network and the service", flush=True)

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
    if result.kept and args.spool is not None:
        reason += f"; {result.kept} are kept in {args.spool} and are sent first by the next run with --spool"
    print(f"kvs-studio stream: failed: {reason}", file=sys.stderr)
    return 1
