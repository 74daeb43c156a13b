"""``kvs-studio local-endpoint``: run the local KVS-compatible endpoint in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sqlite3
import ssl
import string
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli_types import number

if TYPE_CHECKING:  # the server (aiohttp.web and all) is imported only when it runs: `stream` starts faster
    from app.localkvs.auth import KeyPair
    from app.localkvs.server import EndpointConfig

DEFAULT_MAX_DISK_MB = 1024  # the per-user data dir is shared with the window's embedded endpoint
DEFAULT_CREATING_SECONDS = 2.0  # a new stream is CREATING this long, as on the service (a few seconds)


def default_data_dir() -> Path:
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "kvs-studio" / "local-endpoint"


def generate_keys() -> KeyPair:
    """A throwaway key pair for a local endpoint started without AWS variables."""
    from app.localkvs.auth import KeyPair

    alphabet = string.ascii_uppercase + string.digits
    access = "LOCAL" + "".join(secrets.choice(alphabet) for _ in range(15))
    secret_alphabet = string.ascii_letters + string.digits + "+/"  # shaped like an AWS secret, so redaction knows it
    return KeyPair(access, "".join(secrets.choice(secret_alphabet) for _ in range(40)))


def keys_from_env() -> KeyPair | None:
    from app.localkvs.auth import KeyPair

    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if access and secret:
        return KeyPair(access, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
    return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=number(int, 0, 65535), default=4567, help="port (0 picks a free one; default 4567)")
    p.add_argument("--data-dir", type=Path, default=None, help=f"where streams live (default {default_data_dir()})")
    p.add_argument("--region", default="us-west-2", help="region clients must sign for (default us-west-2)")
    p.add_argument("--tls-cert", type=Path, help="PEM certificate: serve HTTPS")
    p.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    p.add_argument("--fault", action="append", default=[], metavar="NAME=VALUE",
                   help="fault switch for every stream, for testing a producer's recovery, e.g. "
                        "drop_after_received=3 or error_ack=4501:1,2 (the list is in the README; default: none)")
    p.add_argument("--idle-timeout", type=number(float, 0, above=True), default=30.0,
                   help="seconds without data before a PutMedia request is closed (default 30)")
    p.add_argument("--max-connection-seconds", type=number(float, 0, above=True), default=2700.0,
                   help="PutMedia connection cap; past it the endpoint answers ERROR 4003 (default 45 min)")
    p.add_argument("--advertise-url", metavar="URL",
                   help="the URL GetDataEndpoint returns, for a server behind a proxy or port forward "
                        "(default: this server's own scheme, host and port; listening on 0.0.0.0 or ::, "
                        "the host name the client used with our port)")
    p.add_argument("--creating-seconds", type=_non_negative, default=DEFAULT_CREATING_SECONDS,
                   help="how long a new stream stays CREATING before it is ACTIVE; GetDataEndpoint and "
                        f"PutMedia refuse it meanwhile, as the service does (default {DEFAULT_CREATING_SECONDS:g}, "
                        "0: at once)")
    p.add_argument("--max-disk-mb", type=_non_negative, default=DEFAULT_MAX_DISK_MB,
                   help="cap on stored fragment data; past it the oldest fragments are deleted first "
                        f"(default {DEFAULT_MAX_DISK_MB}, 0: no cap). Fragments past their stream's "
                        "DataRetentionInHours are deleted in any case")


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def run(args: argparse.Namespace) -> int:
    from app.localkvs.faults import FaultPlan
    from app.localkvs.putmedia import SessionLimits
    from app.localkvs.server import EndpointConfig

    # A server's log is its output: refusals and error acks are INFO lines, shown without -v.
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        logging.getLogger("app.localkvs").setLevel(logging.INFO)
    keys = keys_from_env()
    generated = keys is None
    if keys is None:
        keys = generate_keys()
    plan = FaultPlan()
    try:
        for switch in args.fault:
            FaultPlan.parse_switch(switch, plan)
    except ValueError as exc:
        print(f"kvs-studio local-endpoint: {exc}", file=sys.stderr)
        return 2
    ssl_context = None
    if args.tls_cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"kvs-studio local-endpoint: cannot use --tls-cert {args.tls_cert}"
                  + (f" / --tls-key {args.tls_key}" if args.tls_key else " (and no --tls-key)")
                  + f": {'not PEM, or the key does not match' if isinstance(exc, ssl.SSLError) else exc.strerror}"
                    " — both must be readable PEM files, the key matching the certificate.", file=sys.stderr)
            return 2
    if args.advertise_url and not args.advertise_url.startswith(("http://", "https://")):
        print(f"kvs-studio local-endpoint: --advertise-url {args.advertise_url!r} must start with http:// or https://",
              file=sys.stderr)
        return 2
    data_dir = args.data_dir or default_data_dir()
    config = EndpointConfig(
        data_dir=data_dir, keys=keys, host=args.host, port=args.port, region=args.region, faults=plan,
        ssl_context=ssl_context,
        limits=SessionLimits(idle_timeout=args.idle_timeout, max_connection_seconds=args.max_connection_seconds),
        advertise_url=args.advertise_url, creating_seconds=args.creating_seconds,
        max_disk_mb=args.max_disk_mb or None)
    return asyncio.run(_serve(config, generated))


async def _serve(config: EndpointConfig, generated: bool) -> int:
    from app.localkvs.server import LocalEndpoint

    try:
        endpoint = LocalEndpoint(config)
    except (OSError, sqlite3.Error) as exc:
        print(f"kvs-studio local-endpoint: cannot keep data in {config.data_dir}: "
              f"{getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 2
    try:
        await endpoint.start()
    except OSError as exc:
        print(f"kvs-studio local-endpoint: cannot listen on {config.host}:{config.port}: {exc.strerror}",
              file=sys.stderr)
        return 1
    cap = f"at most {config.max_disk_mb:g} MB, oldest fragments deleted first" if config.max_disk_mb else "no size cap"
    print(f"Local KVS endpoint on {endpoint.url} (region {config.region}), data in {config.data_dir} ({cap})")
    if config.advertise_url:
        print(f"  GetDataEndpoint answers {config.advertise_url}")
    if generated:
        # Shown once on the terminal of the person who started it; never logged or written to a file.
        print("No AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set, so this endpoint made a key pair. Use:")
        print(f"  export AWS_ACCESS_KEY_ID={config.keys.access_key}")
        print(f"  export AWS_SECRET_ACCESS_KEY={config.keys.secret_key}")
        print(f"  export AWS_DEFAULT_REGION={config.region}")
        print("  (a new pair at every start: set these variables before starting it to keep the same pair)")
    print(f"  aws kinesisvideo list-streams --endpoint-url {endpoint.url}")
    # Ctrl-C / SIGTERM stop it cleanly from the moment it says it is ready (not a moment later).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"event": "ready", "url": endpoint.url, "region": config.region,
                      "access_key_id": config.keys.access_key}), flush=True)
    await stop.wait()
    await endpoint.stop()
    return 0
