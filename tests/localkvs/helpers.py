"""Helpers for PutMedia tests: sign and send with the independent test client."""

from __future__ import annotations

import time

from tests.conftest import REGION, signing_credentials
from tests.mediagen import chunks
from tests.putmedia_client import PutMediaClient, PutMediaResult, sign_put_media


def put_media(url: str, stream: str, body: bytes, *, relative: bool = True, start: float | None = None,
              chunk: int = 16000, pause: float = 0.0, expect_continue: bool = False,
              wait_for_persisted: int | None = None, cafile: str | None = None,
              extra_headers: dict[str, str] | None = None, read_timeout: float | None = None) -> PutMediaResult:
    start = time.time() if start is None and relative else start
    head = sign_put_media(url, stream, signing_credentials(), REGION, relative=relative, start_timestamp=start,
                          extra=extra_headers)
    return PutMediaClient(url, cafile=cafile).put(head, chunks(body, chunk), expect_continue=expect_continue,
                                                  chunk_pause=pause, wait_for_persisted=wait_for_persisted,
                                                  read_timeout=read_timeout)


def acks_by_timecode(result: PutMediaResult) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for rec in result.acks:
        out.setdefault(rec.ack["FragmentTimecode"], []).append(rec.ack["EventType"])
    return out
