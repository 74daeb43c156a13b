"""Log lines about refused requests: who asked and why, never a signature, secret key or token."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("app.localkvs.server")
_CREDENTIAL_RE = re.compile(r"Credential=([A-Za-z0-9]{1,128})/")
_SIGNATURE_RE = re.compile(r"(Signature=|X-Amz-Signature=|Security-Token[=:]\s*)[^\s,&'\"]+", re.IGNORECASE)


def describe_caller(request: web.Request) -> str:
    """`` (stream s, key AKID…, from 127.0.0.1)``: enough to tell which client and key were refused.

    The access key id names a key without giving it away (AWS prints it in its own errors); the
    Authorization header's signature and any session token are never logged.
    """
    parts = []
    stream = request.headers.get("x-amzn-stream-name")
    if stream:
        parts.append(f"stream {stream[:256]}")
    m = _CREDENTIAL_RE.search(request.headers.get("Authorization", ""))
    if m:
        parts.append(f"key {m.group(1)}")
    if request.remote:
        parts.append(f"from {request.remote}")
    return f" ({', '.join(parts)})" if parts else ""


def scrub(text: str) -> str:
    """Remove anything that looks like a signature or token from text that quotes a request."""
    return _SIGNATURE_RE.sub(r"\1***", text)


class ProtocolErrorLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger, except that a request it cannot parse (bad framing, oversized header,
    not HTTP at all) becomes one INFO line, as other refusals, instead of an ERROR traceback or a
    DEBUG line nobody sees. aiohttp logs those through ``exception()`` or ``debug()`` with exc_info."""

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        if not self._refused(exc_info, args):
            self.logger.error(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self._refused(kwargs.get("exc_info"), args):
            self.logger.debug(msg, *args, **kwargs)

    def _refused(self, exc_info: Any, args: tuple[Any, ...]) -> bool:
        exc = exc_info if isinstance(exc_info, BaseException) else (sys.exc_info()[1] if exc_info else None)
        if not isinstance(exc, HttpProcessingError):
            return False
        # aiohttp quotes the offending bytes (a header value, maybe a token): keep only its words.
        text = re.split(r"\s*(?::\s*)?(?:b'|b\"|bytearray\(|\n)", str(exc.message or ""), maxsplit=1)[0].strip()
        reason = scrub(text[:160]) or type(exc).__name__
        peer = f" from {args[0]}" if args else ""
        log.info("refused a malformed HTTP request%s: %d %s", peer, exc.code, reason)
        return True
