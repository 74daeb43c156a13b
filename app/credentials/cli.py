"""``kvs-studio credentials``: add, list, rename and remove saved credentials (shared with the window).

``add NAME`` reads the access key ID, the secret access key and an optional session token, one per line,
from stdin when it is not a terminal (``printf '%s\\n' "$ID" "$SECRET" | kvs-studio credentials add work``);
on a terminal it prompts without echo. Nothing here prints a secret.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from app.cli_types import http_url
from app.credentials.entry import Entry, InvalidEntry, check_name
from app.credentials.store import KeyringStore, KeyringUnavailable
from app.errors import KvsStudioError
from app.logging_setup import register_secret


def aws_region(text: str) -> str:
    """An argparse type: a region botocore knows for Kinesis Video, or the nearest names in the message."""
    import botocore.session

    from app.kvs.control import known_regions, unknown_region_message

    regions = known_regions(botocore.session.get_session())
    if regions and text not in regions:
        raise argparse.ArgumentTypeError(unknown_region_message(text, regions))
    return text

EXIT_REFUSED = 1  # unknown name, bad input, credentials refused by the check
EXIT_NO_KEYRING = 3  # no usable OS keyring


def add_arguments(p: argparse.ArgumentParser) -> None:
    verbs = p.add_subparsers(dest="verb", metavar="{add,list,rename,remove}", required=True)
    add = verbs.add_parser("add", help="save credentials in the OS keyring under NAME",
                           description="Save an access key pair (and optional session token) in the OS keyring. "
                                       "Reads the access key ID, the secret and an optional session token, one "
                                       "per line, from stdin; on a terminal it prompts without echo.")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--region", type=aws_region, help="default region of these credentials (default: none)")
    add.add_argument("--replace", action="store_true", help="replace saved credentials of the same name")
    add.add_argument("--check", action="store_true",
                     help="first check the pair with one signed ListStreams call (in --region, else us-east-1)")
    add.add_argument("--endpoint-url", type=http_url,
                     help="with --check: the control-plane URL to ask (e.g. a local endpoint; default: AWS)")
    add.set_defaults(verb_func=run_add)
    ls = verbs.add_parser("list", help="list saved credentials (name, masked access key ID, region)")
    ls.set_defaults(verb_func=run_list)
    rename = verbs.add_parser("rename", help="rename saved credentials")
    rename.add_argument("name", metavar="NAME")
    rename.add_argument("new_name", metavar="NEW_NAME")
    rename.set_defaults(verb_func=run_rename)
    remove = verbs.add_parser("remove", help="remove saved credentials from the OS keyring")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(verb_func=run_remove)


def run(args: argparse.Namespace, store: KeyringStore | None = None) -> int:
    try:
        return int(args.verb_func(args, store or KeyringStore()))
    except KeyringUnavailable as exc:
        print(f"kvs-studio credentials: {exc.user_message}", file=sys.stderr)
        return EXIT_NO_KEYRING
    except (KvsStudioError, InvalidEntry) as exc:
        print(f"kvs-studio credentials: {getattr(exc, 'user_message', exc)}", file=sys.stderr)
        return EXIT_REFUSED


def read_entry_fields(stdin: TextIO = sys.stdin) -> tuple[str, str, str]:
    """Access key ID, secret, session token ("" when none): lines from a pipe, or no-echo prompts on a tty."""
    if stdin.isatty():
        return (getpass.getpass("Access key ID: "), getpass.getpass("Secret access key: "),
                getpass.getpass("Session token (optional, Enter for none): "))
    lines = [line.strip() for line in stdin.read().splitlines()]
    lines = [line for line in lines if line] + ["", "", ""]
    return lines[0], lines[1], lines[2]


def run_add(args: argparse.Namespace, store: KeyringStore) -> int:
    name = check_name(args.name)
    store.backend  # noqa: B018  (refuse before asking for a secret when there is no keyring)
    if not args.replace and store.exists(name):
        print(f"kvs-studio credentials: {name!r} is already saved; use --replace to replace it.", file=sys.stderr)
        return EXIT_REFUSED
    key_id, secret, token = read_entry_fields()
    for value in (secret, token):
        register_secret(value)  # masked in any log line from here on (-vv included)
    if not key_id or not secret:
        print("kvs-studio credentials: expected the access key ID and then the secret access key, one per line "
              "(and optionally a session token).", file=sys.stderr)
        return EXIT_REFUSED
    entry = Entry.create(key_id, secret, token, args.region)
    if args.check:
        from app.credentials.check import check_entry

        result = check_entry(entry, args.region, args.endpoint_url)
        print(result.note or f"The service accepted these credentials in {result.region}.", file=sys.stderr)
    summary = store.add(name, entry, replace=args.replace)
    region = f", region {summary.region}" if summary.region else ""
    print(f"Saved {summary.name!r} ({summary.masked_key_id}{region}) in the {store.backend_name} keyring.")
    return 0


def run_list(args: argparse.Namespace, store: KeyringStore) -> int:
    entries = store.list()
    if not entries:
        print("No saved credentials. Add some with: kvs-studio credentials add NAME", file=sys.stderr)
        return 0
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"{e.name:<{width}}  {e.masked_key_id}  {e.region or ''}".rstrip())
    return 0


def run_rename(args: argparse.Namespace, store: KeyringStore) -> int:
    summary = store.rename(args.name, args.new_name)
    print(f"Renamed {args.name!r} to {summary.name!r}.")
    return 0


def run_remove(args: argparse.Namespace, store: KeyringStore) -> int:
    store.remove(args.name)
    print(f"Removed {args.name!r} from the keyring.")
    return 0
