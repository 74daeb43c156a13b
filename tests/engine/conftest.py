from __future__ import annotations

import os

import pytest

from tests.conftest import TEST_KEYS


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local endpoint's test keys and nothing else of the machine's AWS setup."""
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_KEYS.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_KEYS.secret_key)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
