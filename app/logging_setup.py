"""Logging for every front end: a filter that masks secrets, and a handler that feeds a callback
(the window's log panel) with formatted lines."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

# AWS secret keys are 40 base64 characters; access keys start AKIA/ASIA; session tokens are long base64;
# SigV4 signatures are 64 hex characters.
_PATTERNS = [
    (re.compile(r"(?i)(aws_secret_access_key|secret[_ ]?key|secret)(\W{1,3})([A-Za-z0-9/+=]{16,})"), r"\1\2***"),
    (re.compile(r"(?i)(x-amz-security-token|session[_ ]?token)(\W{1,3})([A-Za-z0-9/+=]{16,})"), r"\1\2***"),
    (re.compile(r"Signature=[0-9a-f]{64}"), "Signature=***"),
    (re.compile(r"\b(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"), "***"),
]


def redact(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class CallbackHandler(logging.Handler):
    """Sends each formatted, redacted record to ``sink(levelno, line)``."""

    def __init__(self, sink: Callable[[int, str], None]) -> None:
        super().__init__()
        self.sink = sink
        self.addFilter(RedactingFilter())
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink(record.levelno, redact(self.format(record)))
        except Exception:
            self.handleError(record)
