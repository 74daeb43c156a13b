"""The ``kvs-studio`` command: sub-commands for the headless front ends; never imports Qt itself."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from app import __version__
from app.logging_setup import setup_logging

EXIT_CODES = ("exit status: 0 done (every fragment acknowledged); 1 failed while running (the reason is the last "
              "line); 2 bad arguments or setup (stream, credentials, source, region); 3 no usable OS keyring; "
              "130 interrupted")


class Parser(argparse.ArgumentParser):
    """One plain line for a bad argument, not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\nRun `{self.prog} --help` for the options.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="kvs-studio", epilog=EXIT_CODES,
                    description="Stream a camera or a video file into Amazon Kinesis Video Streams. With no "
                                "command: the window, or the headless demo when there is no display.")
    parser.add_argument("--version", action="version", version=f"kvs-studio {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more: -v info, -vv debug (secrets are always masked); also after the command")
    # -v after the command too; SUPPRESS keeps the value given before it when it is not repeated after.
    verbose = Parser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command")
    add_parser = sub.add_parser

    def add_command(name: str, **kwargs: object) -> argparse.ArgumentParser:
        return add_parser(name, parents=[verbose], epilog=EXIT_CODES, **kwargs)  # type: ignore[arg-type]

    sub.add_parser = add_command  # type: ignore[method-assign]
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

    from app.credentials import cli as credentials_cli

    credentials = sub.add_parser("credentials",
                                 help="AWS credentials kept in the OS keyring (add, list, rename, remove)",
                                 description="Save AWS credentials in the OS keyring (Secret Service, macOS "
                                             "Keychain, Windows Credential Manager) and use them with "
                                             "`kvs-studio stream --credentials NAME` or in the window.")
    credentials_cli.add_arguments(credentials)
    credentials.set_defaults(func=credentials_cli.run)

    demo = sub.add_parser("demo", help="headless demo: the local endpoint in-process and the test pattern",
                          description="Start the local endpoint in this process and stream the test pattern "
                                      "to its demo stream until Ctrl-C. Needs no AWS account, camera or display.")
    from app.cli_types import number
    from app.localkvs.main import default_data_dir

    demo.add_argument("--data-dir", type=Path,
                      help=f"where the local endpoint keeps streams (default {default_data_dir()})")
    demo.add_argument("--duration", type=number(float, 0, above=True, unit=" s"),
                      help="stop after this many seconds (default: until Ctrl-C)")
    demo.set_defaults(func=run_demo)

    from app import selftest

    check = sub.add_parser("self-test", help="check that this copy works: window, encoder, TLS, keyring, streaming",
                           description="Stream a few seconds of the test pattern to an in-process local endpoint "
                                       "and check the window, H.264 encoder, TLS certificates and keyring. One line "
                                       "per check; exit 0 only when all pass. Touches none of your data.")
    selftest.add_arguments(check)
    check.set_defaults(func=selftest.run)

    gui = sub.add_parser("gui", help="open the window (the default with a display)",
                         description="Open the KVS Studio window. Needs a display (X11 or Wayland); without one, "
                                     "use `kvs-studio demo` or the other commands.")
    gui.set_defaults(func=lambda _a: _gui(required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Normal output is for people: no logger names; -v adds times, levels and where a line came from.
    setup_logging(args.verbose)  # every handler masks secrets, -vv (debug) included
    if args.command is None:
        from app.ui.main import have_display

        if have_display():
            return _gui(required=False)
        print("kvs-studio: no display found, so running the headless demo instead of the window "
              "(`kvs-studio --help` lists the commands).", file=sys.stderr)
        args = parser.parse_args(["demo"])
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


def _gui(required: bool) -> int:
    from app.ui.main import display_problem, run_gui

    problem = display_problem()
    if problem:
        print(f"kvs-studio: {problem}", file=sys.stderr)
        if required:
            return 2
        print("kvs-studio: running the headless demo instead (`kvs-studio --help` lists the commands).",
              file=sys.stderr)
        return int(run_demo(build_parser().parse_args(["demo"])))
    return run_gui()


def run_demo(args: argparse.Namespace) -> int:
    """The local endpoint in-process plus `stream` of the test pattern to its demo stream."""
    from app import stream_cli
    from app.localkvs.embedded import DEMO_STREAM, EmbeddedEndpoint

    embedded = EmbeddedEndpoint(args.data_dir).start()
    try:
        print(f"Local endpoint on {embedded.url}; streaming the test pattern to {DEMO_STREAM}.", flush=True)
        sub = build_parser()._subparsers._group_actions[0].choices["stream"]  # type: ignore[union-attr]
        stream_args = sub.parse_args(["--stream", DEMO_STREAM, "--source", "testpattern", "--endpoint-url",
                                      embedded.url, "--region", "us-west-2", "--width", "640", "--height", "360",
                                      "--fps", "30"]
                                     + (["--duration", str(args.duration)] if args.duration else []))
        return stream_cli.run(stream_args, access_key=embedded.keys.access_key, secret_key=embedded.keys.secret_key)
    finally:
        embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
