"""Blocking calls (botocore, disk) from the uploader's event loop, on daemon threads.

``asyncio.to_thread`` uses the loop's executor, whose threads are not daemons: the interpreter waits for
them at exit, so a slow GetDataEndpoint (botocore retries for up to a minute) would hold a forced quit
open. A daemon thread per call is cheap at our rate (a few calls per connection) and never does."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: object) -> T:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: object, failed: bool) -> None:
        if not future.done():
            if failed:
                future.set_exception(value)  # type: ignore[arg-type]
            else:
                future.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            value, failed = fn(*args), False
        except BaseException as exc:
            value, failed = exc, True
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits for this any more
            loop.call_soon_threadsafe(settle, value, failed)

    threading.Thread(target=run, name=f"kvs-blocking-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return await future
