"""The ``kvs-studio`` command: sub-commands for the headless front ends; never imports Qt itself."""

from __future__ import annotations

import argparse
import logging
import sys

from app import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvs-studio",
                                     description="Stream a camera or a video file into Amazon Kinesis Video Streams.")
    parser.add_argument("--version", action="version", version=f"kvs-studio {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command")
    from app.localkvs import main as local_main

    local = sub.add_parser("local-endpoint", help="run the local KVS-compatible endpoint",
                           description="Run a local endpoint that speaks the Kinesis Video Streams wire "
                                       "protocol (control plane, PutMedia, archived media).")
    local_main.add_arguments(local)
    local.set_defaults(func=local_main.run)

    from app import stream_cli

    stream = sub.add_parser("stream", help="stream a file, a camera or the test pattern to a Kinesis video stream",
                            description="Capture, encode to H.264, and send with PutMedia, printing each "
                                        "fragment's acknowledgements.")
    stream_cli.add_arguments(stream)
    stream.set_defaults(func=stream_cli.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
