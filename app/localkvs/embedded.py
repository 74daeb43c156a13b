"""The local endpoint inside the app: the offline default of a first run (no AWS account needed).

It runs on a free loopback port with a key pair made for this run only (kept in memory, handed to
the engine directly), stores streams in the per-user data dir, and has a demo stream ready.
"""

from __future__ import annotations

from pathlib import Path

from app.localkvs.auth import KeyPair
from app.localkvs.control import create_stream
from app.localkvs.main import default_data_dir, generate_keys
from app.localkvs.server import EndpointConfig, EndpointThread, LocalEndpoint

DEMO_STREAM = "kvs-studio-demo"
REGION = "us-west-2"


class EmbeddedEndpoint:
    def __init__(self, data_dir: Path | None = None) -> None:
        self.keys: KeyPair = generate_keys()
        self.data_dir = data_dir or default_data_dir()
        self.thread: EndpointThread | None = None

    @property
    def url(self) -> str:
        assert self.thread is not None
        return self.thread.url

    @property
    def endpoint(self) -> LocalEndpoint:
        assert self.thread is not None
        return self.thread.endpoint

    def start(self) -> EmbeddedEndpoint:
        if self.thread is None:
            config = EndpointConfig(data_dir=self.data_dir, keys=self.keys, region=REGION)
            self.thread = EndpointThread(LocalEndpoint(config)).start()
            store = self.thread.endpoint.store
            if store.get_stream(name=DEMO_STREAM) is None:
                create_stream(store, REGION, {"StreamName": DEMO_STREAM, "DataRetentionInHours": 24,
                                              "MediaType": "video/h264"})
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()
            self.thread = None
