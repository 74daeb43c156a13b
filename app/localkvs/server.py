"""The local endpoint's HTTP server (aiohttp): routing, SigV4 checks, error shapes, in-process runner.

Every request is verified with SigV4 against the endpoint's key pair before anything else; for
PutMedia this happens before ``100 Continue`` or the 200, so no media is taken from a request that
is refused. Every refusal leaves one log line (status, error type, message, who asked; never a
signature, secret or token), so a user can see why their client fails. The same server answers the
control plane, PutMedia and archived media, and GetDataEndpoint returns its own URL for every API
name: the scheme, host and port it listens on (see ``data_endpoint_url``), never one built from the
request's Host header, which the official C producer sends without the port. Disk work (SQLite,
fragment files) runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from app.localkvs import archive, control
from app.localkvs.auth import AuthFailure, KeyPair, verify
from app.localkvs.errors import ServiceError, error_response, invalid
from app.localkvs.faults import REFUSALS, FaultBook, FaultPlan
from app.localkvs.logs import ProtocolErrorLog, describe_caller
from app.localkvs.putmedia import PutMediaSession, SessionLimits, swallow
from app.localkvs.store import Store

log = logging.getLogger(__name__)
ADMITTED = web.RequestKey("admitted", dict)

MAX_JSON_BODY = 1024 * 1024  # bytes; control-plane bodies are tiny
START_TS_RE = re.compile(r"^\d{1,12}(\.\d{1,9})?$")
WILDCARD_HOSTS = {"", "0.0.0.0", "::"}
HOST_NAME_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})$")
Handler = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse | dict[str, Any]]]


@dataclass
class EndpointConfig:
    data_dir: Path
    keys: KeyPair
    host: str = "127.0.0.1"
    port: int = 0
    region: str = "us-west-2"
    faults: FaultPlan = field(default_factory=FaultPlan)
    ssl_context: ssl.SSLContext | None = None
    limits: SessionLimits = field(default_factory=SessionLimits)
    advertise_url: str | None = None  # GetDataEndpoint's answer when clients reach us through a proxy
    creating_seconds: float = 2.0  # how long a new stream stays CREATING (0: ACTIVE at once)
    max_disk_mb: float | None = None  # cap on stored fragment data; None: no cap (retention only)
    sweep_seconds: float = 60.0  # how often expired fragments are deleted


class LocalEndpoint:
    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        max_bytes = None if config.max_disk_mb is None else int(config.max_disk_mb * 1024 * 1024)
        self.store = Store(config.data_dir, max_bytes=max_bytes)
        self.faults = FaultBook(config.faults)
        self.port = config.port
        self.calls: Counter[tuple[str, int]] = Counter()  # (path, HTTP status) answered, for tests and logs
        self._runner: web.AppRunner | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.config.ssl_context else "http"

    @property
    def url(self) -> str:
        """Where a client on this machine reaches us (loopback when listening on every address)."""
        host = self.config.host
        if host in WILDCARD_HOSTS:
            host = "::1" if host == "::" else "127.0.0.1"
        return _join_url(self.scheme, host, self.port)

    def data_endpoint_url(self, host_header: str | None) -> str:
        """GetDataEndpoint's answer: ``--advertise-url`` if set, else our scheme, host and listening port.

        Listening on every address (0.0.0.0 or ::), the host is the name the client used to reach us
        (the Host header without any port, as a client that reached us by that name can use it
        again) with the port we listen on, or loopback when the header holds no usable name.
        """
        if self.config.advertise_url:
            return self.config.advertise_url.rstrip("/")
        host = self.config.host
        if host in WILDCARD_HOSTS:
            named = _host_name(host_header)
            host = named if named is not None else ("::1" if host == "::" else "127.0.0.1")
        return _join_url(self.scheme, host, self.port)

    def set_faults(self, stream: str, plan: FaultPlan) -> None:
        self.faults.set(stream, plan)

    async def start(self) -> None:
        app = web.Application(middlewares=[self._errors], client_max_size=MAX_JSON_BODY)
        json_routes: dict[str, Handler] = {
            "/createStream": self._create_stream,
            "/describeStream": self._simple(control.describe_stream),
            "/listStreams": self._simple(control.list_streams),
            "/deleteStream": self._simple(control.delete_stream),
            "/getDataEndpoint": self._get_data_endpoint,
            "/listFragments": self._simple(archive.list_fragments),
            "/getMediaForFragmentList": self._get_media_for_fragment_list,
            "/getClip": self._get_clip,
            "/_local/setFaults": self._set_faults,
        }
        for path, handler in json_routes.items():
            app.router.add_post(path, self._json_route(handler))
        app.router.add_route("POST", "/putMedia", self._put_media, expect_handler=self._put_media_expect)
        # Files a crash left behind and fragments past their retention go before anyone is served.
        await asyncio.to_thread(self.store.remove_orphans)
        await asyncio.to_thread(self.store.sweep)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0,
                                     logger=ProtocolErrorLog(logging.getLogger("aiohttp.server")))
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port,
                           ssl_context=self.config.ssl_context)
        await site.start()
        server = site._server
        assert server is not None
        assert server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.store.close()

    async def _sweep_forever(self) -> None:
        """Retention and the disk cap, applied periodically in a worker thread."""
        while True:
            await asyncio.sleep(self.config.sweep_seconds)
            try:
                gone = await asyncio.to_thread(self.store.sweep)
            except Exception:  # a disk error must not end the sweeping for good
                log.exception("local endpoint: the retention sweep failed")
                continue
            if gone:
                log.info("local endpoint: deleted %d fragment(s) past their retention or over the disk cap", gone)

    # -- plumbing --------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]) -> Any:
        try:
            resp = await handler(request)
        except (ServiceError, AuthFailure) as exc:
            return self._refuse(request, exc.status, exc.error_type, exc.message)
        except web.HTTPNotFound:
            return self._refuse(request, 404, "UnknownOperationException", f"Unknown operation {request.path}.")
        except web.HTTPMethodNotAllowed:
            return self._refuse(request, 405, "UnknownOperationException",
                                f"{request.method} is not allowed on {request.path}; use POST.")
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(request, 413, "SerializationException", "The request body is too large.")
        except web.HTTPException:
            raise
        except Exception:
            log.exception("local endpoint: unexpected error on %s", request.path)
            self.calls[(request.path, 500)] += 1
            return error_response(500, "InternalFailure", "The server encountered an internal error.")
        held = request.get(ADMITTED, {}).get("hold")
        self.calls[(request.path, 0 if held else resp.status)] += 1  # 0: no answer was ever sent
        return resp

    def _refuse(self, request: web.Request, status: int, error_type: str, message: str) -> web.Response:
        """The service's error answer, and its one log line: WARNING for auth, INFO for other refusals."""
        self.calls[(request.path, status)] += 1
        level = logging.WARNING if status in (401, 403) or error_type.startswith("IncompleteSignature") \
            else logging.INFO
        log.log(level, "refused %s %s%s: %d %s: %s", request.method, request.path, describe_caller(request),
                status, error_type, message)
        return error_response(status, error_type, message)

    def _verify(self, request: web.Request, body: bytes | None) -> None:
        path, _, query = request.raw_path.partition("?")
        verify(method=request.method, path=path, query=query, headers=request.headers, body=body,
               keys=self.config.keys, region=self.config.region, now=dt.datetime.now(dt.UTC))

    def _json_route(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def route(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            self._verify(request, body)
            try:
                obj = json.loads(body or b"{}")
            except ValueError:
                raise ServiceError(400, "SerializationException", "The request body is not valid JSON.") from None
            if not isinstance(obj, dict):
                raise ServiceError(400, "SerializationException", "The request body must be a JSON object.")
            result = await handler(request, obj)
            return result if isinstance(result, web.StreamResponse) else web.json_response(result)

        return route

    def _simple(self, fn: Callable[[Store, dict[str, Any]], dict[str, Any]]) -> Handler:
        async def handler(_request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
            return await asyncio.to_thread(fn, self.store, body)

        return handler

    # -- operations --------------------------------------------------------------------------

    async def _create_stream(self, _request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(control.create_stream, self.store, self.config.region, body,
                                       self.config.creating_seconds)

    async def _get_data_endpoint(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        url = self.data_endpoint_url(request.headers.get("Host"))
        return await asyncio.to_thread(control.get_data_endpoint, self.store, body, url)

    async def _get_media_for_fragment_list(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        frags = await asyncio.to_thread(archive.fragments_for_list, self.store, body)
        resp = web.StreamResponse(headers={"Content-Type": "video/webm"})
        await resp.prepare(request)
        for frag in frags:
            doc = await asyncio.to_thread(archive.fragment_document, self.store, frag)
            if doc:
                await resp.write(doc)
            else:
                log.info("getMediaForFragmentList: fragment %s was deleted (retention) while it was read", frag.number)
        await resp.write_eof()
        return resp

    async def _get_clip(self, _request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        frags = await asyncio.to_thread(archive.clip_fragments, self.store, body)
        data = await asyncio.to_thread(archive.build_clip, self.store, frags)
        return web.Response(body=data, content_type="video/mp4")

    async def _set_faults(self, _request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        name = control.check_name(body.get("StreamName"))
        try:
            plan = FaultPlan.from_json(body.get("Faults") or {})
        except (ValueError, TypeError) as exc:
            raise invalid(str(exc)) from None
        self.set_faults(name, plan)
        return {}

    # -- PutMedia ----------------------------------------------------------------------------

    async def _admit(self, request: web.Request) -> dict[str, Any]:
        """Check a PutMedia request head once (auth first); cache the outcome on the request."""
        if ADMITTED in request:
            return request[ADMITTED]  # type: ignore[no-any-return]
        self._verify(request, None)
        h = request.headers
        name, arn = h.get("x-amzn-stream-name"), h.get("x-amzn-stream-arn")
        fields: dict[str, Any] = {}
        if name is not None:
            fields["StreamName"] = name
        if arn is not None:
            fields["StreamARN"] = arn
        stream = await asyncio.to_thread(
            lambda: control.require_active(control.resolve_stream(self.store, fields)))
        tc_type = h.get("x-amzn-fragment-timecode-type")
        if tc_type not in ("ABSOLUTE", "RELATIVE"):
            raise invalid("x-amzn-fragment-timecode-type must be ABSOLUTE or RELATIVE.")
        start = h.get("x-amzn-producer-start-timestamp")
        if start is None:
            if tc_type == "RELATIVE":
                raise invalid("x-amzn-producer-start-timestamp is required with RELATIVE timecodes.")
            start_ms = int(time.time() * 1000)
        elif START_TS_RE.match(start.strip()):
            start_ms = round(float(start) * 1000)
        else:
            raise invalid("x-amzn-producer-start-timestamp must be seconds since the epoch, e.g. 1554245523.434.")
        faults = self.faults.for_stream(stream.name)
        refusal = faults.take_refusal()
        if refusal is not None:
            raise ServiceError(refusal, *REFUSALS[refusal])
        request[ADMITTED] = {"stream": stream, "relative": tc_type == "RELATIVE", "start_ms": start_ms,
                             "faults": faults, "hold": faults.take_hold()}
        return request[ADMITTED]  # type: ignore[no-any-return]

    async def _put_media_expect(self, request: web.Request) -> web.StreamResponse | None:
        try:
            admitted = await self._admit(request)
        except (ServiceError, AuthFailure) as exc:  # outside the middleware: answer (and log) here
            return self._refuse(request, exc.status, exc.error_type, exc.message)
        if admitted["hold"]:
            return None  # a swallowing proxy does not say 100 Continue either
        if request.version >= (1, 1) and request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # as aiohttp's default handler: the body has not started
        return None

    async def _put_media(self, request: web.Request) -> web.StreamResponse:
        admitted = await self._admit(request)
        if admitted["hold"]:
            log.info("putMedia %s: fault switch hold_response: reading the body, never answering",
                     admitted["stream"].name)
            return await swallow(request, self.config.limits.idle_timeout)
        session = PutMediaSession(request, self.store, admitted["stream"], relative=admitted["relative"],
                                  start_ms=admitted["start_ms"], faults=admitted["faults"],
                                  limits=self.config.limits)
        return await session.run()


def _join_url(scheme: str, host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{scheme}://{host}:{port}"


def _host_name(host_header: str | None) -> str | None:
    """The host name of a Host header without its port (``[::1]:80`` -> ``[::1]``), if it looks like one."""
    if not host_header:
        return None
    value = host_header.strip()
    if value.startswith("["):  # an IPv6 literal, maybe with a port
        name = value[: value.find("]") + 1]
    else:
        name = value.split(":", 1)[0] if value.count(":") <= 1 else ""
    return name if HOST_NAME_RE.match(name) else None


class EndpointThread:
    """Runs a LocalEndpoint on its own event loop thread: the app's offline default, and tests."""

    def __init__(self, endpoint: LocalEndpoint) -> None:
        self.endpoint = endpoint
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="local-kvs-endpoint", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return self.endpoint.url

    def start(self, timeout: float = 15.0) -> EndpointThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the local endpoint did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        fut = asyncio.run_coroutine_threadsafe(self.endpoint.stop(), self._loop)
        try:
            fut.result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> EndpointThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.endpoint.start())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        # Connections still open (a stalled client, say) are cancelled rather than left to warn.
        pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()
