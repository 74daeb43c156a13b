"""A botocore credential provider for a saved entry, so keyring credentials reach signing only through
botocore's chain: every client, the PutMedia signer (``KvsControl.credentials()``), session tokens and the
other providers (environment, profiles, SSO) keep working unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import botocore.session
from botocore.credentials import CredentialProvider, Credentials
from botocore.exceptions import UnknownCredentialError

from app.credentials.entry import Entry
from app.credentials.store import KeyringStore
from app.logging_setup import register_secret


class KeyringProvider(CredentialProvider):
    METHOD = "kvs-studio-keyring"
    CANONICAL_NAME = "custom-kvs-studio-keyring"  # botocore asks custom providers to prefix "custom"

    def __init__(self, name: str, load: Callable[[], Entry]) -> None:
        super().__init__()
        self.name = name
        self._load = load
        self._entry: Entry | None = None

    @classmethod
    def saved(cls, name: str, store: KeyringStore | None = None) -> KeyringProvider:
        """The entry saved under ``name``; read from the keyring when botocore first asks."""
        keyring = store or KeyringStore()
        return cls(name, lambda: keyring.get(name))

    @classmethod
    def unsaved(cls, entry: Entry) -> KeyringProvider:
        """An entry not saved yet (the dialog checks it before saving)."""
        return cls("(unsaved)", lambda: entry)

    def entry(self) -> Entry:
        """The entry, read once. Raises UnknownEntry or KeyringUnavailable (CredentialsErrors): a name the
        user asked for that cannot be read is an error, never a silent fall-through to other credentials."""
        if self._entry is None:
            entry = self._load()
            for secret in (entry.secret_access_key, entry.session_token):
                register_secret(secret)  # masked in every log line from now on
            self._entry = entry
        return self._entry

    def load(self) -> Credentials:
        e = self.entry()
        return Credentials(e.access_key_id, e.secret_access_key, e.session_token, method=self.METHOD)

    def __repr__(self) -> str:
        return f"KeyringProvider({self.name!r})"


def install(session: botocore.session.Session, provider: CredentialProvider) -> None:
    """Put ``provider`` first in the session's chain, before the environment (STYLE.md, botocore)."""
    resolver = session.get_component("credential_provider")
    try:
        resolver.insert_before("env", provider)
    except UnknownCredentialError:  # a session made with a profile has no "env" provider
        resolver.providers.insert(0, provider)
