"""Logging for every front end, with secrets masked at the handler.

Python applies a *logger's* filters only to records logged on that very logger, not to records from its
children that propagate up, so masking lives in the formatter of every handler (``RedactingFormatter``):
it sees the whole line, exception tracebacks and stack traces included. ``setup_logging`` gives the CLI
a masked stderr handler and masks whatever handlers the root already has; the window's log panel uses
``CallbackHandler``, masked the same way. Two layers do the masking:

- secrets this process loaded (a keyring entry, AWS_* variables, explicit keys) are registered with
  ``register_secret`` and replaced wherever they appear, whatever their shape or label;
- patterns catch the rest: labelled secrets and tokens, ``Authorization`` and ``X-Amz-Security-Token``
  headers (also inside reprs of requests, exceptions and header dicts), signatures, and unlabelled strings
  shaped like an AWS secret key (40 base64 characters) or a session token (100+).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType
from urllib.parse import quote

MASK = "***"
_Q = r"""['"]?"""  # an optional quote around a label or a value, as in a dict or header repr
_PATTERNS = [
    # Authorization: everything up to the end of the quoted value or the line.
    (re.compile(r"(?i)(authorization" + _Q + r"\s*[:=]\s*b?" + _Q + r")[^'\"\r\n]+"), r"\1" + MASK),
    # Labelled secrets and tokens: aws_secret_access_key=…, "SecretAccessKey": "…", secret_key='…', token='…',
    # X-Amz-Security-Token: …, aws_session_token = …, including URL query strings (X-Amz-Security-Token=…&).
    (re.compile(r"(?i)((?:aws[_-]?)?secret(?:[_-]?access)?(?:[_-]?key)?|(?:x-amz-)?(?:session|security)?[_-]?token)"
                r"(" + _Q + r"\s*[:=]\s*b?" + _Q + r")([^\s'\",;&})\]]+)"), r"\1\2" + MASK),
    (re.compile(r"(?i)(signature" + _Q + r"\s*[:=]\s*" + _Q + r")[0-9a-f]{64}"), r"\1" + MASK),
    (re.compile(r"(?i)(\bsignature:\s*\n)[0-9a-f]{64}"), r"\1" + MASK),  # botocore.auth's debug lines
    # Unlabelled: a session token (100+ base64 characters) or a secret key (exactly 40), mixed case so that
    # hex digests and long decimal numbers stay readable.
    (re.compile(r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{100,}={0,2}"),
     MASK),
    (re.compile(r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[A-Z])"
                r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"), MASK),
]

_known: tuple[str, ...] = ()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its URL-encoded form) in every log line from now on."""
    global _known
    if not value or len(value) < 8:  # too short to mask without mangling ordinary words
        return
    with _known_lock:
        forms = {value, quote(value, safe=""), repr(value)[1:-1]} - set(_known)
        if forms:
            _known = tuple(sorted({*_known, *forms}, key=len, reverse=True))  # longest first


def register_environment_secrets(environ: os._Environ[str] | dict[str, str] = os.environ) -> None:
    for var in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        register_secret(environ.get(var))


def redact(text: str) -> str:
    for secret in _known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Masks the whole formatted line (message, exception, stack) of any inner formatter."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def mask_handler(handler: logging.Handler) -> logging.Handler:
    """Make ``handler`` mask secrets (idempotent)."""
    if not isinstance(handler.formatter, RedactingFormatter):
        handler.setFormatter(RedactingFormatter(handler.formatter))
    return handler


def setup_logging(verbosity: int = 0) -> None:
    """The CLI's logging: warnings by default, ``-v`` info, ``-vv`` debug (botocore's too), all masked.

    Normal output is for people (``kvs-studio: message``); with -v lines carry time, level and logger."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s" if verbosity
                                               else "kvs-studio: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    protect_process()


def protect_process() -> None:
    """Mask every handler the root has now, secrets from the environment, and crash output."""
    register_environment_secrets()
    for handler in logging.getLogger().handlers:
        mask_handler(handler)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(kind, exc, tb))))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread else "?"
    sys.stderr.write(f"Exception in thread {name}:\n" + redact(
        "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))))


class CallbackHandler(logging.Handler):
    """Sends each formatted, masked record to ``sink(levelno, line)`` (the window's log panel)."""

    def __init__(self, sink: Callable[[int, str], None]) -> None:
        super().__init__()
        self.sink = sink
        self.setFormatter(RedactingFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink(record.levelno, self.format(record))
        except Exception:
            self.handleError(record)
