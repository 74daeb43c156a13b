"""argparse types shared by the commands: each refuses a bad value with one plain line (no traceback
later from botocore, a socket or the encoder)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from urllib.parse import urlsplit

STREAM_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,256}$")


def stream_name(text: str) -> str:
    if not STREAM_NAME_RE.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a stream name: use 1-256 letters, digits, '_', '.' or '-'")
    return text


def http_url(text: str) -> str:
    """An argparse type: an http:// or https:// URL with a host (botocore would otherwise raise a traceback)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"must start with http:// or https:// and name a host, e.g. "
                                         f"http://127.0.0.1:4567 (not {text!r})")
    return text


def number(kind: type[int] | type[float], lo: float, hi: float | None = None, *, above: bool = False,
           unit: str = "") -> Callable[[str], float]:
    """An argparse type: a number in [lo, hi] (or (lo, hi] with ``above``), refused with a plain message."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if value != value or (value <= lo if above else value < lo) or (hi is not None and value > hi):
            low = f"more than {lo:g}{unit}" if above else f"at least {lo:g}{unit}"
            raise argparse.ArgumentTypeError(f"{text}{unit} is out of range: it must be {low}"
                                             + (f" and at most {hi:g}{unit}" if hi is not None else ""))
        return value
    return parse


