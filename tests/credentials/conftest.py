"""Fixtures of the credentials tests: the real Secret Service that scripts/test.sh starts (gnome-keyring in
a private D-Bus session), under a keyring service name of each test's own."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import keyring
import keyring.errors
import pytest

from app.credentials.store import SERVICE_ENV, KeyringStore


@pytest.fixture
def keyring_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A keyring service name for this test only (never the user's ``kvs-studio`` entries); emptied after."""
    service = f"kvs-studio-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(SERVICE_ENV, service)
    store = KeyringStore(service=service)
    backend = type(keyring.get_keyring()).__module__
    if backend != "keyring.backends.SecretService":
        pytest.fail(f"these tests need the Secret Service that ./scripts/test.sh starts (keyring picked {backend})")
    yield service
    for entry in store.list():
        store.remove(entry.name)
    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        keyring.get_keyring().delete_password(store.index_service, "entries")


@pytest.fixture
def store(keyring_service: str) -> KeyringStore:
    return KeyringStore(service=keyring_service)
