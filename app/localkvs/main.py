"""``kvs-studio local-endpoint``: run the local KVS-compatible endpoint in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import ssl
import string
import sys
from pathlib import Path

from app.localkvs.auth import KeyPair
from app.localkvs.faults import FaultPlan
from app.localkvs.putmedia import SessionLimits
from app.localkvs.server import EndpointConfig, LocalEndpoint


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
    alphabet = string.ascii_uppercase + string.digits
    access = "LOCAL" + "".join(secrets.choice(alphabet) for _ in range(15))
    secret_alphabet = string.ascii_letters + string.digits + "+/"  # shaped like an AWS secret, so redaction knows it
    return KeyPair(access, "".join(secrets.choice(secret_alphabet) for _ in range(40)))


def keys_from_env() -> KeyPair | None:
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if access and secret:
        return KeyPair(access, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
    return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=4567, help="port (0 picks a free one; default 4567)")
    p.add_argument("--data-dir", type=Path, default=None, help=f"where streams live (default {default_data_dir()})")
    p.add_argument("--region", default="us-west-2", help="region clients must sign for (default us-west-2)")
    p.add_argument("--tls-cert", type=Path, help="PEM certificate: serve HTTPS")
    p.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    p.add_argument("--fault", action="append", default=[], metavar="NAME=VALUE",
                   help="fault switch for every stream, e.g. drop_after_received=3 (see app/localkvs/faults.py)")
    p.add_argument("--idle-timeout", type=float, default=30.0, help="seconds without data before closing")
    p.add_argument("--max-connection-seconds", type=float, default=2700.0,
                   help="PutMedia connection cap; past it the endpoint answers ERROR 4003 (default 45 min)")


def run(args: argparse.Namespace) -> int:
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
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    data_dir = args.data_dir or default_data_dir()
    config = EndpointConfig(
        data_dir=data_dir, keys=keys, host=args.host, port=args.port, region=args.region, faults=plan,
        ssl_context=ssl_context,
        limits=SessionLimits(idle_timeout=args.idle_timeout, max_connection_seconds=args.max_connection_seconds))
    return asyncio.run(_serve(config, generated))


async def _serve(config: EndpointConfig, generated: bool) -> int:
    endpoint = LocalEndpoint(config)
    try:
        await endpoint.start()
    except OSError as exc:
        print(f"kvs-studio local-endpoint: cannot listen on {config.host}:{config.port}: {exc.strerror}",
              file=sys.stderr)
        return 1
    print(f"Local KVS endpoint on {endpoint.url} (region {config.region}), data in {config.data_dir}")
    if generated:
        # Shown once on the terminal of the person who started it; never logged or written to a file.
        print("No AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set, so this endpoint made a key pair. Use:")
        print(f"  export AWS_ACCESS_KEY_ID={config.keys.access_key}")
        print(f"  export AWS_SECRET_ACCESS_KEY={config.keys.secret_key}")
        print(f"  export AWS_DEFAULT_REGION={config.region}")
    print(f"  aws kinesisvideo list-streams --endpoint-url {endpoint.url}")
    print(json.dumps({"event": "ready", "url": endpoint.url, "region": config.region,
                      "access_key_id": config.keys.access_key}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await endpoint.stop()
    return 0
