"""The local endpoint inside the app: the offline default of a first run (no AWS account needed).

It runs on a free loopback port with a key pair made for this run only (kept in memory, handed to
the engine directly), stores streams in the per-user data dir under a disk cap (the oldest
fragments go first), and has a demo stream ready, ACTIVE at once; streams made later are CREATING
for a moment, as on the service.
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.localkvs.auth import KeyPair
from app.localkvs.control import create_stream
from app.localkvs.main import DEFAULT_CREATING_SECONDS, DEFAULT_MAX_DISK_MB, default_data_dir, generate_keys
from app.localkvs.server import EndpointConfig, EndpointThread, LocalEndpoint

DEMO_STREAM = "kvs-studio-demo"
REGION = "us-west-2"
log = logging.getLogger(__name__)


class EmbeddedEndpoint:
    def __init__(self, data_dir: Path | None = None, *, max_disk_mb: float = DEFAULT_MAX_DISK_MB,
                 creating_seconds: float = DEFAULT_CREATING_SECONDS) -> None:
        self.keys: KeyPair = generate_keys()
        self.data_dir = data_dir or default_data_dir()
        self.max_disk_mb = max_disk_mb
        self.creating_seconds = creating_seconds
        self.thread: EndpointThread | None = None

    @property
    def url(self) -> str:
        assert self.thread is not None
        return self.thread.url

    @property
    def endpoint(self) -> LocalEndpoint:
        assert self.thread is not None
        return self.thread.endpoint

    @property
    def storage_note(self) -> str:
        """Where the data lives and how much is kept, in words for the window."""
        return (f"The local endpoint keeps its streams in {self.data_dir}, at most {self.max_disk_mb:g} MB "
                "(the oldest fragments are deleted first).")

    def start(self) -> EmbeddedEndpoint:
        if self.thread is None:
            config = EndpointConfig(data_dir=self.data_dir, keys=self.keys, region=REGION,
                                    max_disk_mb=self.max_disk_mb, creating_seconds=self.creating_seconds)
            self.thread = EndpointThread(LocalEndpoint(config)).start()
            store = self.thread.endpoint.store
            if store.get_stream(name=DEMO_STREAM) is None:
                create_stream(store, REGION, {"StreamName": DEMO_STREAM, "DataRetentionInHours": 24,
                                              "MediaType": "video/h264"})  # ACTIVE at once: ready for Start
            log.info("%s", self.storage_note)
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()
            self.thread = None
