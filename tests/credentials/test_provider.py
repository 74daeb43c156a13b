"""Saved credentials reach signing through botocore's chain only: real keyring, real local endpoint, real
SigV4 checked by the endpoint (which accepts exactly the keys, and session token, it was given)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import botocore.session
import pytest

from app.credentials.check import check_entry
from app.credentials.entry import Entry
from app.credentials.provider import KeyringProvider, install
from app.credentials.store import KeyringStore
from app.errors import CredentialsError, KvsStudioError
from app.kvs.control import KvsControl
from app.localkvs.auth import KeyPair
from app.localkvs.server import EndpointThread
from tests.conftest import REGION, TEST_KEYS

TOKEN = "FakeSessionTokenForTests/" + "t0K" * 40 + "=="
TOKEN_KEYS = KeyPair("ASIAKVSSTUDIOTOKEN01", "token/Secret+For0Tests1Only2Fake3Key4567", TOKEN)


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS_VIDEO"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


@pytest.fixture
def token_endpoint(tmp_path: Path) -> Iterator[EndpointThread]:
    from app.localkvs.server import EndpointConfig, LocalEndpoint

    ep = EndpointThread(LocalEndpoint(EndpointConfig(data_dir=tmp_path / "t", keys=TOKEN_KEYS, region=REGION,
                                                            creating_seconds=0))).start()
    yield ep
    ep.stop()


def test_a_saved_entry_comes_first_in_the_chain_and_signs(store: KeyringStore, endpoint: EndpointThread,
                                                          no_aws_config: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store.add("work", Entry.create(TEST_KEYS.access_key, TEST_KEYS.secret_key, region=REGION))
    # Other keys in the environment: the entry the user named wins over them.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTKEY01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "environment/Secret+Key0000000000000000000")
    control = KvsControl(endpoint_url=endpoint.url, keyring_entry="work")  # no region: the entry's
    assert control.region == REGION
    methods = [p.METHOD for p in control.session.get_component("credential_provider").providers]
    assert methods.index("kvs-studio-keyring") < methods.index("env")
    assert control.session.get_credentials().method == "kvs-studio-keyring"
    assert control.credentials().access_key == TEST_KEYS.access_key  # what the PutMedia signer gets
    assert control.list_streams() == []  # the endpoint checked the signature


def test_the_session_token_is_signed_and_sent(store: KeyringStore, token_endpoint: EndpointThread,
                                              no_aws_config: None) -> None:
    store.add("temp", Entry.create(TOKEN_KEYS.access_key, TOKEN_KEYS.secret_key, TOKEN, REGION))
    store.add("no-token", Entry.create(TOKEN_KEYS.access_key, TOKEN_KEYS.secret_key, None, REGION))
    KvsControl(endpoint_url=token_endpoint.url, keyring_entry="temp").create("cam")
    assert KvsControl(endpoint_url=token_endpoint.url, keyring_entry="temp").describe("cam").status == "ACTIVE"
    with pytest.raises(CredentialsError, match="refused the credentials"):
        KvsControl(endpoint_url=token_endpoint.url, keyring_entry="no-token").describe("cam")


def test_an_unknown_name_is_an_error_not_other_credentials(store: KeyringStore, endpoint: EndpointThread,
                                                           no_aws_config: None,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_KEYS.access_key)  # valid keys that must not be used instead
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_KEYS.secret_key)
    with pytest.raises(CredentialsError, match="No saved credentials named 'nope'"):
        KvsControl(region=REGION, endpoint_url=endpoint.url, keyring_entry="nope")
    with pytest.raises(CredentialsError, match="not both"):
        KvsControl(region=REGION, profile="dev", keyring_entry="nope")
    # Without an entry the chain is botocore's own: the environment.
    control = KvsControl(region=REGION, endpoint_url=endpoint.url)
    assert control.session.get_credentials().method == "env"
    assert control.list_streams() == []


def test_a_profile_session_takes_the_provider_first(tmp_path: Path, no_aws_config: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[profile dev]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    session = botocore.session.Session(profile="dev")  # botocore drops "env" from a profile's chain
    install(session, KeyringProvider.unsaved(Entry.create(TEST_KEYS.access_key, TEST_KEYS.secret_key)))
    creds = session.get_credentials()
    assert (creds.method, creds.access_key) == ("kvs-studio-keyring", TEST_KEYS.access_key)


def test_the_check_is_one_signed_call_that_accepts_or_refuses(endpoint: EndpointThread, no_aws_config: None) -> None:
    good = Entry.create(TEST_KEYS.access_key, TEST_KEYS.secret_key)
    assert check_entry(good, REGION, endpoint.url).region == REGION
    wrong_secret = Entry.create(TEST_KEYS.access_key, "wrong/Secret+Key000000000000000000000000")
    with pytest.raises(CredentialsError, match="refused these credentials in us-west-2"):
        check_entry(wrong_secret, REGION, endpoint.url)
    unknown_key = Entry.create("AKIAUNKNOWNUNKNOWN01", TEST_KEYS.secret_key)
    with pytest.raises(CredentialsError, match="UnrecognizedClientException"):
        check_entry(unknown_key, REGION, endpoint.url)
    with pytest.raises(KvsStudioError, match="Could not check") as refused:
        check_entry(good, REGION, "http://127.0.0.1:9")  # nothing listens: not a refusal of the keys
    assert not isinstance(refused.value, CredentialsError)
