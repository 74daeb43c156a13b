"""Shared fixtures: a real local endpoint on a free port, botocore clients, generated media."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")

from collections.abc import Iterator
from pathlib import Path

import botocore.session
import pytest
from botocore.config import Config
from botocore.credentials import Credentials

from app.localkvs.auth import KeyPair
from app.localkvs.server import EndpointConfig, EndpointThread, LocalEndpoint

REGION = "us-west-2"
# Fake, test-only keys: the endpoint accepts exactly these.
TEST_KEYS = KeyPair("AKIDLOCALTESTKEY0001", "test-secret-not-a-real-key-0000000000000")
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def signing_credentials() -> Credentials:
    return Credentials(TEST_KEYS.access_key, TEST_KEYS.secret_key)


def make_endpoint(data_dir: Path, **kwargs: object) -> EndpointThread:
    """A running endpoint; streams are ACTIVE at once unless a test passes ``creating_seconds``."""
    kwargs.setdefault("creating_seconds", 0.0)
    config = EndpointConfig(data_dir=data_dir, keys=TEST_KEYS, region=REGION, **kwargs)  # type: ignore[arg-type]
    return EndpointThread(LocalEndpoint(config)).start()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "kvs-data"


@pytest.fixture
def endpoint(data_dir: Path) -> Iterator[EndpointThread]:
    ep = make_endpoint(data_dir)
    yield ep
    ep.stop()


def client(service: str, url: str, *, keys: KeyPair = TEST_KEYS, region: str = REGION,  # type: ignore[no-untyped-def]
           verify: str | None = None):
    session = botocore.session.Session()
    return session.create_client(
        service, region_name=region, endpoint_url=url, verify=verify, aws_access_key_id=keys.access_key,
        aws_secret_access_key=keys.secret_key,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30))


@pytest.fixture
def kv(endpoint: EndpointThread):  # type: ignore[no-untyped-def]
    return client("kinesisvideo", endpoint.url)


@pytest.fixture
def java_fixture() -> bytes:
    path = FIXTURES / "java-sdk-clusters.mkv"
    if not path.exists():
        pytest.skip(f"shared fixture missing: {path}")
    return path.read_bytes()
